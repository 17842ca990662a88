-- Replace this check's findings for the evaluated partitions and add one history row per partition.
DELETE FROM dq_findings
WHERE check_id = $check_id AND partition_date IN (SELECT unnest($dates::DATE[]));
INSERT INTO dq_findings
SELECT $check_id, $severity, $entity_kind, entity_id, order_id, partition_date, observed, $run_id, $now
FROM _eval WHERE failed IS TRUE;
INSERT INTO dq_check_runs
SELECT $run_id, $check_id, d.day, count(_eval.partition_date), coalesce(count_if(_eval.failed), 0), $started_at, $now,
    $as_of
FROM (SELECT unnest($dates::DATE[]) AS day) AS d
LEFT JOIN _eval ON _eval.partition_date = d.day
GROUP BY d.day;
