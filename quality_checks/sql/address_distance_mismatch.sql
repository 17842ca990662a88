-- address.distance_mismatch: an attempt-status event with lat/lon more than the threshold from its
-- order's geocode (orders without a geocode are not evaluated).
WITH d AS (
    SELECT e.event_id, e.order_id, e.partition_date, e.lat, e.lon, o.address_lat, o.address_lon,
        haversine_m(e.lat, e.lon, o.address_lat, o.address_lon) AS distance_m
    FROM events AS e
    JOIN orders AS o USING (order_id)
    WHERE e.partition_date BETWEEN $start AND $end
      AND list_contains($attempt, e.status)
      AND e.lat IS NOT NULL AND o.address_lat IS NOT NULL
)
SELECT event_id AS entity_id, order_id, partition_date, distance_m > $distance_m AS failed,
    struct_pack(distance_m := round(distance_m, 1), event_lat := lat, event_lon := lon, address_lat := address_lat, address_lon := address_lon) AS observed
FROM d
