-- MERGE, not ON CONFLICT: the same statement runs on DuckLake, which has no keys.
MERGE INTO audit_frontier AS f
USING (SELECT $tree_size::BIGINT AS tree_size, $nodes::VARCHAR AS nodes, $last_path::VARCHAR AS last_path) AS n
ON f.tree_size = n.tree_size
WHEN MATCHED THEN UPDATE SET nodes = n.nodes, last_path = n.last_path
WHEN NOT MATCHED THEN INSERT (tree_size, nodes, last_path) VALUES (n.tree_size, n.nodes, n.last_path);
