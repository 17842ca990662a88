-- Every signed tree head, smallest tree first.
SELECT tree_size, root_hash, signed_at, key_id, signature FROM audit_checkpoints ORDER BY tree_size;
