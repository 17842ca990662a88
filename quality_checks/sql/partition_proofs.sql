-- One day's rows of the published proofs table, in table order (the pandas batch Great Expectations validates).
SELECT * FROM proofs WHERE partition_date = $day ORDER BY rowid;
