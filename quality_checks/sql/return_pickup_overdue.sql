-- return.pickup_overdue: a return order created at least N days before as_of (N calendar days in the
-- network timezone $tz; created_at <= as_of - N days) with no picked_up, cancelled or return_received
-- event occurred at or before as_of. Evaluated: every return order created at least N days before as_of.
WITH due AS (
    SELECT order_id, created_at FROM orders
    WHERE order_type = $return_type AND created_at <= plus_days($as_of, -$days, $tz)
), settled AS (
    SELECT e.order_id, min(e.occurred_at) AS settled_at, arg_min(e.status, (e.occurred_at, e.event_id)) AS status
    FROM events AS e
    WHERE list_contains($settled, e.status) AND e.occurred_at <= $as_of
      AND e.order_id IN (SELECT order_id FROM due)
    GROUP BY e.order_id
)
SELECT d.order_id AS entity_id, d.order_id, $as_of::DATE AS partition_date,
    s.order_id IS NULL AS failed,
    struct_pack(created_at := d.created_at, waiting_h := round((epoch_us($as_of) - epoch_us(d.created_at)) / 3.6e9, 2), settled_at := s.settled_at, settled_by := s.status) AS observed
FROM due AS d
LEFT JOIN settled AS s USING (order_id)
