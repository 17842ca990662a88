-- event.after_terminal: the event occurred after the order's first terminal event.
WITH e AS (
    SELECT event_id, order_id, status, occurred_at, partition_date FROM events
    WHERE partition_date BETWEEN $start AND $end
), t AS (
    SELECT order_id, min(occurred_at) AS first_terminal_at FROM events
    WHERE list_contains($terminal, status) AND order_id IN (SELECT DISTINCT order_id FROM e)
    GROUP BY order_id
)
SELECT e.event_id AS entity_id, e.order_id, e.partition_date,
    coalesce(e.occurred_at > t.first_terminal_at, FALSE) AS failed,
    struct_pack(status := e.status, occurred_at := e.occurred_at, first_terminal_at := t.first_terminal_at)
        AS observed
FROM e
LEFT JOIN t USING (order_id)
