-- message.duplicate: an earlier message (by sent_at, then message_id) has the same order, trigger_event_id
-- (not null) and channel. Every message counts as an earlier one, whatever its template; a message whose
-- template does not exist is itself left to message.template_invalid.
WITH keys AS (
    SELECT DISTINCT order_id, trigger_event_id, channel FROM messages
    WHERE partition_date BETWEEN $start AND $end AND trigger_event_id IS NOT NULL
), ranked AS (
    SELECT m.message_id, m.order_id, m.trigger_event_id, m.channel, m.sent_at, m.partition_date,
        m.template_id, m.template_version,
        first_value(m.message_id) OVER w AS first_message_id,
        row_number() OVER w AS n
    FROM messages AS m
    SEMI JOIN keys AS k ON k.order_id = m.order_id AND k.trigger_event_id = m.trigger_event_id
        AND k.channel = m.channel
    WINDOW w AS (PARTITION BY m.order_id, m.trigger_event_id, m.channel ORDER BY m.sent_at, m.message_id)
)
SELECT r.message_id AS entity_id, r.order_id, r.partition_date, r.n > 1 AS failed,
    struct_pack(trigger_event_id := r.trigger_event_id, channel := r.channel, sent_at := r.sent_at,
        earlier_message_id := r.first_message_id, rank_in_key := r.n) AS observed
FROM ranked AS r
SEMI JOIN templates AS t ON t.template_id = r.template_id AND t.version = r.template_version
WHERE r.partition_date BETWEEN $start AND $end
