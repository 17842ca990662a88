-- message.premature: the message's template tells of status S (not null) and the order had no event of
-- status S occurred at or before sent_at; or S is 'delivered' and a proof kind CONTRACT §3 requires for the
-- order had no loaded proof (valid or not) recorded at or before sent_at (a return pickup: the photo of §3).
WITH m AS (
    SELECT m.message_id, m.order_id, m.sent_at, m.partition_date, t.status
    FROM messages AS m
    JOIN templates AS t ON t.template_id = m.template_id AND t.version = m.template_version
    WHERE m.partition_date BETWEEN $start AND $end AND t.status IS NOT NULL
), firsts AS (
    -- the status happened by sent_at when its first occurrence did
    SELECT order_id, status, min(occurred_at) AS first_at FROM events
    WHERE status IN (SELECT status FROM templates)
    GROUP BY order_id, status
), judged AS (
    SELECT m.*, CASE WHEN f.first_at <= m.sent_at THEN f.first_at END AS first_at
    FROM m LEFT JOIN firsts AS f ON f.order_id = m.order_id AND f.status = m.status
), required AS (
    -- CONTRACT §3: the table by service_type applies to delivery orders only; a return pickup (any
    -- service_type) requires the photo of the accepted parcel
    SELECT m.message_id, m.order_id, m.sent_at,
        unnest(CASE WHEN o.order_type = $return_type THEN [$acceptance_kind] ELSE r.kinds END) AS kind
    FROM m
    JOIN orders AS o ON o.order_id = m.order_id
    LEFT JOIN (SELECT unnest($required, recursive := true)) AS r ON r.service_type = o.service_type
    WHERE m.status = 'delivered'
), unproven AS (
    SELECT q.message_id, list(q.kind ORDER BY q.kind) AS kinds
    FROM required AS q
    WHERE NOT EXISTS (
        SELECT 1 FROM proofs AS p WHERE p.order_id = q.order_id AND p.kind = q.kind AND p.recorded_at <= q.sent_at)
    GROUP BY q.message_id
)
SELECT j.message_id AS entity_id, j.order_id, j.partition_date,
    j.first_at IS NULL OR u.message_id IS NOT NULL AS failed,
    struct_pack(template_status := j.status, sent_at := j.sent_at, status_first_occurred_at := j.first_at,
        proofs_not_yet_recorded := u.kinds) AS observed
FROM judged AS j
LEFT JOIN unproven AS u USING (message_id)
