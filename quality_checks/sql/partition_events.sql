-- One day's rows of the published events table, in table order (the pandas batch Great Expectations validates).
SELECT * FROM events WHERE partition_date = $day ORDER BY rowid;
