-- §8 findings of one week: per-partition message checks by partition_date in the week; template checks of
-- the latest evaluation whose partition (the date of as_of) is in the week or, if none, before it.
WITH week_findings AS (
    SELECT check_id, severity, entity_id, order_id, partition_date, observed FROM dq_findings
    WHERE list_contains($check_ids, check_id) AND partition_date BETWEEN $start AND $end
)
SELECT check_id, severity, entity_id, order_id, partition_date, observed FROM week_findings
ORDER BY check_id, partition_date DESC, entity_id;
