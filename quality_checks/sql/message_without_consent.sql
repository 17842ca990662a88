-- message.without_consent: the consent rule of CONTRACT §8 does not allow the message. The records that
-- apply have its channel, its normalised address (keyed hash), purpose equal to its purpose or 'all', and
-- at <= sent_at; the latest decides, a withdrawal winning a tie. Marketing needs a grant (opt-in);
-- transactional is allowed unless withdrawn (opt-out). Messages whose template does not exist are left
-- to message.template_invalid.
WITH m AS (
    SELECT m.message_id, m.order_id, m.channel, m.purpose, m.address_hash, m.sent_at, m.partition_date
    FROM messages AS m
    SEMI JOIN templates AS t ON t.template_id = m.template_id AND t.version = m.template_version
    WHERE m.partition_date BETWEEN $start AND $end
), c AS (
    -- one row per (channel, address, message purpose, instant): a tie at one instant is a withdrawal if any is
    SELECT channel, address_hash, p.purpose, "at",
        bool_or(state = 'withdrawn') AS withdrawn,
        coalesce(min(consent_id) FILTER (WHERE state = 'withdrawn'), min(consent_id)) AS consent_id
    FROM consents
    CROSS JOIN (SELECT unnest(['transactional', 'marketing']) AS purpose) AS p
    WHERE consents.purpose = p.purpose OR consents.purpose = 'all'
    GROUP BY channel, address_hash, p.purpose, "at"
), iv AS (
    -- each instant decides until the next one: [at, until). A hash join on the key with the range as a
    -- condition finds a message's latest applicable record (an ASOF join over millions of small keys is far slower)
    SELECT *, lead("at", 1, 'infinity'::TIMESTAMPTZ) OVER (PARTITION BY channel, address_hash, purpose ORDER BY "at")
        AS until
    FROM c
), decided AS (
    SELECT m.*, iv.withdrawn, iv.consent_id, iv."at" AS consent_at
    FROM m LEFT JOIN iv
        ON m.channel = iv.channel AND m.address_hash = iv.address_hash AND m.purpose = iv.purpose
        AND m.sent_at >= iv."at" AND m.sent_at < iv.until
)
SELECT message_id AS entity_id, order_id, partition_date,
    CASE WHEN purpose = 'marketing' THEN withdrawn IS DISTINCT FROM FALSE ELSE coalesce(withdrawn, FALSE) END
        AS failed,
    struct_pack(channel := channel, purpose := purpose, sent_at := sent_at, deciding_consent_id := consent_id,
        deciding_state := CASE WHEN withdrawn THEN 'withdrawn' WHEN NOT withdrawn THEN 'granted' END,
        deciding_at := consent_at) AS observed
FROM decided
