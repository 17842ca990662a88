-- Seq and stored leaf hash of the first $limit entries, in seq order.
SELECT seq, leaf_hash FROM audit_entries ORDER BY seq LIMIT $limit;
