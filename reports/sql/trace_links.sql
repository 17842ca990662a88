-- Orders linked to $order_id by a return pickup (CONTRACT §9): the order it returns (when it is a return)
-- and every return naming it as original, each with the current revision's facts and its key events.
-- relation: 'original' (this order returns it) | 'return' (it returns this order).
WITH cur AS (
    SELECT * EXCLUDE (rn) FROM (
        SELECT order_id, order_type, original_order_id, created_at, zone_id,
            row_number() OVER (PARTITION BY order_id ORDER BY revision DESC) AS rn
        FROM order_revisions
        WHERE order_id = $order_id
           OR order_id IN (SELECT original_order_id FROM order_revisions WHERE order_id = $order_id)
           OR original_order_id = $order_id
    ) WHERE rn = 1
), linked AS (
    SELECT 'original' AS relation, me.original_order_id AS order_id
    FROM cur AS me WHERE me.order_id = $order_id AND me.order_type = $return_type
    UNION ALL
    SELECT 'return', r.order_id FROM cur AS r
    WHERE r.original_order_id = $order_id AND r.order_type = $return_type AND r.order_id <> $order_id
), ev AS (
    SELECT order_id,
        min(occurred_at) FILTER (WHERE status = 'delivered') AS first_delivered_at,
        min(occurred_at) FILTER (WHERE status = 'picked_up') AS first_picked_up_at,
        min(occurred_at) FILTER (WHERE status = 'return_received') AS first_return_received_at,
        arg_min(status, (occurred_at, event_id)) FILTER (WHERE list_contains($terminal, status)) AS first_terminal
    FROM intake_events
    WHERE order_id IN (SELECT order_id FROM linked)
    GROUP BY order_id
)
SELECT l.relation, l.order_id, c.order_id IS NOT NULL AS known, c.order_type, c.created_at, c.zone_id,
    e.first_delivered_at, e.first_picked_up_at, e.first_return_received_at, e.first_terminal
FROM linked AS l
LEFT JOIN cur AS c USING (order_id)
LEFT JOIN ev AS e USING (order_id)
ORDER BY l.relation, c.created_at, l.order_id;
