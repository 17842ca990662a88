-- One day's rows of the published messages table, in table order (the pandas batch Great Expectations validates).
SELECT * FROM messages WHERE partition_date = $day ORDER BY rowid;
