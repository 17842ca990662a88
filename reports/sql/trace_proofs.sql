-- Every accepted proof of the order, with the facts about its blob (never the blob) and its file.
SELECT p.proof_id, p.kind, p.captured_at, p.recorded_at, p.lat, p.lon, p.blob_path, p.sha256, p.blob_present,
       p.blob_size, p.blob_sha256, p.blob_format, p.blob_artifact_id, p.file_id, f.path AS file_path, p.row_number,
       p.run_id
FROM intake_proofs AS p
LEFT JOIN ingest_files AS f ON f.file_id = p.file_id
WHERE p.order_id = $order_id
ORDER BY p.captured_at, p.proof_id;
