-- Every partition read but not yet published.
SELECT table_name, partition_date FROM unpublished_partitions ORDER BY table_name, partition_date;
