-- Quarantined rows that name the order (the raw record itself is not shown: it may be encrypted).
SELECT quarantine_id, entity, path, row_number, reason, detail, entity_id, run_id, ingested_at,
       raw_artifact_id IS NOT NULL AS raw_encrypted
FROM quarantine
WHERE order_id = $order_id OR entity_id = $order_id
ORDER BY ingested_at, path, row_number;
