-- message.template_invalid: the message's template (template_id, template_version) does not exist, is
-- not in force at sent_at, or has another channel or purpose than the message.
SELECT m.message_id AS entity_id, m.order_id, m.partition_date,
    t.template_id IS NULL
        OR NOT template_in_force(t.approved_by, t.approved_at, t.retired_at, t.sensitive, t.reviewed_by, m.sent_at)
        OR t.channel <> m.channel OR t.purpose <> m.purpose AS failed,
    struct_pack(template := m.template_id || ':' || m.template_version, template_exists := t.template_id IS NOT NULL,
        in_force := template_in_force(t.approved_by, t.approved_at, t.retired_at, t.sensitive, t.reviewed_by, m.sent_at),
        message_channel := m.channel, template_channel := t.channel,
        message_purpose := m.purpose, template_purpose := t.purpose) AS observed
FROM messages AS m
LEFT JOIN templates AS t ON t.template_id = m.template_id AND t.version = m.template_version
WHERE m.partition_date BETWEEN $start AND $end
