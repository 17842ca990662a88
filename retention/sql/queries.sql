-- Queries of the retention package, one per `-- name:` section, values as DuckDB $named parameters.

-- name: live_versions
SELECT kek_version, count(*) AS live FROM vault_artifacts WHERE purged_at IS NULL GROUP BY kek_version;

-- name: purged_versions
SELECT kek_version, count(*) AS purged FROM vault_artifacts WHERE purged_at IS NOT NULL GROUP BY kek_version;

-- name: registered
SELECT kek_version, registered_at, retired_at FROM vault_keks ORDER BY kek_version;

-- name: kek_lines
SELECT kek_version, line, period, created_at, created_by_run, destroyed_at, destroyed_by FROM retention_keks;

-- name: register_kek
INSERT INTO vault_keks (kek_version, key_check, registered_at)
SELECT $version, $check, $now WHERE NOT EXISTS (SELECT 1 FROM vault_keks WHERE kek_version = $version);

-- name: record_kek
INSERT INTO retention_keks (kek_version, line, period, created_at, created_by_run)
SELECT $version, $line, $period, $now, $run_id
WHERE NOT EXISTS (SELECT 1 FROM retention_keks WHERE kek_version = $version);

-- name: live_using
SELECT count(*) FROM vault_artifacts WHERE purged_at IS NULL AND kek_version = $version;

-- name: mark_destroyed
UPDATE vault_keks SET retired_at = coalesce(retired_at, $now) WHERE kek_version = $version;

-- name: mark_destroyed_line
MERGE INTO retention_keks AS k
USING (SELECT $version::INTEGER AS kek_version, $now::TIMESTAMPTZ AS at, $by::VARCHAR AS by) AS n
ON k.kek_version = n.kek_version
WHEN MATCHED THEN UPDATE SET destroyed_at = coalesce(k.destroyed_at, n.at), destroyed_by = coalesce(k.destroyed_by, n.by)
WHEN NOT MATCHED THEN INSERT (kek_version, line, period, created_at, destroyed_at, destroyed_by)
VALUES (n.kek_version, 'intake', NULL, n.at, n.at, n.by);

-- name: retired_versions
SELECT kek_version FROM vault_keks WHERE retired_at IS NOT NULL;

-- name: to_rewrap_intake
-- Live data keys under an intake-line KEK other than $current (for `keys rewrap`).
SELECT v.artifact_id, v.artifact_kind, v.kek_version, v.wrapped_key, $current AS target
FROM vault_artifacts AS v
LEFT JOIN retention_keks AS k ON k.kek_version = v.kek_version
WHERE v.purged_at IS NULL AND v.kek_version <> $current AND coalesce(k.line, 'intake') = 'intake';

-- name: dirty_expiry
-- Expiry keys not yet destroyed that wrapped a purged artifact's data key and still wrap live ones.
SELECT DISTINCT k.kek_version, k.period
FROM retention_keks AS k
WHERE k.line = 'expiry' AND k.destroyed_at IS NULL
  AND EXISTS (SELECT 1 FROM vault_artifacts v WHERE v.kek_version = k.kek_version AND v.purged_at IS NOT NULL)
  AND EXISTS (SELECT 1 FROM vault_artifacts v WHERE v.kek_version = k.kek_version AND v.purged_at IS NULL);

-- name: current_expiry
-- The live expiry key of each period (the newest not destroyed) that no purged artifact used.
SELECT period, max(kek_version) AS kek_version
FROM retention_keks AS k
WHERE line = 'expiry' AND destroyed_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM vault_artifacts v WHERE v.kek_version = k.kek_version AND v.purged_at IS NOT NULL)
GROUP BY period;

-- name: live_periods
SELECT DISTINCT due_at::DATE AS period FROM _retention_plan WHERE action <> 'purged';

