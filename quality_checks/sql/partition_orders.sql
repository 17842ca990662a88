SELECT * FROM orders WHERE partition_date = $day;
