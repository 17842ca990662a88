-- message.duplicate: an earlier message (by sent_at, then message_id) has the same order, trigger_event_id
-- (not null) and channel. Every message counts as an earlier one, whatever its template; a message whose
-- template does not exist is itself left to message.template_invalid.
WITH repeated AS (
    -- keys (as a 64-bit hash) of more than one message, in any partition: only their messages can be repeats
    SELECT hash(order_id, trigger_event_id, channel) AS h FROM messages
    WHERE trigger_event_id IS NOT NULL
    GROUP BY h HAVING count(*) > 1
), ranked AS (
    SELECT m.message_id, m.order_id, m.trigger_event_id, m.channel, m.sent_at,
        first_value(m.message_id) OVER w AS first_message_id,
        row_number() OVER w AS n
    FROM messages AS m
    SEMI JOIN repeated AS r ON r.h = hash(m.order_id, m.trigger_event_id, m.channel)
    WHERE m.trigger_event_id IS NOT NULL
    WINDOW w AS (PARTITION BY m.order_id, m.trigger_event_id, m.channel ORDER BY m.sent_at, m.message_id)
)
SELECT m.message_id AS entity_id, m.order_id, m.partition_date, coalesce(r.n > 1, FALSE) AS failed,
    struct_pack(trigger_event_id := m.trigger_event_id, channel := m.channel, sent_at := m.sent_at,
        earlier_message_id := coalesce(r.first_message_id, m.message_id), rank_in_key := coalesce(r.n, 1)) AS observed
FROM messages AS m
SEMI JOIN templates AS t ON t.template_id = m.template_id AND t.version = m.template_version
LEFT JOIN ranked AS r ON r.message_id = m.message_id
WHERE m.partition_date BETWEEN $start AND $end AND m.trigger_event_id IS NOT NULL
