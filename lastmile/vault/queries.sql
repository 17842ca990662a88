-- Queries the vault runs, one per `-- name:` section. Values are DuckDB parameters; `vault_batch` is the
-- Arrow table of one batch of freshly sealed artifacts, registered on the connection for one statement.

-- name: needs_pack_migration
SELECT count(*) FILTER (WHERE column_name = 'ciphertext_sha256') > 0
    OR count(*) FILTER (WHERE column_name = 'object_offset') = 0
FROM information_schema.columns
WHERE table_name = 'vault_artifacts' AND table_catalog = current_database() AND table_schema = current_schema();

-- name: migrate_pack_columns
-- A warehouse made before pack files: add the range columns. (Integrity of every ciphertext is the GCM
-- tag's job; the former SHA-256 column cost more than the encryption itself and is dropped.)
ALTER TABLE vault_artifacts ADD COLUMN IF NOT EXISTS object_offset BIGINT;
ALTER TABLE vault_artifacts ADD COLUMN IF NOT EXISTS object_length BIGINT;
ALTER TABLE vault_artifacts DROP COLUMN IF EXISTS ciphertext_sha256;

-- name: registered_keks
SELECT kek_version, key_check FROM vault_keks WHERE retired_at IS NULL ORDER BY kek_version;

-- name: register_kek
INSERT INTO vault_keks (kek_version, key_check, registered_at) VALUES (?, ?, ?);

-- name: registered_hash_keys
SELECT fingerprint FROM vault_hash_keys;

-- name: register_hash_key
INSERT INTO vault_hash_keys (fingerprint, registered_at) VALUES (?, ?);

-- name: replaced_ranges
-- The rows the batch replaces (none, for new artifacts: then the batch is inserted, not merged), with the
-- ranges of their blobs, to be zeroed once the replacement is committed (object_path NULL: inline).
SELECT v.object_path, v.object_offset, v.object_length
FROM vault_artifacts AS v
JOIN vault_batch AS b ON b.artifact_id = v.artifact_id;

-- name: insert_batch
-- A batch of artifacts none of which is in the vault yet (replaced_ranges found none).
INSERT INTO vault_artifacts (artifact_id, artifact_kind, order_id, kek_version, wrapped_key, nonce, ciphertext,
                             object_path, object_offset, object_length, plaintext_size, created_at, purged_at,
                             purged_by_run)
SELECT artifact_id, artifact_kind, order_id, kek_version, wrapped_key, nonce, ciphertext, object_path, object_offset,
       object_length, plaintext_size, created_at, NULL, NULL
FROM vault_batch;

-- name: upsert_batch
-- A replaced artifact's row is overwritten whole (a purged one comes back to life with its new key).
-- MERGE, not ON CONFLICT: the same statement runs on DuckLake, which has no keys.
MERGE INTO vault_artifacts AS v
USING vault_batch AS b
ON v.artifact_id = b.artifact_id
WHEN MATCHED THEN UPDATE SET
    artifact_kind = b.artifact_kind,
    order_id = b.order_id,
    kek_version = b.kek_version,
    wrapped_key = b.wrapped_key,
    nonce = b.nonce,
    ciphertext = b.ciphertext,
    object_path = b.object_path,
    object_offset = b.object_offset,
    object_length = b.object_length,
    plaintext_size = b.plaintext_size,
    created_at = b.created_at,
    purged_at = NULL,
    purged_by_run = NULL
WHEN NOT MATCHED THEN INSERT (artifact_id, artifact_kind, order_id, kek_version, wrapped_key, nonce, ciphertext,
                              object_path, object_offset, object_length, plaintext_size, created_at, purged_at,
                              purged_by_run)
VALUES (b.artifact_id, b.artifact_kind, b.order_id, b.kek_version, b.wrapped_key, b.nonce, b.ciphertext,
        b.object_path, b.object_offset, b.object_length, b.plaintext_size, b.created_at, NULL, NULL);

-- name: live_ranges
-- Which of the given ranges ($1 object paths, $2 offsets, pairwise) a live (unpurged) row still names.
SELECT v.object_path, v.object_offset
FROM vault_artifacts AS v
JOIN (SELECT unnest($1::VARCHAR[]) AS object_path, unnest($2::BIGINT[]) AS object_offset) AS r
  ON v.object_path = r.object_path AND v.object_offset IS NOT DISTINCT FROM r.object_offset
WHERE v.purged_at IS NULL;

-- name: destroy_artifacts
-- Crypto-shred the artifacts named in `vault_ids` (a registered Arrow table of artifact_id): the data key,
-- nonce and inline ciphertext go; the row stays as the tombstone, keeping its range (cleared after commit)
-- and the first purge's time and run. Returns how many rows it touched (unknown ids touch none). The ids
-- are distinct (`destroy_many` sees to it): a plain join, no DISTINCT, which would cost as much again.
UPDATE vault_artifacts AS v
SET wrapped_key = NULL,
    nonce = NULL,
    ciphertext = NULL,
    purged_by_run = CASE WHEN v.purged_at IS NULL THEN $run_id ELSE v.purged_by_run END,
    purged_at = coalesce(v.purged_at, $now)
FROM vault_ids AS i
WHERE v.artifact_id = i.artifact_id;

-- name: destroyed_ranges
-- The pack ranges of the blobs among `vault_ids`, to be cleared once their destruction is committed (a
-- repeated id repeats its range, which clearing merges).
SELECT v.object_path, v.object_offset, v.object_length
FROM vault_artifacts AS v
JOIN vault_ids AS i ON i.artifact_id = v.artifact_id
WHERE v.object_path IS NOT NULL;

-- name: open_artifact
SELECT artifact_kind, kek_version, wrapped_key, nonce, ciphertext, object_path, object_offset, object_length,
       plaintext_size, purged_at, purged_by_run
FROM vault_artifacts
WHERE artifact_id = ?;

-- name: exists_artifact
SELECT count(*) FROM vault_artifacts WHERE artifact_id = ?;
