INSERT INTO consents
SELECT c.consent_id, c.channel, c.address_hash, c.purpose, c.state, c."at", c.source, 'consent:' || c.consent_id,
    c.content_hash, c.partition_date, $file_id, c._row, $run_id, $now
FROM _checked AS c
JOIN _classified AS k USING (_row)
WHERE k.outcome = 'loaded';
