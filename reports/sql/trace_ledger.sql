-- Retention decisions about the order's artifacts, newest run last.
SELECT run_id, artifact_id, artifact_kind, action, reason, policy_version, as_of, clock_start, due_at, hold_id
FROM retention_ledger
WHERE order_id = $order_id OR list_contains($artifact_ids, artifact_id)
ORDER BY as_of, run_id, artifact_id;
