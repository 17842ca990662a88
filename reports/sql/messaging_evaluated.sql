-- How many entities each §8 check evaluated in the week (latest run per partition).
SELECT check_id, sum(evaluated) AS evaluated, sum(failed) AS failed FROM (
    SELECT check_id, partition_date, arg_max(evaluated, finished_at) AS evaluated, arg_max(failed, finished_at) AS failed
    FROM dq_check_runs
    WHERE list_contains($check_ids, check_id) AND partition_date BETWEEN $start AND $end
    GROUP BY check_id, partition_date
) GROUP BY check_id;
