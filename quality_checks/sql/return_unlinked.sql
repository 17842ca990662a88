-- return.unlinked: a return order (partition of created_at) whose original_order_id is not in orders,
-- or names a return_pickup order (itself included).
SELECT r.order_id AS entity_id, r.order_id, r.partition_date,
    o.order_id IS NULL OR o.order_type = $return_type AS failed,
    struct_pack(original_order_id := r.original_order_id, original_found := o.order_id IS NOT NULL, original_order_type := o.order_type) AS observed
FROM orders AS r
LEFT JOIN orders AS o ON o.order_id = r.original_order_id
WHERE r.partition_date BETWEEN $start AND $end AND r.order_type = $return_type
