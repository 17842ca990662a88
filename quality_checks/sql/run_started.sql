-- A run of checks has started (its row exists before any check of it writes history).
-- A guarded insert, not ON CONFLICT: the same statement runs on DuckLake, which has no keys.
INSERT INTO dq_runs
SELECT $run_id, list_sort($expected::VARCHAR[]), [], $now, NULL
WHERE NOT EXISTS (SELECT 1 FROM dq_runs WHERE run_id = $run_id);
