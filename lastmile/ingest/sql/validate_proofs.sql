-- Type and validate one file's proofs. Input: view _raw (VARCHAR columns, _row, _blob_escape BOOLEAN
-- computed by the loader from the filesystem). Output: the typed rows (see validate_events.sql).
WITH r AS (
    SELECT _row, _blob_escape,
        NULLIF(proof_id, '') AS proof_id, NULLIF(order_id, '') AS order_id, NULLIF(kind, '') AS kind,
        NULLIF(captured_at, '') AS captured_at_s, NULLIF(recorded_at, '') AS recorded_at_s,
        NULLIF(lat, '') AS lat_s, NULLIF(lon, '') AS lon_s,
        NULLIF(blob_path, '') AS blob_path, NULLIF(sha256, '') AS sha256
    FROM _raw
), t AS (
    SELECT *,
        TRY_CAST(captured_at_s AS TIMESTAMPTZ) AS captured_at,
        TRY_CAST(recorded_at_s AS TIMESTAMPTZ) AS recorded_at,
        TRY_CAST(lat_s AS DOUBLE) AS lat,
        TRY_CAST(lon_s AS DOUBLE) AS lon
    FROM r
), d AS (
    -- The local day, computed once per row (a TIMESTAMPTZ's date in the network's time zone costs a
    -- calendar lookup; written out in each branch below it was computed four times).
    SELECT *, captured_at::DATE AS partition_date FROM t
)
SELECT *, proof_id AS key,
    CASE
        WHEN proof_id IS NULL THEN ['missing_required', 'proof_id']
        WHEN order_id IS NULL THEN ['missing_required', 'order_id']
        WHEN kind IS NULL THEN ['missing_required', 'kind']
        WHEN NOT list_contains($kinds, kind) THEN ['unknown_kind', 'kind: ' || kind]
        WHEN captured_at_s IS NULL THEN ['missing_required', 'captured_at']
        WHEN captured_at IS NULL THEN ['bad_timestamp', 'captured_at: ' || captured_at_s]
        WHEN recorded_at_s IS NULL THEN ['missing_required', 'recorded_at']
        WHEN recorded_at IS NULL THEN ['bad_timestamp', 'recorded_at: ' || recorded_at_s]
        WHEN lat_s IS NOT NULL AND (lat IS NULL OR NOT isfinite(lat) OR abs(lat) > 90)
            THEN ['bad_number', 'lat: ' || lat_s]
        WHEN lon_s IS NOT NULL AND (lon IS NULL OR NOT isfinite(lon) OR abs(lon) > 180)
            THEN ['bad_number', 'lon: ' || lon_s]
        WHEN (lat IS NULL) <> (lon IS NULL)
            THEN ['partial_coordinates', CASE WHEN lat IS NULL THEN 'lon without lat' ELSE 'lat without lon' END]
        WHEN _blob_escape THEN ['blob_path_escape', 'blob_path: ' || blob_path]
        WHEN partition_date NOT BETWEEN coalesce($first_day::DATE, partition_date) AND coalesce($last_day::DATE, partition_date)
            THEN ['outside_partitions', 'captured_at: ' || captured_at_s || ' is on ' || partition_date::VARCHAR
                  || ', outside the daily partitions ' || $first_day::DATE::VARCHAR || '..' || $last_day::DATE::VARCHAR]
        ELSE NULL
    END AS fault,
    md5(concat_ws(chr(31), proof_id, order_id, kind, epoch_us(captured_at), epoch_us(recorded_at),
        coalesce(lat::VARCHAR, chr(0)), coalesce(lon::VARCHAR, chr(0)),
        coalesce(blob_path, chr(0)), coalesce(sha256, chr(0)))) AS content_hash
FROM d;
