-- A sample order for the demo's trace: a failed attempt, a re-attempt, and delivery (the first such order).
SELECT o.order_id
FROM orders AS o
WHERE EXISTS (SELECT 1 FROM events AS a WHERE a.order_id = o.order_id AND a.status = 'delivery_attempted')
  AND EXISTS (SELECT 1 FROM events AS d WHERE d.order_id = o.order_id AND d.status = 'delivered')
ORDER BY o.order_id
LIMIT 1;
