-- An ingest run has started (a guarded insert: the same statement runs on DuckLake, which has no keys).
INSERT INTO ingest_runs (run_id, landing, started_at)
SELECT $run_id, $landing, $now WHERE NOT EXISTS (SELECT 1 FROM ingest_runs WHERE run_id = $run_id);
