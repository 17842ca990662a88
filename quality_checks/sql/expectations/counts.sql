-- Per partition: rows, rows left out as missing, and unexpected rows among the others.
WITH batch AS NOT MATERIALIZED (
    SELECT rowid AS _row, * FROM {table} WHERE partition_date BETWEEN $start AND $end
), flags AS NOT MATERIALIZED (
    /* expectation */
)
SELECT partition_date, count(*) AS element_count, count_if(missing) AS missing_count,
    count_if(NOT missing AND unexpected) AS unexpected_count
FROM flags
GROUP BY partition_date
ORDER BY partition_date;
