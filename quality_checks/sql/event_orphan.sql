-- event.orphan: the event's order_id is not in orders.
SELECT e.event_id AS entity_id, e.order_id, e.partition_date,
    o.order_id IS NULL AS failed,
    struct_pack(order_id := e.order_id, status := e.status) AS observed
FROM events AS e
LEFT JOIN (SELECT DISTINCT order_id FROM orders) AS o ON o.order_id = e.order_id
WHERE e.partition_date BETWEEN $start AND $end
