-- return.conflicting_update: an event of a return's original order with status out_for_delivery,
-- delivery_attempted or delivered that occurred after the return's first picked_up event (with several
-- returns of one original: after the earliest first pickup among them). Evaluated: every event of those
-- statuses of an order that some return order names as its original.
WITH originals AS (
    SELECT DISTINCT original_order_id AS order_id FROM orders WHERE order_type = $return_type
), pickups AS (
    SELECT r.original_order_id AS order_id, min(e.occurred_at) AS picked_up_at,
        arg_min(r.order_id, (e.occurred_at, r.order_id)) AS return_order_id
    FROM orders AS r
    JOIN events AS e ON e.order_id = r.order_id AND e.status = 'picked_up'
    WHERE r.order_type = $return_type
    GROUP BY r.original_order_id
)
SELECT e.event_id AS entity_id, e.order_id, e.partition_date,
    coalesce(e.occurred_at > p.picked_up_at, FALSE) AS failed,
    struct_pack(status := e.status, occurred_at := e.occurred_at, return_order_id := p.return_order_id, return_picked_up_at := p.picked_up_at) AS observed
FROM events AS e
JOIN originals USING (order_id)
LEFT JOIN pickups AS p USING (order_id)
WHERE e.partition_date BETWEEN $start AND $end AND list_contains($conflicting, e.status)
