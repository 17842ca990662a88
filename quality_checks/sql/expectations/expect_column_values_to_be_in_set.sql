-- A non-null value outside $value_set.
SELECT partition_date, _row, {missing} AS missing, NOT list_contains($value_set, {col}) AS unexpected, {col} AS value
FROM batch
