-- exception.unresolved: an order whose first delivery_attempted/exception event is at least N days
-- before as_of and that has no terminal event later than it and at most N days after it. N days are
-- calendar days in the network timezone ($tz), wall-clock time kept across a DST change.
WITH first_failure AS (
    SELECT order_id, min(occurred_at) AS failed_at FROM events
    WHERE list_contains($failure, status) AND occurred_at <= $as_of
    GROUP BY order_id
), due AS (
    SELECT * FROM first_failure WHERE failed_at <= plus_days($as_of, -$days, $tz)
), resolved AS (
    SELECT d.order_id, min(e.occurred_at) AS terminal_at
    FROM due AS d
    JOIN events AS e ON e.order_id = d.order_id
    WHERE list_contains($terminal, e.status) AND e.occurred_at > d.failed_at
      AND e.occurred_at <= plus_days(d.failed_at, $days, $tz)
    GROUP BY d.order_id
)
SELECT d.order_id AS entity_id, d.order_id, $as_of::DATE AS partition_date,
    r.order_id IS NULL AS failed,
    struct_pack(first_failure_at := d.failed_at, terminal_within_window_at := r.terminal_at) AS observed
FROM due AS d
LEFT JOIN resolved AS r USING (order_id)
