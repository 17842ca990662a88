-- A synthetic messaging warehouse for bench.messages: N orders over 28 days (one out_for_delivery
-- and one delivered event each, a photo proof), four messages per order (sms notices of both events, a push,
-- and a marketing e-mail on every other order, plus sms re-sends so that the total is 10M for 2.5M orders),
-- M consent records over the same addresses (grants and some opt-outs), a small template registry.
INSERT INTO orders BY NAME
SELECT 'O' || i AS order_id, 1 AS revision, TIMESTAMPTZ '2026-01-05 08:00:00+00' + to_seconds(i * $spread) AS created_at,
    'standard' AS service_type, 'D1' AS depot_id, 'Z' || (i % 8) AS zone_id, 'x' AS address_line, 'E1' AS postcode,
    'London' AS city, 'GB' AS country, FALSE AS has_recipient_name, 'p' || (i % 500000) AS recipient_phone_hash,
    NULL AS recipient_email_hash, TRUE AS recipient_phone_possible, FALSE AS recipient_email_valid,
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
-- k: 0 sms ofd, 1 sms delivered (a little before its proof on 1 order in 50), 2 push ofd, 3 email marketing
INSERT INTO messages BY NAME
SELECT 'M' || i || '-' || k AS message_id, 'O' || i AS order_id,
    CASE k WHEN 2 THEN 'push' WHEN 3 THEN 'email' ELSE 'sms' END AS channel,
    CASE k WHEN 3 THEN 'marketing' ELSE 'transactional' END AS purpose,
    CASE k WHEN 2 THEN 'd' || i WHEN 3 THEN 'e' || (i % 500000) ELSE 'p' || (i % 500000) END AS address_hash,
    CASE k WHEN 0 THEN 'sms-ofd' WHEN 1 THEN 'sms-del' WHEN 2 THEN 'push-ofd' ELSE 'email-news' END AS template_id,
    1 AS template_version,
    CASE k WHEN 0 THEN 'E' || i || 'a' WHEN 1 THEN 'E' || i || 'b' WHEN 2 THEN 'E' || i || 'a' END AS trigger_event_id,
    TIMESTAMPTZ '2026-01-06 08:01:00+00' + to_seconds(i * $spread + CASE k WHEN 1 THEN 3600 + CASE WHEN i % 50 = 0 THEN 10 ELSE 90 END
        WHEN 3 THEN 7200 + (i % 50000) ELSE 0 END) AS sent_at,
    'delivered' AS delivery_status, FALSE AS has_body,
    (TIMESTAMPTZ '2026-01-06 08:01:00+00' + to_seconds(i * $spread + CASE k WHEN 1 THEN 3600 WHEN 3 THEN 7200 + (i % 50000) ELSE 0 END))::DATE AS partition_date
FROM range($orders) AS t(i), range(4) AS u(k);
INSERT INTO consents
SELECT 'K' || j, CASE WHEN j % 2 = 0 THEN 'sms' ELSE 'email' END,
    CASE WHEN j % 2 = 0 THEN 'p' ELSE 'e' END || ((j // 2) % 500000),
    CASE WHEN j % 3 = 0 THEN 'all' ELSE 'marketing' END,
    CASE WHEN j % 97 = 0 THEN 'withdrawn' ELSE 'granted' END,
    TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(j * $consent_spread), 'checkout', 'consent:K' || j, 'h',
    (TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(j * $consent_spread))::DATE, 'f', 1, 'r', now()
FROM range($consents) AS t(j);
