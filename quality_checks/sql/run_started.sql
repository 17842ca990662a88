-- A run of checks has started (its row exists before any check of it writes history).
INSERT INTO dq_runs VALUES ($run_id, list_sort($expected::VARCHAR[]), [], $now, NULL) ON CONFLICT DO NOTHING;
