-- A non-null value in which $regex (translated to RE2 with Python's meaning) finds a match.
SELECT partition_date, _row, {missing} AS missing, regexp_matches({col}, $regex) AS unexpected, {col} AS value
FROM batch
