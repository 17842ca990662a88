-- Type and validate one file's template versions (CONTRACT §8). Input: view _raw (VARCHAR columns plus _row).
-- The key is (template_id, version), written '<template_id>:<version>'.
WITH r AS (
    SELECT _row,
        NULLIF(template_id, '') AS template_id, NULLIF(trim(version), '') AS version_s,
        NULLIF(channel, '') AS channel, NULLIF(purpose, '') AS purpose, NULLIF(status, '') AS status,
        NULLIF(exception_code, '') AS exception_code, NULLIF(body, '') AS body,
        NULLIF(lower(trim(sensitive)), '') AS sensitive_s,
        NULLIF(approved_by, '') AS approved_by, NULLIF(reviewed_by, '') AS reviewed_by,
        NULLIF(approved_at, '') AS approved_at_s, NULLIF(retired_at, '') AS retired_at_s
    FROM _raw
), t AS (
    SELECT *,
        CASE WHEN regexp_full_match(version_s, '[+-]?[0-9]+') THEN TRY_CAST(version_s AS BIGINT) END AS version,
        CASE WHEN sensitive_s IN ('true', 't', '1', 'yes') THEN TRUE
             WHEN sensitive_s IN ('false', 'f', '0', 'no') THEN FALSE END AS sensitive,
        TRY_CAST(approved_at_s AS TIMESTAMPTZ) AS approved_at,
        TRY_CAST(retired_at_s AS TIMESTAMPTZ) AS retired_at
    FROM r
)
SELECT *, template_id || ':' || version AS key, NULL::VARCHAR AS order_id,
    CASE
        WHEN template_id IS NULL THEN ['missing_required', 'template_id']
        WHEN version_s IS NULL THEN ['missing_required', 'version']
        WHEN version IS NULL THEN ['bad_number', 'version: ' || version_s]
        WHEN channel IS NULL THEN ['missing_required', 'channel']
        WHEN NOT list_contains($channels, channel) THEN ['unknown_channel', 'channel: ' || channel]
        WHEN purpose IS NULL THEN ['missing_required', 'purpose']
        WHEN NOT list_contains($message_purposes, purpose) THEN ['unknown_purpose', 'purpose: ' || purpose]
        WHEN status IS NOT NULL AND NOT list_contains($statuses, status) THEN ['unknown_status', 'status: ' || status]
        WHEN exception_code IS NOT NULL AND exception_code <> '*' AND NOT list_contains($exception_codes, exception_code)
            THEN ['unknown_exception_code', 'exception_code: ' || exception_code]
        WHEN body IS NULL THEN ['missing_required', 'body']
        WHEN sensitive_s IS NULL THEN ['missing_required', 'sensitive']
        WHEN sensitive IS NULL THEN ['bad_boolean', 'sensitive: ' || sensitive_s]
        WHEN approved_by IS NOT NULL AND approved_at_s IS NULL THEN ['missing_required', 'approved_at']
        WHEN approved_at_s IS NOT NULL AND approved_at IS NULL THEN ['bad_timestamp', 'approved_at: ' || approved_at_s]
        WHEN retired_at_s IS NOT NULL AND retired_at IS NULL THEN ['bad_timestamp', 'retired_at: ' || retired_at_s]
        ELSE NULL
    END AS fault,
    md5(concat_ws(chr(31), template_id, version, channel, purpose, coalesce(status, chr(0)),
        coalesce(exception_code, chr(0)), body, sensitive, coalesce(approved_by, chr(0)),
        coalesce(reviewed_by, chr(0)), coalesce(epoch_us(approved_at)::VARCHAR, chr(0)),
        coalesce(epoch_us(retired_at)::VARCHAR, chr(0)))) AS content_hash,
    NULL::DATE AS partition_date
FROM t;
