SELECT * FROM events WHERE partition_date = $day;
