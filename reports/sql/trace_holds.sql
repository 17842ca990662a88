-- Legal holds on the order, active or released.
SELECT hold_id, reason, placed_by, placed_at, released_by, released_at
FROM legal_holds
WHERE order_id = $order_id
ORDER BY placed_at, hold_id;
