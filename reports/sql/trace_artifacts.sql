-- The vault records (no key, no ciphertext) of the order's artifacts: its proofs' blobs and its contact fields.
SELECT artifact_id, artifact_kind, kek_version, plaintext_size, created_at, purged_at, purged_by_run
FROM vault_artifacts
WHERE order_id = $order_id OR list_contains($artifact_ids, artifact_id)
ORDER BY artifact_id;
