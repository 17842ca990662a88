-- Which of the tables a trace may read exist in this warehouse (later domains create some of them).
SELECT table_name FROM duckdb_tables()
WHERE database_name = current_database() AND schema_name = 'main' AND list_contains($names, table_name);
