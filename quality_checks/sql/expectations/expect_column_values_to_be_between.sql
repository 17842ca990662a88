-- A non-null value below $min_value or above $max_value (either may be null: no bound on that side);
-- $strict_min / $strict_max exclude the bound itself.
SELECT partition_date, _row, {missing} AS missing,
    NOT (
        ($min_value IS NULL OR (CASE WHEN $strict_min THEN {col} > $min_value ELSE {col} >= $min_value END))
        AND ($max_value IS NULL OR (CASE WHEN $strict_max THEN {col} < $max_value ELSE {col} <= $max_value END))
    ) AS unexpected,
    {col} AS value
FROM batch
