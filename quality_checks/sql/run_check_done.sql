-- One check of a run has recorded its findings and history; the run is finished once all it asked for have.
INSERT INTO dq_runs VALUES ($run_id, list_sort($expected::VARCHAR[]), [], $now, NULL) ON CONFLICT DO NOTHING;
UPDATE dq_runs
SET checks_done = list_sort(list_distinct(list_append(checks_done, $check_id))),
    finished_at = CASE
        WHEN finished_at IS NULL AND list_has_all(list_append(checks_done, $check_id), checks_expected) THEN $now
        ELSE finished_at
    END
WHERE run_id = $run_id;
