-- Record the partitions one file's accepted rows touch (in the file's own transaction); see schema.sql.
INSERT INTO unpublished_partitions
SELECT t.table_name, t.partition_date, $run_id, $now
FROM (SELECT unnest($tables::VARCHAR[]) AS table_name, unnest($days::DATE[]) AS partition_date) AS t
ON CONFLICT DO NOTHING;
