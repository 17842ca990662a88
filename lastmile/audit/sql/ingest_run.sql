-- One ingest run's totals (NULL, and finished_at NULL, for a run that was killed before it finished).
SELECT landing, files_seen, files_new, rows_read, rows_loaded, rows_duplicate, rows_revised, rows_quarantined,
    finished_at
FROM ingest_runs
WHERE run_id = $run_id;
