-- exception.unresolved: an order whose first delivery_attempted/exception event is at least N days
-- before as_of and that has no terminal event later than it and at most N days after it.
WITH first_failure AS (
    SELECT order_id, min(occurred_at) AS failed_at FROM events
    WHERE status IN ('delivery_attempted', 'exception') AND occurred_at <= $as_of
    GROUP BY order_id
), due AS (
    SELECT * FROM first_failure WHERE failed_at <= $as_of - to_hours($days * 24)
), resolved AS (
    SELECT d.order_id, min(e.occurred_at) AS terminal_at
    FROM due AS d
    JOIN events AS e ON e.order_id = d.order_id
    WHERE list_contains($terminal, e.status) AND e.occurred_at > d.failed_at
      AND e.occurred_at <= d.failed_at + to_hours($days * 24)
    GROUP BY d.order_id
)
SELECT d.order_id AS entity_id, d.order_id, $as_of::DATE AS partition_date,
    r.order_id IS NULL AS failed,
    struct_pack(first_failure_at := d.failed_at, terminal_within_window_at := r.terminal_at) AS observed
FROM due AS d
LEFT JOIN resolved AS r USING (order_id)
