-- message.premature: the message's template tells of status S (not null) and the order had no event of
-- status S occurred at or before sent_at; or S is 'delivered' and a proof kind CONTRACT §3 requires for the
-- order had no loaded proof (valid or not) recorded at or before sent_at.
WITH m AS (
    SELECT m.message_id, m.order_id, m.sent_at, m.partition_date, t.status
    FROM messages AS m
    JOIN templates AS t ON t.template_id = m.template_id AND t.version = m.template_version
    WHERE m.partition_date BETWEEN $start AND $end AND t.status IS NOT NULL
), happened AS (
    SELECT m.message_id, min(e.occurred_at) AS first_at
    FROM m JOIN events AS e ON e.order_id = m.order_id AND e.status = m.status AND e.occurred_at <= m.sent_at
    GROUP BY m.message_id
), required AS (
    SELECT m.message_id, unnest(r.kinds) AS kind
    FROM m
    JOIN orders AS o ON o.order_id = m.order_id
    JOIN (SELECT unnest($required, recursive := true)) AS r ON r.service_type = o.service_type
    WHERE m.status = 'delivered'
), unproven AS (
    SELECT q.message_id, list(q.kind ORDER BY q.kind) AS kinds
    FROM required AS q JOIN m USING (message_id)
    WHERE NOT EXISTS (
        SELECT 1 FROM proofs AS p WHERE p.order_id = m.order_id AND p.kind = q.kind AND p.recorded_at <= m.sent_at)
    GROUP BY q.message_id
)
SELECT m.message_id AS entity_id, m.order_id, m.partition_date,
    h.message_id IS NULL OR u.message_id IS NOT NULL AS failed,
    struct_pack(template_status := m.status, sent_at := m.sent_at, status_first_occurred_at := h.first_at,
        proofs_not_yet_recorded := u.kinds) AS observed
FROM m
LEFT JOIN happened AS h USING (message_id)
LEFT JOIN unproven AS u USING (message_id)
