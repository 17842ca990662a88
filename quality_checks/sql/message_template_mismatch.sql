-- message.template_mismatch: a message with a trigger_event_id but no trigger event (the loaded event with
-- that event_id and the message's order_id); or its template's status (null counts as different) differs
-- from the trigger event's; or the trigger event has an exception code that the template's exception_code
-- neither names nor covers with '*'. Messages without trigger_event_id are not judged.
WITH m AS (
    SELECT m.message_id, m.order_id, m.trigger_event_id, m.partition_date, t.status AS template_status,
        t.exception_code AS template_code, m.template_id || ':' || m.template_version AS template
    FROM messages AS m
    JOIN templates AS t ON t.template_id = m.template_id AND t.version = m.template_version
    WHERE m.partition_date BETWEEN $start AND $end AND m.trigger_event_id IS NOT NULL
)
SELECT m.message_id AS entity_id, m.order_id, m.partition_date,
    e.event_id IS NULL
        OR m.template_status IS DISTINCT FROM e.status
        OR (e.exception_code IS NOT NULL AND m.template_code IS DISTINCT FROM e.exception_code
            AND m.template_code IS DISTINCT FROM '*') AS failed,
    struct_pack(template := m.template, trigger_event_id := m.trigger_event_id,
        trigger_event_found := e.event_id IS NOT NULL, template_status := m.template_status,
        event_status := e.status, template_exception_code := m.template_code,
        event_exception_code := e.exception_code) AS observed
FROM m
LEFT JOIN events AS e ON e.event_id = m.trigger_event_id AND e.order_id = m.order_id