-- name: to_rewrap_expiry
-- Live artifacts not under the expiry key of their due day (_expiry_targets: period -> kek_version).
SELECT p.artifact_id, p.artifact_kind, v.kek_version, v.wrapped_key, t.kek_version AS target
FROM _retention_plan AS p
JOIN vault_artifacts AS v ON v.artifact_id = p.artifact_id AND v.purged_at IS NULL
JOIN _expiry_targets AS t ON t.period = p.due_at::DATE
WHERE v.kek_version <> t.kek_version;

-- name: apply_rewrap
UPDATE vault_artifacts AS v
SET kek_version = b.kek_version, wrapped_key = b.wrapped_key
FROM _rewrap_batch AS b
WHERE v.artifact_id = b.artifact_id AND v.purged_at IS NULL AND v.kek_version = b.old_version;

-- name: start_run
INSERT INTO retention_runs (run_id, as_of, policy_version, policy_hash, policy_source, actor, started_at, status)
VALUES ($run_id, $as_of, $policy_version, $policy_hash, $policy_source, $actor, $now, 'started');

-- name: write_intent
-- Times in the reasons are wall-clock times of the session time zone (the network's), as strftime(%Z) of
-- the TIMESTAMPTZ would print them; but the time-zone conversion (ICU, costly per value) runs once per
-- distinct minute of the plan (`offsets`: that minute's UTC offset), and each row adds its minute's offset.
INSERT INTO retention_ledger (run_id, artifact_id, artifact_kind, order_id, action, reason, policy_version, as_of,
                              clock_start, due_at, hold_id)
WITH minuted AS (
    SELECT *,
        (epoch_us(due_at) - ((epoch_us(due_at) % 60000000 + 60000000) % 60000000)) // 60000000 AS due_min,
        (epoch_us(clock_start) - ((epoch_us(clock_start) % 60000000 + 60000000) % 60000000)) // 60000000
            AS start_min
    FROM _retention_plan
),
offsets AS (
    SELECT m, epoch_us(timezone(current_setting('TimeZone'), to_timestamp(m * 60))) - m * 60000000 AS off_us
    FROM (SELECT due_min AS m FROM minuted UNION SELECT start_min FROM minuted WHERE action = 'purged')
),
shown AS (
    SELECT p.*,
        strftime(make_timestamp(epoch_us(p.due_at) + d.off_us), '%Y-%m-%d %H:%M:%S') || ' '
            || current_setting('TimeZone') AS due_text,
        strftime(make_timestamp(epoch_us(p.clock_start) + s.off_us), '%Y-%m-%d %H:%M:%S') AS start_text
    FROM minuted AS p
    JOIN offsets AS d ON d.m = p.due_min
    LEFT JOIN offsets AS s ON s.m = p.start_min AND p.action = 'purged'
)
SELECT $run_id, artifact_id, artifact_kind, order_id,
    CASE action WHEN 'purged' THEN 'purging' ELSE action END,
    CASE action
        WHEN 'held' THEN 'due ' || due_text || '; under legal hold ' || hold_id || ': ' || hold_reason
        WHEN 'purged' THEN 'due ' || due_text || ' (' || clock_basis || ' ' || start_text || ' + ' || retention_days
            || ' days)'
        ELSE 'not due until ' || due_text
    END,
    $policy_version, $as_of, clock_start, due_at, hold_id
FROM shown;

-- name: unfinished_runs
SELECT run_id, as_of FROM retention_runs WHERE status <> 'finished' ORDER BY started_at, run_id;

-- name: run_blob_ranges
-- The pack ranges of every blob the run purges or has purged (the ciphertext its intent commits to remove):
-- an intent's current range, and a purged row's range while the vault row is still the purged one (an
-- artifact sealed again since, alive with a new range, keeps it). Only blob kinds ($blob_kinds) have
-- ranges: filtering the ledger on them first keeps a run of a million inline contacts from joining them
-- all to find none.
SELECT v.object_path, v.object_offset, v.object_length
FROM retention_ledger AS l
JOIN vault_artifacts AS v ON v.artifact_id = l.artifact_id
WHERE l.run_id = $run_id AND l.action IN ('purging', 'purged') AND list_contains($blob_kinds, l.artifact_kind)
  AND v.object_path IS NOT NULL AND (l.action = 'purging' OR v.purged_at IS NOT NULL);

-- name: unreclaimed_runs
-- Finished runs whose purged blobs' blocks have not been freed yet (oldest first).
SELECT r.run_id
FROM retention_runs AS r
WHERE r.status = 'finished' AND NOT EXISTS (SELECT 1 FROM retention_reclaims AS c WHERE c.run_id = r.run_id)
ORDER BY r.started_at, r.run_id;

-- name: record_reclaim
INSERT INTO retention_reclaims (run_id, reclaimed_at, ranges, bytes)
SELECT $run_id, $now, $ranges, $bytes
WHERE NOT EXISTS (SELECT 1 FROM retention_reclaims WHERE run_id = $run_id);

-- name: intent_count
SELECT count(*) FROM retention_ledger WHERE run_id = $run_id AND action = 'purging';

-- name: intent_batch
-- Up to $limit of the run's intents not yet carried out (any order: each batch is marked purged before
-- the next is read).
SELECT artifact_id FROM retention_ledger WHERE run_id = $run_id AND action = 'purging' LIMIT $limit;

-- name: mark_purged
-- The batch `_purged_batch` (artifact_id, an Arrow table) is destroyed: its intents become 'purged'.
UPDATE retention_ledger AS l SET action = 'purged'
FROM _purged_batch AS b
WHERE l.run_id = $run_id AND l.action = 'purging' AND l.artifact_id = b.artifact_id;

-- name: mark_all_purged
-- Every intent of the run left is destroyed (the last batch held them all): they become 'purged'.
UPDATE retention_ledger SET action = 'purged' WHERE run_id = $run_id AND action = 'purging';

-- name: run_counts
SELECT action, artifact_kind, count(*) FROM retention_ledger WHERE run_id = $run_id GROUP BY ALL ORDER BY ALL;

-- name: purged_ids
-- The run's purged artifact ids as UTF-8 bytes, in code-point order (VARCHAR compares
-- bytewise, and UTF-8 keeps code-point order): the certificate's Merkle leaves, in order.
-- (A run's ledger has one row per artifact: it is written once, from the plan's one row per vault artifact;
-- a row duplicated afterwards changes the root, which `retention verify` then reports.)
SELECT encode(artifact_id) AS id_utf8
FROM retention_ledger
WHERE run_id = $run_id AND action = 'purged'
ORDER BY artifact_id;

