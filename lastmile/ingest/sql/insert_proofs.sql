-- _blobs(_row, blob_present, blob_size, blob_sha256, blob_format, blob_artifact_id) comes from the
-- loader, which read and sealed each loaded proof's blob.
INSERT INTO intake_proofs
SELECT c.proof_id, c.order_id, c.kind, c.captured_at, c.recorded_at, c.lat, c.lon, c.blob_path, c.sha256,
    coalesce(b.blob_present, FALSE), b.blob_size, b.blob_sha256, b.blob_format, b.blob_artifact_id,
    c.content_hash, c.partition_date, $file_id, c._row, $run_id, $now
FROM _checked AS c
JOIN _classified AS k USING (_row)
LEFT JOIN _blobs AS b USING (_row)
WHERE k.outcome = 'loaded';
