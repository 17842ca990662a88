-- One check of a run (started by run_started.sql) has recorded its findings and history; the run is
-- finished once every check it asked for has.
UPDATE dq_runs
SET checks_done = list_sort(list_distinct(list_append(checks_done, $check_id))),
    finished_at = CASE
        WHEN finished_at IS NULL AND list_has_all(list_append(checks_done, $check_id), checks_expected) THEN $now
        ELSE finished_at
    END
WHERE run_id = $run_id;
