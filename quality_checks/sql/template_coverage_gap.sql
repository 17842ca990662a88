-- template.coverage_gap: a channel that sent a transactional message in the N days before as_of (sent_at in
-- (as_of - N days, as_of]) has no transactional template in force at as_of for a notifying status; for
-- delivery_attempted and exception, for each exception code, one with that code or '*'.
-- Entity <channel>:<status>:<exception_code or ->.
WITH channels AS (
    SELECT DISTINCT channel FROM messages
    WHERE purpose = 'transactional' AND sent_at > $as_of::TIMESTAMPTZ - to_days($days) AND sent_at <= $as_of
), needs AS (
    SELECT c.channel, s.status, x.code
    FROM channels AS c
    CROSS JOIN (SELECT unnest($notifying) AS status) AS s
    CROSS JOIN (SELECT unnest($codes) AS code UNION ALL SELECT NULL) AS x
    WHERE (list_contains($needs_code, s.status)) = (x.code IS NOT NULL)
), in_force AS (
    SELECT channel, status, exception_code FROM templates
    WHERE purpose = 'transactional'
      AND template_in_force(approved_by, approved_at, retired_at, sensitive, reviewed_by, $as_of::TIMESTAMPTZ)
)
SELECT n.channel || ':' || n.status || ':' || coalesce(n.code, '-') AS entity_id, NULL::VARCHAR AS order_id,
    $as_of::DATE AS partition_date,
    NOT EXISTS (
        SELECT 1 FROM in_force AS t
        WHERE t.channel = n.channel AND t.status = n.status
          AND (n.code IS NULL OR t.exception_code = n.code OR t.exception_code = '*')
    ) AS failed,
    struct_pack(channel := n.channel, status := n.status, exception_code := n.code) AS observed
FROM needs AS n
