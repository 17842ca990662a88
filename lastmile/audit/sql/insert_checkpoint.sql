INSERT INTO audit_checkpoints (tree_size, root_hash, signed_at, key_id, signature)
VALUES ($tree_size, $root_hash, $signed_at, $key_id, $signature);
