-- message.missing: a notifying event of an order with a recipient phone or e-mail given (valid or not), not
-- from a partner source, whose recorded_at + window <= as_of, triggered no message (trigger_event_id and
-- order_id) sent at or before its recorded_at + window. Partition of the event.
WITH e AS (
    SELECT e.event_id, e.order_id, e.status, e.recorded_at, e.partition_date
    FROM events AS e
    JOIN orders AS o ON o.order_id = e.order_id
    WHERE e.partition_date BETWEEN $start AND $end
      AND list_contains($notifying, e.status)
      AND NOT starts_with(e.source, 'partner:')
      AND (o.recipient_phone_hash IS NOT NULL OR o.recipient_email_hash IS NOT NULL)
      AND epoch_us(e.recorded_at) + $window_us <= epoch_us($as_of::TIMESTAMPTZ)
), told AS (
    SELECT e.event_id, min(m.sent_at) AS first_sent_at, count(*) AS messages
    FROM e JOIN messages AS m ON m.trigger_event_id = e.event_id AND m.order_id = e.order_id
    WHERE epoch_us(m.sent_at) <= epoch_us(e.recorded_at) + $window_us
    GROUP BY e.event_id
)
SELECT e.event_id AS entity_id, e.order_id, e.partition_date, t.event_id IS NULL AS failed,
    struct_pack(status := e.status, recorded_at := e.recorded_at, first_message_sent_at := t.first_sent_at)
        AS observed
FROM e
LEFT JOIN told AS t USING (event_id)
