-- A null (or NaN) is the unexpected value itself; nothing is left out as missing.
SELECT partition_date, _row, false AS missing, {missing} AS unexpected, {col} AS value FROM batch
