-- One day's rows of the published orders table, in table order (the pandas batch Great Expectations validates).
SELECT * FROM orders WHERE partition_date = $day ORDER BY rowid;
