-- What opening one proof needs to know: its order and kind, where its blob is, and whether it was purged.
SELECT p.proof_id, p.order_id, p.kind, p.blob_present, p.blob_format, p.blob_artifact_id,
       v.artifact_id IS NOT NULL AS sealed, v.purged_at, v.purged_by_run
FROM intake_proofs AS p
LEFT JOIN vault_artifacts AS v ON v.artifact_id = p.blob_artifact_id
WHERE p.proof_id = $proof_id;
