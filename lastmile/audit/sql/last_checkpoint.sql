-- The signed tree head of the largest tree.
SELECT tree_size, root_hash, signed_at, key_id, signature FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1;
