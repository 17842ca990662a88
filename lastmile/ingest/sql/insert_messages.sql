INSERT INTO intake_messages
SELECT c.message_id, c.order_id, c.channel, c.purpose, c.address_hash, c.template_id, c.template_version,
    c.trigger_event_id, c.sent_at, c.delivery_status, c.variant, c.has_body,
    CASE WHEN c.has_body THEN 'message:' || c.message_id END, c.content_hash, c.partition_date, $file_id, c._row,
    $run_id, $now
FROM _checked AS c
JOIN _classified AS k USING (_row)
WHERE k.outcome = 'loaded';
