-- The whole consents table as one batch for its expectation suite, in table order, dated $day (as_of's day).
CREATE OR REPLACE TEMP TABLE _suite_consents AS
SELECT * REPLACE ($day::DATE AS partition_date) FROM consents ORDER BY rowid;
