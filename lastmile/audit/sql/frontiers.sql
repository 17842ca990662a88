-- Every stored frontier, smallest tree first (for `audit verify` to recompute).
SELECT tree_size, nodes, last_path FROM audit_frontier ORDER BY tree_size;
