-- Type and validate one file's orders. Input: view _raw (VARCHAR columns and _row; the loader has
-- already replaced the contact fields by keyed hashes and shape flags, so no plaintext reaches SQL).
-- Output: the typed rows (see validate_events.sql).
WITH r AS (
    SELECT _row,
        NULLIF(order_id, '') AS order_id, NULLIF(created_at, '') AS created_at_s,
        NULLIF(service_type, '') AS service_type, NULLIF(depot_id, '') AS depot_id,
        NULLIF(zone_id, '') AS zone_id, NULLIF(address_line, '') AS address_line,
        NULLIF(postcode, '') AS postcode, NULLIF(city, '') AS city, NULLIF(country, '') AS country_s,
        NULLIF(address_lat, '') AS address_lat_s, NULLIF(address_lon, '') AS address_lon_s,
        NULLIF(window_start, '') AS window_start_s, NULLIF(window_end, '') AS window_end_s,
        NULLIF(partner_id, '') AS partner_id, NULLIF(partner_tracking_number, '') AS partner_tracking_number,
        NULLIF(order_type, '') AS order_type_s, NULLIF(original_order_id, '') AS original_order_id,
        has_recipient_name, recipient_name_hash, recipient_phone_hash, recipient_email_hash,
        recipient_phone_possible, recipient_email_valid
    FROM _raw
), t AS (
    SELECT *,
        TRY_CAST(created_at_s AS TIMESTAMPTZ) AS created_at,
        upper(trim(country_s)) AS country,
        TRY_CAST(address_lat_s AS DOUBLE) AS address_lat,
        TRY_CAST(address_lon_s AS DOUBLE) AS address_lon,
        TRY_CAST(window_start_s AS TIMESTAMPTZ) AS window_start,
        TRY_CAST(window_end_s AS TIMESTAMPTZ) AS window_end,
        coalesce(order_type_s, 'delivery') AS order_type
    FROM r
), d AS (
    -- The local day, computed once per row (a TIMESTAMPTZ's date in the network's time zone costs a
    -- calendar lookup; written out in each branch below it was computed four times).
    SELECT *, created_at::DATE AS partition_date FROM t
)
SELECT *, order_id AS key,
    CASE
        WHEN order_id IS NULL THEN ['missing_required', 'order_id']
        WHEN created_at_s IS NULL THEN ['missing_required', 'created_at']
        WHEN created_at IS NULL THEN ['bad_timestamp', 'created_at: ' || created_at_s]
        WHEN service_type IS NULL THEN ['missing_required', 'service_type']
        WHEN NOT list_contains($service_types, service_type)
            THEN ['unknown_service_type', 'service_type: ' || service_type]
        WHEN depot_id IS NULL THEN ['missing_required', 'depot_id']
        WHEN zone_id IS NULL THEN ['missing_required', 'zone_id']
        WHEN address_line IS NULL THEN ['missing_required', 'address_line']
        WHEN postcode IS NULL THEN ['missing_required', 'postcode']
        WHEN city IS NULL THEN ['missing_required', 'city']
        WHEN country_s IS NULL THEN ['missing_required', 'country']
        WHEN NOT list_contains($countries, country) THEN ['unknown_country', 'country: ' || country_s]
        WHEN address_lat_s IS NOT NULL
            AND (address_lat IS NULL OR NOT isfinite(address_lat) OR abs(address_lat) > 90)
            THEN ['bad_number', 'address_lat: ' || address_lat_s]
        WHEN address_lon_s IS NOT NULL
            AND (address_lon IS NULL OR NOT isfinite(address_lon) OR abs(address_lon) > 180)
            THEN ['bad_number', 'address_lon: ' || address_lon_s]
        WHEN (address_lat IS NULL) <> (address_lon IS NULL)
            THEN ['partial_coordinates',
                  CASE WHEN address_lat IS NULL THEN 'address_lon without address_lat'
                       ELSE 'address_lat without address_lon' END]
        WHEN window_start_s IS NOT NULL AND window_start IS NULL
            THEN ['bad_timestamp', 'window_start: ' || window_start_s]
        WHEN window_end_s IS NOT NULL AND window_end IS NULL
            THEN ['bad_timestamp', 'window_end: ' || window_end_s]
        WHEN (window_start IS NULL) <> (window_end IS NULL)
            THEN ['partial_window',
                  CASE WHEN window_start IS NULL THEN 'window_end without window_start'
                       ELSE 'window_start without window_end' END]
        WHEN window_start >= window_end
            THEN ['window_not_ordered', 'window_start ' || window_start_s || ' >= window_end ' || window_end_s]
        WHEN partner_id IS NOT NULL AND partner_tracking_number IS NULL
            THEN ['missing_required', 'partner_tracking_number']
        WHEN NOT list_contains($order_types, order_type) THEN ['unknown_order_type', 'order_type: ' || order_type_s]
        WHEN order_type = 'return_pickup' AND original_order_id IS NULL
            THEN ['missing_required', 'original_order_id']
        WHEN partition_date NOT BETWEEN coalesce($first_day::DATE, partition_date) AND coalesce($last_day::DATE, partition_date)
            THEN ['outside_partitions', 'created_at: ' || created_at_s || ' is on ' || partition_date::VARCHAR
                  || ', outside the daily partitions ' || $first_day::DATE::VARCHAR || '..' || $last_day::DATE::VARCHAR]
        ELSE NULL
    END AS fault,
    md5(concat_ws(chr(31), order_id, epoch_us(created_at), service_type, depot_id, zone_id, address_line,
        postcode, city, country, coalesce(address_lat::VARCHAR, chr(0)), coalesce(address_lon::VARCHAR, chr(0)),
        coalesce(epoch_us(window_start)::VARCHAR, chr(0)), coalesce(epoch_us(window_end)::VARCHAR, chr(0)),
        coalesce(partner_id, chr(0)), coalesce(partner_tracking_number, chr(0)),
        coalesce(recipient_name_hash, chr(0)), coalesce(recipient_phone_hash, chr(0)),
        coalesce(recipient_email_hash, chr(0)),
        -- order_type/original_order_id enter the hash only when set (NULL is skipped), so an order loaded
        -- before these columns existed is still a duplicate of the same row sent again.
        'order_type=' || NULLIF(order_type, 'delivery'), 'original_order_id=' || original_order_id)) AS content_hash
FROM d;
