-- A non-null value in which $regex (translated to RE2 with Python's meaning) finds no match.
SELECT partition_date, _row, {missing} AS missing, NOT regexp_matches({col}, $regex) AS unexpected, {col} AS value
FROM batch
