-- Rows that reuse a key with different content (first-wins entities only).
SELECT k._row, 'conflict' AS reason,
    'first seen in file ' || k.first_file_id || ' row ' || k.first_row AS detail, k.key, c.order_id
FROM _classified AS k
JOIN _checked AS c USING (_row)
WHERE k.outcome = 'conflict';
