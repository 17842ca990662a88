-- The eight message rules of CONTRACT §8, one hand-written DuckDB query each (failing count only).
SELECT count(*) FROM messages m ASOF LEFT JOIN (
    SELECT channel, address_hash, p.purpose, "at", bool_or(state = 'withdrawn') AS withdrawn FROM consents
    CROSS JOIN (SELECT unnest(['transactional', 'marketing']) AS purpose) p
    WHERE consents.purpose IN (p.purpose, 'all') GROUP BY ALL) c
  ON m.channel = c.channel AND m.address_hash = c.address_hash AND m.purpose = c.purpose AND m.sent_at >= c."at"
WHERE CASE WHEN m.purpose = 'marketing' THEN c.withdrawn IS DISTINCT FROM FALSE ELSE coalesce(c.withdrawn, FALSE) END;
SELECT count(*) FROM messages WHERE purpose = 'marketing'
  AND NOT (sent_at::TIMESTAMP::TIME >= TIME '08:00' AND sent_at::TIMESTAMP::TIME < TIME '21:00');
SELECT count(*) FROM messages m LEFT JOIN templates t ON t.template_id = m.template_id AND t.version = m.template_version
WHERE t.template_id IS NULL OR NOT (t.approved_at <= m.sent_at AND (t.retired_at IS NULL OR t.retired_at > m.sent_at))
  OR t.channel <> m.channel OR t.purpose <> m.purpose;
SELECT count(*) FROM messages m JOIN templates t ON t.template_id = m.template_id AND t.version = m.template_version
LEFT JOIN events e ON e.event_id = m.trigger_event_id AND e.order_id = m.order_id
WHERE m.trigger_event_id IS NOT NULL AND (e.event_id IS NULL OR t.status IS DISTINCT FROM e.status);
SELECT count(*) FROM messages m JOIN templates t ON t.template_id = m.template_id AND t.version = m.template_version
WHERE t.status IS NOT NULL AND (
    NOT EXISTS (SELECT 1 FROM events e WHERE e.order_id = m.order_id AND e.status = t.status AND e.occurred_at <= m.sent_at)
    OR (t.status = 'delivered' AND NOT EXISTS (
        SELECT 1 FROM proofs p WHERE p.order_id = m.order_id AND p.kind = 'photo' AND p.recorded_at <= m.sent_at)));
SELECT count(*) FROM messages m JOIN templates t ON t.template_id = m.template_id AND t.version = m.template_version
JOIN (SELECT order_id, min(occurred_at) AS ft FROM events WHERE status = 'delivered' GROUP BY order_id) f USING (order_id)
WHERE t.status IS NOT NULL AND t.status <> 'delivered' AND m.sent_at > f.ft;
SELECT count(*) FROM (SELECT row_number() OVER (PARTITION BY order_id, trigger_event_id, channel ORDER BY sent_at, message_id) AS n
    FROM messages WHERE trigger_event_id IS NOT NULL) WHERE n > 1;
SELECT count(*) FROM events e JOIN orders o USING (order_id)
WHERE e.status IN ('out_for_delivery', 'delivery_attempted', 'delivered', 'exception', 'picked_up')
  AND NOT starts_with(e.source, 'partner:') AND o.recipient_phone_hash IS NOT NULL
  AND e.recorded_at + INTERVAL 30 MINUTE <= $as_of
  AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.trigger_event_id = e.event_id AND m.order_id = e.order_id
                  AND m.sent_at <= e.recorded_at + INTERVAL 30 MINUTE);
