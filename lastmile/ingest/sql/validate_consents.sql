-- Type and validate one file's consent and opt-out records (CONTRACT §8). Input: view _raw (VARCHAR columns
-- plus _row; the address was replaced by has_address and address_hash, the keyed hash of its normalised form).
WITH r AS (
    SELECT _row,
        NULLIF(consent_id, '') AS consent_id, NULLIF(channel, '') AS channel, has_address, address_hash,
        NULLIF(purpose, '') AS purpose, NULLIF(state, '') AS state, NULLIF("at", '') AS at_s,
        NULLIF(source, '') AS source
    FROM _raw
), t AS (
    SELECT *, TRY_CAST(at_s AS TIMESTAMPTZ) AS "at" FROM r
)
SELECT *, consent_id AS key, NULL::VARCHAR AS order_id,
    CASE
        WHEN consent_id IS NULL THEN ['missing_required', 'consent_id']
        WHEN channel IS NULL THEN ['missing_required', 'channel']
        WHEN NOT list_contains($channels, channel) THEN ['unknown_channel', 'channel: ' || channel]
        WHEN NOT has_address THEN ['missing_required', 'address']
        WHEN purpose IS NULL THEN ['missing_required', 'purpose']
        WHEN NOT list_contains($consent_purposes, purpose) THEN ['unknown_purpose', 'purpose: ' || purpose]
        WHEN state IS NULL THEN ['missing_required', 'state']
        WHEN NOT list_contains($consent_states, state) THEN ['unknown_state', 'state: ' || state]
        WHEN at_s IS NULL THEN ['missing_required', 'at']
        WHEN "at" IS NULL THEN ['bad_timestamp', 'at: ' || at_s]
        WHEN source IS NULL THEN ['missing_required', 'source']
        ELSE NULL
    END AS fault,
    md5(concat_ws(chr(31), consent_id, channel, coalesce(address_hash, chr(0)), purpose, state, epoch_us("at"),
        source)) AS content_hash,
    "at"::DATE AS partition_date
FROM t;
