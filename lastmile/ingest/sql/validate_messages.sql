-- Type and validate one file's customer messages (CONTRACT §8). Input: view _raw (every column VARCHAR,
-- plus _row; the address and body were replaced by keyed hashes before this: has_address, address_hash,
-- has_body, body_hash). Output: the typed rows, with `key`, `fault` and content_hash (see validate_events.sql).
WITH r AS (
    SELECT _row,
        NULLIF(message_id, '') AS message_id, NULLIF(order_id, '') AS order_id,
        NULLIF(channel, '') AS channel, NULLIF(purpose, '') AS purpose,
        has_address, address_hash,
        NULLIF(template_id, '') AS template_id, NULLIF(trim(template_version), '') AS template_version_s,
        NULLIF(trigger_event_id, '') AS trigger_event_id, NULLIF(sent_at, '') AS sent_at_s,
        NULLIF(delivery_status, '') AS delivery_status, NULLIF(variant, '') AS variant,
        has_body, body_hash
    FROM _raw
), t AS (
    SELECT *,
        CASE WHEN regexp_full_match(template_version_s, '[+-]?[0-9]+') THEN TRY_CAST(template_version_s AS BIGINT)
        END AS template_version,
        TRY_CAST(sent_at_s AS TIMESTAMPTZ) AS sent_at
    FROM r
), d AS (
    -- The local day, computed once per row (a TIMESTAMPTZ's date in the network's time zone costs a
    -- calendar lookup; written out in each branch below it was computed four times).
    SELECT *, sent_at::DATE AS partition_date FROM t
)
SELECT *, message_id AS key,
    CASE
        WHEN message_id IS NULL THEN ['missing_required', 'message_id']
        WHEN order_id IS NULL THEN ['missing_required', 'order_id']
        WHEN channel IS NULL THEN ['missing_required', 'channel']
        WHEN NOT list_contains($channels, channel) THEN ['unknown_channel', 'channel: ' || channel]
        WHEN purpose IS NULL THEN ['missing_required', 'purpose']
        WHEN NOT list_contains($message_purposes, purpose) THEN ['unknown_purpose', 'purpose: ' || purpose]
        WHEN NOT has_address THEN ['missing_required', 'address']
        WHEN template_id IS NULL THEN ['missing_required', 'template_id']
        WHEN template_version_s IS NULL THEN ['missing_required', 'template_version']
        WHEN template_version IS NULL THEN ['bad_number', 'template_version: ' || template_version_s]
        WHEN sent_at_s IS NULL THEN ['missing_required', 'sent_at']
        WHEN sent_at IS NULL THEN ['bad_timestamp', 'sent_at: ' || sent_at_s]
        WHEN delivery_status IS NULL THEN ['missing_required', 'delivery_status']
        WHEN NOT list_contains($delivery_statuses, delivery_status)
            THEN ['unknown_delivery_status', 'delivery_status: ' || delivery_status]
        WHEN partition_date NOT BETWEEN coalesce($first_day::DATE, partition_date) AND coalesce($last_day::DATE, partition_date)
            THEN ['outside_partitions', 'sent_at: ' || sent_at_s || ' is on ' || partition_date::VARCHAR
                  || ', outside the daily partitions ' || $first_day::DATE::VARCHAR || '..' || $last_day::DATE::VARCHAR]
        ELSE NULL
    END AS fault,
    md5(concat_ws(chr(31), message_id, order_id, channel, purpose, coalesce(address_hash, chr(0)), template_id,
        template_version, coalesce(trigger_event_id, chr(0)), epoch_us(sent_at), delivery_status,
        coalesce(variant, chr(0)), coalesce(body_hash, chr(0)))) AS content_hash
FROM d;
