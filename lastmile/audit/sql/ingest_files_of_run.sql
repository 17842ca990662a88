-- The file versions one ingest run read (with the SHA-256 of each), and the run's landing folder.
SELECT f.file_id, f.path, f.entity, f.format, f.sha256, f.size_bytes, f.status,
       f.rows_read, f.rows_loaded, f.rows_duplicate, f.rows_revised, f.rows_quarantined
FROM ingest_files AS f
WHERE f.run_id = $run_id
ORDER BY f.path, f.file_id;
