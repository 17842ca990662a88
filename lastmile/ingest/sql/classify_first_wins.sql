-- First content wins (events, proofs). Input: _checked (this file's rows) and view _existing
-- (key, content_hash, file_id, row_number) of what earlier files accepted.
-- A key seen again with the same content is a duplicate; with other content, a conflict.
CREATE OR REPLACE TEMP TABLE _classified AS
WITH v AS (
    SELECT _row, key, content_hash,
        row_number() OVER (PARTITION BY key ORDER BY _row) AS n,
        first_value(content_hash) OVER (PARTITION BY key ORDER BY _row) AS first_hash,
        first_value(_row) OVER (PARTITION BY key ORDER BY _row) AS first_row
    FROM _checked
    WHERE fault IS NULL
)
SELECT v._row, v.key,
    CASE
        WHEN e.key IS NOT NULL AND e.content_hash = v.content_hash THEN 'duplicate'
        WHEN e.key IS NOT NULL THEN 'conflict'
        WHEN v.n = 1 THEN 'loaded'
        WHEN v.content_hash = v.first_hash THEN 'duplicate'
        ELSE 'conflict'
    END AS outcome,
    CASE WHEN e.key IS NOT NULL THEN e.file_id ELSE $file_id END AS first_file_id,
    CASE WHEN e.key IS NOT NULL THEN e.row_number ELSE v.first_row END AS first_row
FROM v
LEFT JOIN _existing AS e ON e.key = v.key;
