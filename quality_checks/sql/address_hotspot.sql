-- address.hotspot: per zone and per courier over the D days before as_of, among attempt-status events
-- with lat/lon on geocoded orders: z = (f/n - p) / sqrt(p(1-p)/n) above the threshold and f at least
-- the minimum, where f counts address.distance_mismatch failures and p is the share over all such events.
WITH a AS (
    SELECT o.zone_id, e.courier_id,
        haversine_m(e.lat, e.lon, o.address_lat, o.address_lon) > $distance_m AS mismatch
    FROM events AS e
    JOIN orders AS o USING (order_id)
    WHERE list_contains($attempt, e.status)
      AND e.lat IS NOT NULL AND o.address_lat IS NOT NULL
      AND e.occurred_at > plus_days($as_of, -$days, $tz) AND e.occurred_at <= $as_of
), total AS (
    SELECT count_if(mismatch) / count(*) AS p FROM a
), g AS (
    SELECT 'zone:' || zone_id AS entity_id, count(*) AS n, count_if(mismatch) AS f FROM a GROUP BY zone_id
    UNION ALL
    SELECT 'courier:' || courier_id, count(*), count_if(mismatch) FROM a WHERE courier_id IS NOT NULL
    GROUP BY courier_id
), z AS (
    SELECT g.*, total.p,
        CASE WHEN total.p > 0 AND total.p < 1 THEN (g.f / g.n - total.p) / sqrt(total.p * (1 - total.p) / g.n) END
            AS z
    FROM g, total
)
SELECT entity_id, NULL::VARCHAR AS order_id, $as_of::DATE AS partition_date,
    coalesce(z > $z AND f >= $min_failures, FALSE) AS failed,
    struct_pack(n := n, f := f, p := p, z := z) AS observed
FROM z
