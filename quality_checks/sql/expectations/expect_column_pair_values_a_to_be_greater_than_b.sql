-- A row where column A is not greater than (or, with $or_equal, not at least) column B; a comparison with a
-- null is unexpected too. Rows are left out as $ignore_row_if says.
SELECT partition_date, _row,
    CASE $ignore_row_if
        WHEN 'both_values_are_missing' THEN {missing_a} AND {missing_b}
        WHEN 'either_value_is_missing' THEN {missing_a} OR {missing_b}
        ELSE false
    END AS missing,
    coalesce(NOT (CASE WHEN $or_equal THEN {a} >= {b} ELSE {a} > {b} END), true) AS unexpected,
    struct_pack(a := {a}, b := {b}) AS value
FROM batch
