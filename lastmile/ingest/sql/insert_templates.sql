INSERT INTO templates
SELECT c.template_id, c.version, c.channel, c.purpose, c.status, c.exception_code, c.body, c.sensitive,
    c.approved_by, c.reviewed_by, c.approved_at, c.retired_at, c.content_hash, $file_id, c._row, $run_id, $now
FROM _checked AS c
JOIN _classified AS k USING (_row)
WHERE k.outcome = 'loaded';
