INSERT INTO audit_frontier (tree_size, nodes, last_path) VALUES ($tree_size, $nodes, $last_path)
ON CONFLICT (tree_size) DO UPDATE SET nodes = excluded.nodes, last_path = excluded.last_path;
