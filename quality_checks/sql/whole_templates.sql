-- The whole template registry as one batch for its expectation suite, in table order, dated $day (as_of's day).
CREATE OR REPLACE TEMP TABLE _suite_templates AS
SELECT *, $day::DATE AS partition_date FROM templates ORDER BY rowid;
