-- Type and validate one file's events. Input: view _raw (every column VARCHAR, plus _row).
-- Output: the typed rows, with `key`, and `fault` = [reason, detail] or NULL.
-- A pure query of _raw and the parameters (no warehouse table): the ingest runs it on its read-ahead
-- thread, and the loader keeps its result as temp table _checked.
WITH r AS (
    SELECT _row,
        NULLIF(event_id, '') AS event_id, NULLIF(order_id, '') AS order_id,
        NULLIF(status, '') AS status, NULLIF(exception_code, '') AS exception_code,
        NULLIF(occurred_at, '') AS occurred_at_s, NULLIF(recorded_at, '') AS recorded_at_s,
        NULLIF(courier_id, '') AS courier_id, NULLIF(source, '') AS source,
        NULLIF(lat, '') AS lat_s, NULLIF(lon, '') AS lon_s
    FROM _raw
), t AS (
    SELECT *,
        TRY_CAST(occurred_at_s AS TIMESTAMPTZ) AS occurred_at,
        TRY_CAST(recorded_at_s AS TIMESTAMPTZ) AS recorded_at,
        TRY_CAST(lat_s AS DOUBLE) AS lat,
        TRY_CAST(lon_s AS DOUBLE) AS lon
    FROM r
), d AS (
    -- The local day, computed once per row (a TIMESTAMPTZ's date in the network's time zone costs a
    -- calendar lookup; written out in each branch below it was computed four times).
    SELECT *, occurred_at::DATE AS partition_date FROM t
)
SELECT *, event_id AS key,
    CASE
        WHEN event_id IS NULL THEN ['missing_required', 'event_id']
        WHEN order_id IS NULL THEN ['missing_required', 'order_id']
        WHEN status IS NULL THEN ['missing_required', 'status']
        WHEN NOT list_contains($statuses, status) THEN ['unknown_status', 'status: ' || status]
        WHEN occurred_at_s IS NULL THEN ['missing_required', 'occurred_at']
        WHEN occurred_at IS NULL THEN ['bad_timestamp', 'occurred_at: ' || occurred_at_s]
        WHEN recorded_at_s IS NULL THEN ['missing_required', 'recorded_at']
        WHEN recorded_at IS NULL THEN ['bad_timestamp', 'recorded_at: ' || recorded_at_s]
        WHEN source IS NULL THEN ['missing_required', 'source']
        WHEN NOT (list_contains($sources, source) OR regexp_full_match(source, 'partner:\S+'))
            THEN ['unknown_source', 'source: ' || source]
        WHEN lat_s IS NOT NULL AND (lat IS NULL OR NOT isfinite(lat) OR abs(lat) > 90)
            THEN ['bad_number', 'lat: ' || lat_s]
        WHEN lon_s IS NOT NULL AND (lon IS NULL OR NOT isfinite(lon) OR abs(lon) > 180)
            THEN ['bad_number', 'lon: ' || lon_s]
        WHEN (lat IS NULL) <> (lon IS NULL)
            THEN ['partial_coordinates', CASE WHEN lat IS NULL THEN 'lon without lat' ELSE 'lat without lon' END]
        WHEN partition_date NOT BETWEEN coalesce($first_day::DATE, partition_date) AND coalesce($last_day::DATE, partition_date)
            THEN ['outside_partitions', 'occurred_at: ' || occurred_at_s || ' is on ' || partition_date::VARCHAR
                  || ', outside the daily partitions ' || $first_day::DATE::VARCHAR || '..' || $last_day::DATE::VARCHAR]
        ELSE NULL
    END AS fault,
    md5(concat_ws(chr(31), event_id, order_id, status, coalesce(exception_code, chr(0)),
        epoch_us(occurred_at), epoch_us(recorded_at), coalesce(courier_id, chr(0)), source,
        coalesce(lat::VARCHAR, chr(0)), coalesce(lon::VARCHAR, chr(0)))) AS content_hash
FROM d;
