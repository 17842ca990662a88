-- proof.missing: a delivery order (partition of its first delivered event) lacks a proof of a kind its service
-- type requires (CONTRACT §3) captured within the window of that first delivered event (either side).
WITH first_delivered AS (
    SELECT order_id, min(occurred_at) AS delivered_at FROM events
    WHERE status = 'delivered' AND order_id IN (
        SELECT DISTINCT order_id FROM events WHERE status = 'delivered' AND partition_date BETWEEN $start AND $end)
    GROUP BY order_id
), due AS (
    SELECT f.order_id, f.delivered_at, f.delivered_at::DATE AS partition_date, o.service_type,
        unnest(r.kinds) AS kind
    FROM first_delivered AS f
    JOIN orders AS o USING (order_id)
    JOIN (SELECT unnest($required, recursive := true)) AS r ON r.service_type = o.service_type
    WHERE f.delivered_at::DATE BETWEEN $start AND $end AND o.order_type = $delivery
), checked AS (
    SELECT d.*, EXISTS (
        SELECT 1 FROM proofs AS p
        WHERE p.order_id = d.order_id AND p.kind = d.kind
          AND abs(epoch_us(p.captured_at) - epoch_us(d.delivered_at)) <= $window_us
    ) AS present
    FROM due AS d
)
SELECT order_id AS entity_id, order_id, partition_date,
    NOT bool_and(present) AS failed,
    struct_pack(service_type := any_value(service_type), delivered_at := any_value(delivered_at), missing_kinds := list(kind ORDER BY kind) FILTER (WHERE NOT present)) AS observed
FROM checked
GROUP BY order_id, partition_date
