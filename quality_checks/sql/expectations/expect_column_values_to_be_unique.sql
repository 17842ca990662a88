-- A non-null value that occurs more than once in its partition (every occurrence is unexpected).
SELECT b.partition_date, b._row, {missing} AS missing, dup._dup_rows IS NOT NULL AS unexpected, b.{col} AS value
FROM batch AS b
LEFT JOIN (
    SELECT partition_date, {col} AS _dup_value, count(*) AS _dup_rows FROM batch WHERE NOT ({missing}) GROUP BY ALL HAVING count(*) > 1
) AS dup ON dup.partition_date = b.partition_date AND dup._dup_value = b.{col}
