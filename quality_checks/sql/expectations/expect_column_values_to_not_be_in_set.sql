-- A non-null value inside $value_set.
SELECT partition_date, _row, {missing} AS missing, list_contains($value_set, {col}) AS unexpected, {col} AS value
FROM batch
