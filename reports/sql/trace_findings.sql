-- Data-quality findings about the order or any of its entities (the latest run of each partition).
SELECT check_id, severity, entity_kind, entity_id, partition_date, CAST(observed AS VARCHAR) AS observed, run_id,
       detected_at
FROM dq_findings
WHERE order_id = $order_id OR entity_id = $order_id OR list_contains($entity_ids, entity_id)
ORDER BY partition_date, check_id, entity_id;
