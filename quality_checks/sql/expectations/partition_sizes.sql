-- Rows per partition of the suite's table in [$start, $end].
SELECT partition_date, count(*) FROM {table} WHERE partition_date BETWEEN $start AND $end GROUP BY ALL;
