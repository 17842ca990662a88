-- One ingest run's totals.
SELECT landing, files_seen, files_new, rows_read, rows_loaded, rows_duplicate, rows_revised, rows_quarantined
FROM ingest_runs
WHERE run_id = $run_id;
