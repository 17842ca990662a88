-- The first $limit unexpected rows of each partition in $days: their position in the partition (rows in
-- table order, as the pandas batch holds them) and value.
WITH batch AS NOT MATERIALIZED (
    SELECT rowid AS _row, * FROM {table} WHERE list_contains($days, partition_date)
), flags AS NOT MATERIALIZED (
    /* expectation */
), placed AS (
    SELECT partition_date, row_number() OVER (PARTITION BY partition_date ORDER BY _row) - 1 AS idx, value,
        NOT missing AND unexpected AS bad
    FROM flags
)
SELECT partition_date, idx, value FROM placed
WHERE bad
QUALIFY row_number() OVER (PARTITION BY partition_date ORDER BY idx) <= $limit
ORDER BY partition_date, idx;
