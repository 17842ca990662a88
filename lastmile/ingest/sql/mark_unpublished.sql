-- Record the partitions one file's accepted rows touch (in the file's own transaction); see schema.sql.
-- A guarded insert, not ON CONFLICT: the same statement runs on DuckLake, which has no keys.
INSERT INTO unpublished_partitions
SELECT t.table_name, t.partition_date, $run_id, $now
FROM (SELECT DISTINCT unnest($tables::VARCHAR[]) AS table_name, unnest($days::DATE[]) AS partition_date) AS t
WHERE NOT EXISTS (
    SELECT 1 FROM unpublished_partitions AS u
    WHERE u.table_name = t.table_name AND u.partition_date = t.partition_date
);
