-- Replace the rows of the computed weeks (delete-then-insert; the caller holds one transaction).
DELETE FROM kpi_weekly WHERE week_start IN (SELECT unnest($replace::DATE[]));
INSERT INTO kpi_weekly
SELECT week_start, kpi_id, dimension, dimension_value, numerator, denominator, value, $definition_version
FROM _kpi
ORDER BY week_start, kpi_id, dimension, dimension_value;
DROP TABLE IF EXISTS _kpi;
DROP TABLE IF EXISTS _kpi_events;
DROP TABLE IF EXISTS _kpi_weeks;
DROP TABLE IF EXISTS _kpi_orders;
DROP TABLE IF EXISTS _kpi_candidates;
