-- event.sequence_gap: an attempt-status event with no out_for_delivery of the same order at or before it
-- and after the order's previous attempt-status event (if any). Reads the partition's attempts plus the
-- history of those orders only.
WITH att_all AS (
    SELECT event_id, order_id, occurred_at, partition_date,
        lag(occurred_at) OVER (PARTITION BY order_id ORDER BY occurred_at, event_id) AS previous_attempt_at
    FROM events
    WHERE list_contains($attempt, status)
      AND order_id IN (
          SELECT DISTINCT order_id FROM events
          WHERE partition_date BETWEEN $start AND $end AND list_contains($attempt, status))
), att AS (
    SELECT * FROM att_all WHERE partition_date BETWEEN $start AND $end
), ofd AS (
    SELECT order_id, occurred_at AS ofd_at FROM events
    WHERE status = 'out_for_delivery' AND order_id IN (SELECT DISTINCT order_id FROM att)
)
SELECT a.event_id AS entity_id, a.order_id, a.partition_date,
    (o.ofd_at IS NULL OR (a.previous_attempt_at IS NOT NULL AND o.ofd_at <= a.previous_attempt_at)) AS failed,
    struct_pack(occurred_at := a.occurred_at, previous_attempt_at := a.previous_attempt_at, latest_out_for_delivery_at := o.ofd_at) AS observed
FROM att AS a
ASOF LEFT JOIN ofd AS o ON a.order_id = o.order_id AND a.occurred_at >= o.ofd_at
