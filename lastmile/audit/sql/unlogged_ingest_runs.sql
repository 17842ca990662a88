-- Ingest runs with no `ingest.run` entry in the audit trail (a run killed before it logged itself).
SELECT r.run_id
FROM ingest_runs AS r
WHERE r.run_id <> $current
    AND r.run_id NOT IN (SELECT details->>'run_id' FROM audit_entries WHERE action = 'ingest.run')
ORDER BY r.started_at, r.run_id;
