-- A synthetic messaging warehouse for bench.messages, built set-based: N orders over 28 days (one
-- out_for_delivery and one delivered event each, a photo proof), four messages per order (an SMS notice of
-- each event, an app push of the out_for_delivery, a marketing e-mail), M consent records over the same
-- phone numbers and e-mail addresses (grants at checkout, some opt-outs, spread over the messages' weeks),
-- a small template registry. Every one of the eight message checks has failing messages, at realistic
-- rates (i is the order number):
--   message.without_consent    marketing e-mails with no grant or after an opt-out; SMS after an `all` STOP
--   message.quiet_hours        i % 100 = 9: the marketing e-mail sent between 21:00 and 07:00
--   message.template_invalid   i % 1000 = 1: the push names a version that does not exist;
--                              i % 1000 = 2: the push uses the SMS template (another channel)
--   message.template_mismatch  i % 1000 = 3: the push names the delivered event; 4: an event that is not loaded
--   message.premature          i % 50 = 0: the delivered SMS 40 s before the photo was recorded;
--                              i % 1000 = 5: it is sent 4 minutes before the delivery
--   message.after_terminal     i % 1000 = 6: the out_for_delivery push 10 minutes after the delivery
--   message.duplicate          i % 1000 = 7: the out_for_delivery notice sent twice by SMS
--   message.missing            i % 1000 = 8: the delivered SMS 31.5 minutes after the event was recorded
INSERT INTO orders BY NAME
SELECT 'O' || i AS order_id, 1 AS revision, TIMESTAMPTZ '2026-01-05 08:00:00+00' + to_seconds(i * $spread) AS created_at,
    'standard' AS service_type, 'D1' AS depot_id, 'Z' || (i % 8) AS zone_id, 'x' AS address_line, 'E1' AS postcode,
    'London' AS city, 'GB' AS country, FALSE AS has_recipient_name, 'p' || (i % $addresses) AS recipient_phone_hash,
    'e' || (i % $addresses) AS recipient_email_hash, TRUE AS recipient_phone_possible, TRUE AS recipient_email_valid,
    (TIMESTAMPTZ '2026-01-05 08:00:00+00' + to_seconds(i * $spread))::DATE AS partition_date
FROM range($orders) AS t(i);
INSERT INTO events BY NAME
SELECT 'E' || i || s AS event_id, 'O' || i AS order_id,
    CASE s WHEN 'a' THEN 'out_for_delivery' ELSE 'delivered' END AS status,
    TIMESTAMPTZ '2026-01-06 08:00:00+00' + to_seconds(i * $spread + CASE s WHEN 'a' THEN 0 ELSE 3600 END) AS occurred_at,
    TIMESTAMPTZ '2026-01-06 08:00:30+00' + to_seconds(i * $spread + CASE s WHEN 'a' THEN 0 ELSE 3600 END) AS recorded_at,
    'driver_app' AS source,
    (TIMESTAMPTZ '2026-01-06 08:00:00+00' + to_seconds(i * $spread + CASE s WHEN 'a' THEN 0 ELSE 3600 END))::DATE AS partition_date
FROM range($orders) AS t(i), (SELECT unnest(['a', 'b']) AS s);
INSERT INTO proofs BY NAME
SELECT 'P' || i AS proof_id, 'O' || i AS order_id, 'photo' AS kind,
    TIMESTAMPTZ '2026-01-06 09:00:30+00' + to_seconds(i * $spread) AS captured_at,
    TIMESTAMPTZ '2026-01-06 09:01:00+00' + to_seconds(i * $spread) AS recorded_at,
    (TIMESTAMPTZ '2026-01-06 09:00:30+00' + to_seconds(i * $spread))::DATE AS partition_date
FROM range($orders) AS t(i);
INSERT INTO templates VALUES
    ('sms-ofd', 1, 'sms', 'transactional', 'out_for_delivery', NULL, 'b', FALSE, 'a', NULL, TIMESTAMPTZ '2025-01-01 00:00:00+00', NULL, 'h', 'f', 1, 'r', now()),
    ('sms-del', 1, 'sms', 'transactional', 'delivered', NULL, 'b', FALSE, 'a', NULL, TIMESTAMPTZ '2025-01-01 00:00:00+00', NULL, 'h', 'f', 1, 'r', now()),
    ('push-ofd', 1, 'push', 'transactional', 'out_for_delivery', NULL, 'b', FALSE, 'a', NULL, TIMESTAMPTZ '2025-01-01 00:00:00+00', NULL, 'h', 'f', 1, 'r', now()),
    ('email-news', 1, 'email', 'marketing', NULL, NULL, 'b', FALSE, 'a', NULL, TIMESTAMPTZ '2025-01-01 00:00:00+00', NULL, 'h', 'f', 1, 'r', now());
-- k: 0 SMS out_for_delivery, 1 SMS delivered, 2 push out_for_delivery, 3 marketing e-mail
INSERT INTO messages BY NAME
SELECT *, sent_at::DATE AS partition_date FROM (
    SELECT 'M' || i || '-' || k AS message_id, 'O' || i AS order_id,
        CASE WHEN k = 2 AND i % 1000 = 7 THEN 'sms' WHEN k = 2 THEN 'push' WHEN k = 3 THEN 'email' ELSE 'sms' END
            AS channel,
        CASE k WHEN 3 THEN 'marketing' ELSE 'transactional' END AS purpose,
        CASE WHEN k = 2 AND i % 1000 <> 7 THEN 'd' || i WHEN k = 3 THEN 'e' || (i % $addresses) ELSE 'p' || (i % $addresses) END
            AS address_hash,
        CASE WHEN k = 0 OR (k = 2 AND i % 1000 IN (2, 7)) THEN 'sms-ofd' WHEN k = 1 THEN 'sms-del' WHEN k = 2 THEN 'push-ofd'
            ELSE 'email-news' END AS template_id,
        CASE WHEN k = 2 AND i % 1000 = 1 THEN 9 ELSE 1 END AS template_version,
        CASE WHEN k = 2 AND i % 1000 = 3 THEN 'E' || i || 'b' WHEN k = 2 AND i % 1000 = 4 THEN 'E404-' || i
            WHEN k IN (0, 2) THEN 'E' || i || 'a' WHEN k = 1 THEN 'E' || i || 'b' END AS trigger_event_id,
        CASE WHEN k = 3 THEN date_trunc('day', TIMESTAMPTZ '2026-01-06 08:01:00+00' + to_seconds(i * $spread))
                + CASE WHEN i % 100 = 9 THEN INTERVAL 21 HOUR + to_seconds(i % 36000) ELSE INTERVAL 10 HOUR + to_seconds(i % 36000) END
            ELSE TIMESTAMPTZ '2026-01-06 08:01:00+00' + to_seconds(i * $spread + CASE
                WHEN k = 1 AND i % 50 = 0 THEN 3600 - 20
                WHEN k = 1 AND i % 1000 = 5 THEN 3600 - 300
                WHEN k = 1 AND i % 1000 = 8 THEN 3600 + 1860
                WHEN k = 1 THEN 3600 + 90
                WHEN k = 2 AND i % 1000 = 6 THEN 4200
                ELSE 0 END) END AS sent_at,
        'delivered' AS delivery_status, FALSE AS has_body
    FROM range($orders) AS t(i), range(4) AS u(k)
);
INSERT INTO consents
SELECT 'K' || j, CASE WHEN j % 2 = 0 THEN 'sms' ELSE 'email' END,
    CASE WHEN j % 2 = 0 THEN 'p' ELSE 'e' END || ((j // 2) % $addresses),
    CASE WHEN j % 3 = 0 THEN 'all' ELSE 'marketing' END,
    CASE WHEN j % 97 = 0 THEN 'withdrawn' ELSE 'granted' END,
    TIMESTAMPTZ '2025-12-27 00:00:00+00' + to_seconds(j * $consent_spread),
    CASE WHEN j % 97 = 0 THEN 'sms_stop' ELSE 'checkout' END, 'consent:K' || j, 'h',
    (TIMESTAMPTZ '2025-12-27 00:00:00+00' + to_seconds(j * $consent_spread))::DATE, 'f', 1, 'r', now()
FROM range($consents) AS t(j);
