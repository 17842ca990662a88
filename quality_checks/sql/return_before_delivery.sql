-- return.before_delivery: a return order (partition of created_at) whose original order has no delivered
-- event occurred at or before the return's created_at; also when the original is not in orders or is
-- itself a return_pickup.
WITH r AS (
    SELECT order_id, original_order_id, created_at, partition_date FROM orders
    WHERE partition_date BETWEEN $start AND $end AND order_type = $return_type
), delivered AS (
    SELECT order_id, min(occurred_at) AS first_delivered_at FROM events
    WHERE status = 'delivered' AND order_id IN (SELECT original_order_id FROM r)
    GROUP BY order_id
)
SELECT r.order_id AS entity_id, r.order_id, r.partition_date,
    NOT coalesce(o.order_type = $delivery AND d.first_delivered_at <= r.created_at, FALSE) AS failed,
    struct_pack(created_at := r.created_at, original_order_id := r.original_order_id, original_order_type := o.order_type, original_first_delivered_at := d.first_delivered_at) AS observed
FROM r
LEFT JOIN orders AS o ON o.order_id = r.original_order_id
LEFT JOIN delivered AS d ON d.order_id = r.original_order_id
