-- message.quiet_hours: a marketing message sent outside [quiet_start, quiet_end) network-timezone time.
SELECT m.message_id AS entity_id, m.order_id, m.partition_date,
    NOT (m.sent_at::TIMESTAMP::TIME >= $quiet_start AND m.sent_at::TIMESTAMP::TIME < $quiet_end) AS failed,
    struct_pack(sent_at := m.sent_at, local_time := m.sent_at::TIMESTAMP::TIME, allowed_from := $quiet_start,
        allowed_until := $quiet_end) AS observed
FROM messages AS m
SEMI JOIN templates AS t ON t.template_id = m.template_id AND t.version = m.template_version
WHERE m.partition_date BETWEEN $start AND $end AND m.purpose = 'marketing'
