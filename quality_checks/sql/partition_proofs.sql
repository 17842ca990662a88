SELECT * FROM proofs WHERE partition_date = $day;
