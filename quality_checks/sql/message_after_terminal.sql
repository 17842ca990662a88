-- message.after_terminal: the template's status is not null and not terminal, and the message was sent
-- after the order's first terminal event occurred (a conflicting update).
WITH m AS (
    SELECT m.message_id, m.order_id, m.sent_at, m.partition_date, t.status
    FROM messages AS m
    JOIN templates AS t ON t.template_id = m.template_id AND t.version = m.template_version
    WHERE m.partition_date BETWEEN $start AND $end AND t.status IS NOT NULL AND NOT list_contains($terminal, t.status)
), ft AS (
    SELECT order_id, min(occurred_at) AS first_terminal_at FROM events
    WHERE list_contains($terminal, status) AND order_id IN (SELECT order_id FROM m)
    GROUP BY order_id
)
SELECT m.message_id AS entity_id, m.order_id, m.partition_date,
    coalesce(m.sent_at > ft.first_terminal_at, FALSE) AS failed,
    struct_pack(template_status := m.status, sent_at := m.sent_at, first_terminal_at := ft.first_terminal_at)
        AS observed
FROM m
LEFT JOIN ft USING (order_id)
