-- The last entry at or after seq $from_seq (the last checkpoint's last entry): seq is the insertion order,
-- so DuckDB's zone maps skip every row group before it and the cost does not grow with the log.
SELECT seq, leaf_hash FROM audit_entries WHERE seq >= $from_seq ORDER BY seq DESC LIMIT 1;
