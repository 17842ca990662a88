-- return.acceptance_missing: a return order (partition of its first picked_up event) with no proof of
-- the acceptance kind (photo, CONTRACT §3) captured within the window of that first picked_up event,
-- before or after it, bounds included. Any photo proof counts here; its blob is judged by proof.invalid.
WITH first_pickup AS (
    SELECT order_id, min(occurred_at) AS picked_up_at FROM events
    WHERE status = 'picked_up' AND order_id IN (
        SELECT DISTINCT order_id FROM events WHERE status = 'picked_up' AND partition_date BETWEEN $start AND $end)
    GROUP BY order_id
), due AS (
    SELECT f.order_id, f.picked_up_at, f.picked_up_at::DATE AS partition_date
    FROM first_pickup AS f
    JOIN orders AS o USING (order_id)
    WHERE o.order_type = $return_type AND f.picked_up_at::DATE BETWEEN $start AND $end
), nearest AS (
    SELECT d.order_id, d.picked_up_at, d.partition_date,
        min(abs(epoch_us(p.captured_at) - epoch_us(d.picked_up_at))) AS gap_us,
        arg_min(p.proof_id, abs(epoch_us(p.captured_at) - epoch_us(d.picked_up_at))) AS nearest_proof_id,
        count(p.proof_id) AS photos
    FROM due AS d
    LEFT JOIN proofs AS p ON p.order_id = d.order_id AND p.kind = $kind
    GROUP BY d.order_id, d.picked_up_at, d.partition_date
)
SELECT order_id AS entity_id, order_id, partition_date, coalesce(gap_us > $window_us, TRUE) AS failed,
    struct_pack(picked_up_at := picked_up_at, photos := photos, nearest_photo_id := nearest_proof_id, nearest_photo_gap_s := gap_us / 1e6) AS observed
FROM nearest