-- name: run_row
SELECT run_id, as_of, policy_version, policy_hash, policy_source, actor, started_at, finished_at, status, purged,
       held, retained, merkle_root, certificate_path, certificate_sha256, keks_destroyed
FROM retention_runs WHERE run_id = $run_id;

-- name: finish_run
UPDATE retention_runs
SET status = 'finished', finished_at = $now, purged = $purged, held = $held, retained = $retained,
    merkle_root = $root, certificate_path = $path, certificate_sha256 = $sha, keks_destroyed = $keks
WHERE run_id = $run_id;

-- name: note_keks
UPDATE retention_runs SET keks_destroyed = $keks WHERE run_id = $run_id;

-- name: purged_state
-- For verification: each purged artifact of a run, with what the vault still holds of it.
SELECT l.artifact_id, v.artifact_id IS NOT NULL AS in_vault, v.purged_at, v.purged_by_run,
       v.wrapped_key IS NULL AND v.nonce IS NULL AND v.ciphertext IS NULL AS keys_gone,
       v.kek_version, v.object_path, v.object_offset, v.object_length
FROM retention_ledger AS l
LEFT JOIN vault_artifacts AS v ON v.artifact_id = l.artifact_id
WHERE l.run_id = $run_id AND l.action = 'purged'
ORDER BY l.artifact_id;
