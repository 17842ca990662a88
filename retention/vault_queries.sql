-- Queries the vault runs, one per `-- name:` section. Values are DuckDB parameters; `vault_batch` is the
-- Arrow table of one batch of freshly sealed artifacts, registered on the connection for one statement.

-- name: transaction_id
SELECT txid_current();

-- name: registered_keks
SELECT kek_version, key_check FROM vault_keks WHERE retired_at IS NULL ORDER BY kek_version;

-- name: register_kek
INSERT INTO vault_keks (kek_version, key_check, registered_at) VALUES (?, ?, ?);

-- name: registered_hash_keys
SELECT fingerprint FROM vault_hash_keys;

-- name: register_hash_key
INSERT INTO vault_hash_keys (fingerprint, registered_at) VALUES (?, ?);

-- name: delete_replaced
DELETE FROM vault_artifacts
WHERE artifact_id IN (SELECT artifact_id FROM vault_batch)
RETURNING object_path;

-- name: insert_batch
INSERT INTO vault_artifacts BY NAME
SELECT artifact_id, artifact_kind, order_id, kek_version, wrapped_key, nonce, ciphertext, object_path,
       plaintext_size, ciphertext_sha256, created_at
FROM vault_batch;

-- name: object_paths_in_use
SELECT object_path FROM vault_artifacts WHERE object_path IN (SELECT unnest(?::VARCHAR[]));

-- name: open_artifact
SELECT artifact_kind, kek_version, wrapped_key, nonce, ciphertext, object_path, plaintext_size,
       ciphertext_sha256, purged_at, purged_by_run
FROM vault_artifacts
WHERE artifact_id = ?;

-- name: exists_artifact
SELECT count(*) FROM vault_artifacts WHERE artifact_id = ?;
