-- The last entry: the next seq follows it and chains to its leaf hash.
SELECT seq, leaf_hash FROM audit_entries ORDER BY seq DESC LIMIT 1;
