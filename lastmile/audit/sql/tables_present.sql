-- How many of the audit tables exist already (the schema is applied only when one is missing,
-- so a read-only connection can still open the trail to verify it).
SELECT count(*) FROM duckdb_tables()
WHERE database_name = current_database() AND schema_name = current_schema() AND table_name IN ('audit_entries', 'audit_checkpoints', 'audit_frontier');
