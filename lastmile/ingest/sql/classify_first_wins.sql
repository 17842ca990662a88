-- First content wins (events, proofs). Input: _checked (this file's rows) and view _existing
-- (key, content_hash, file_id, row_number) of what earlier files accepted.
-- A key seen again with the same content is a duplicate; with other content, a conflict.
CREATE OR REPLACE TEMP TABLE _classified AS
WITH v AS (
    SELECT _row, key, content_hash FROM _checked WHERE fault IS NULL
), f AS (
    -- each key's first row in this file and its content (an aggregate and a hash join: cheaper than
    -- window functions over the file, which sort it)
    SELECT key, min(_row) AS first_row, arg_min(content_hash, _row) AS first_hash FROM v GROUP BY key
)
SELECT v._row, v.key,
    CASE
        WHEN e.key IS NOT NULL AND e.content_hash = v.content_hash THEN 'duplicate'
        WHEN e.key IS NOT NULL THEN 'conflict'
        WHEN v._row = f.first_row THEN 'loaded'
        WHEN v.content_hash = f.first_hash THEN 'duplicate'
        ELSE 'conflict'
    END AS outcome,
    CASE WHEN e.key IS NOT NULL THEN e.file_id ELSE $file_id END AS first_file_id,
    CASE WHEN e.key IS NOT NULL THEN e.row_number ELSE f.first_row END AS first_row
FROM v
JOIN f ON f.key IS NOT DISTINCT FROM v.key
LEFT JOIN _existing AS e ON e.key = v.key;
