-- The verified frontier stored with the checkpoint of $tree_size entries.
SELECT nodes, last_path FROM audit_frontier WHERE tree_size = $tree_size;
