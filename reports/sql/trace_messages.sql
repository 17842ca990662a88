-- Every accepted message about the order (CONTRACT §8), with its template version, whether that version was in
-- force when sent, and the consent decision (the latest applying record, a withdrawal winning a tie). Never
-- the address or the body: only whether a body is sealed in the vault.
WITH m AS (
    SELECT * FROM intake_messages WHERE order_id = $order_id
), latest AS (
    SELECT m.message_id, max(c."at") AS at
    FROM m JOIN consents AS c ON c.channel = m.channel AND c.address_hash = m.address_hash
        AND (c.purpose = m.purpose OR c.purpose = 'all') AND c."at" <= m.sent_at
    GROUP BY m.message_id
), decided AS (
    SELECT l.message_id, l.at AS consent_at,
        CASE WHEN bool_or(c.state = 'withdrawn') THEN 'withdrawn' ELSE 'granted' END AS consent_state
    FROM latest AS l
    JOIN m USING (message_id)
    JOIN consents AS c ON c.channel = m.channel AND c.address_hash = m.address_hash
        AND (c.purpose = m.purpose OR c.purpose = 'all') AND c."at" = l.at
    GROUP BY l.message_id, l.at
)
SELECT m.message_id, m.channel, m.purpose, m.template_id, m.template_version, m.trigger_event_id, m.sent_at,
    m.delivery_status, m.variant, m.has_body, m.body_artifact_id, t.status AS template_status,
    t.template_id IS NOT NULL AS template_exists,
    template_in_force(t.approved_by, t.approved_at, t.retired_at, t.sensitive, t.reviewed_by, m.sent_at) AS template_in_force,
    d.consent_state, d.consent_at,
    CASE WHEN m.purpose = 'marketing' THEN coalesce(d.consent_state = 'granted', FALSE)
         ELSE d.consent_state IS DISTINCT FROM 'withdrawn' END AS consent_allows,
    f.path AS file_path, m.row_number
FROM m
LEFT JOIN templates AS t ON t.template_id = m.template_id AND t.version = m.template_version
LEFT JOIN decided AS d USING (message_id)
LEFT JOIN ingest_files AS f ON f.file_id = m.file_id
ORDER BY m.sent_at, m.message_id;
