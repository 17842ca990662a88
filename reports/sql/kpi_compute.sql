-- Every KPI of CONTRACT §5 and §9 for the weeks in $weeks, into the temp table _kpi (shape of kpi_weekly).
-- Reads _kpi_orders (kpi_orders.sql). Events are pre-filtered on partition_date (a day either side, in
-- case the network timezone changed after publishing) and then placed in weeks by occurred_at.
CREATE OR REPLACE TEMP TABLE _kpi_weeks AS SELECT DISTINCT unnest($weeks::DATE[]) AS week_start;
CREATE OR REPLACE TEMP TABLE _kpi_events AS
SELECT e.order_id, e.status, e.exception_code, e.occurred_at, e.recorded_at, e.courier_id, e.lat, e.lon,
    kpi_week(e.occurred_at, $tz) AS week_start
FROM events AS e
WHERE e.partition_date BETWEEN $first_day - 1 AND $last_day + 1
  AND kpi_week(e.occurred_at, $tz) IN (SELECT week_start FROM _kpi_weeks);
CREATE OR REPLACE TEMP TABLE _kpi AS
WITH w AS (
    SELECT week_start FROM _kpi_weeks
), outcomes AS (
    -- One row per unit counted in a rate's denominator: hit = counted in its numerator too.
    -- The delivery rates count delivery orders only (CONTRACT §5); return pickups have their own (§9).
    SELECT 'first_attempt_delivery_rate' AS kpi_id, attempt_week AS week_start, zone_id,
        attempt_courier_id AS courier_id, attempt_status = 'delivered' AS hit
    FROM _kpi_orders WHERE order_type = $delivery AND attempt_week IN (SELECT week_start FROM w)
    UNION ALL
    SELECT 'on_time_rate', delivered_week, zone_id, NULL,
        delivered_at >= window_start AND delivered_at <= window_end
    FROM _kpi_orders
    WHERE order_type = $delivery AND window_start IS NOT NULL AND delivered_week IN (SELECT week_start FROM w)
    UNION ALL
    SELECT 'proof_compliance_rate', delivered_week, zone_id, NULL, NOT proof_missing
    FROM _kpi_orders WHERE order_type = $delivery AND delivered_week IN (SELECT week_start FROM w)
    UNION ALL
    SELECT 'exception_resolution_rate', failure_week, zone_id, NULL, resolved
    FROM _kpi_orders WHERE order_type = $delivery AND failure_week IN (SELECT week_start FROM w)
    UNION ALL
    SELECT 'address_mismatch_rate', e.week_start, o.zone_id, e.courier_id,
        haversine_m(e.lat, e.lon, o.address_lat, o.address_lon) > $distance_m
    FROM _kpi_events AS e
    JOIN orders AS o USING (order_id)
    WHERE list_contains($attempt_statuses, e.status) AND e.lat IS NOT NULL AND o.address_lat IS NOT NULL
      AND o.order_type = $delivery
    UNION ALL
    SELECT 'first_attempt_pickup_rate', attempt_week, zone_id, NULL, attempt_status = 'picked_up'
    FROM _kpi_orders WHERE order_type = $return_type AND attempt_week IN (SELECT week_start FROM w)
    UNION ALL
    SELECT 'acceptance_proof_rate', picked_up_week, zone_id, NULL, NOT acceptance_missing
    FROM _kpi_orders WHERE order_type = $return_type AND picked_up_week IN (SELECT week_start FROM w)
), rates AS (
    SELECT week_start, kpi_id,
        CASE WHEN grouping(zone_id) = 0 THEN 'zone' WHEN grouping(courier_id) = 0 THEN 'courier' ELSE 'all' END
            AS dimension,
        CASE WHEN grouping(zone_id) = 0 THEN zone_id WHEN grouping(courier_id) = 0 THEN courier_id END
            AS dimension_value,
        count_if(hit) AS numerator, count(*) AS denominator
    FROM outcomes
    GROUP BY GROUPING SETS ((week_start, kpi_id), (week_start, kpi_id, zone_id), (week_start, kpi_id, courier_id))
    HAVING grouping(courier_id) = 1 OR kpi_id IN ('first_attempt_delivery_rate', 'address_mismatch_rate')
), empty_rates AS (
    -- A week with data has every rate's `all` row, with denominator 0 (value NULL) where nothing counted.
    SELECT w.week_start, k.kpi_id, 'all' AS dimension, NULL::VARCHAR AS dimension_value,
        0::BIGINT AS numerator, 0::BIGINT AS denominator
    FROM w
    CROSS JOIN (SELECT unnest(['first_attempt_delivery_rate', 'on_time_rate', 'proof_compliance_rate',
        'exception_resolution_rate', 'address_mismatch_rate', 'first_attempt_pickup_rate',
        'acceptance_proof_rate']) AS kpi_id) AS k
    WHERE NOT EXISTS (SELECT 1 FROM rates AS r
                      WHERE r.week_start = w.week_start AND r.kpi_id = k.kpi_id AND r.dimension = 'all')
), attempts AS (
    SELECT e.week_start, e.exception_code
    FROM _kpi_events AS e
    WHERE e.status = 'delivery_attempted'
      AND e.order_id IN (SELECT order_id FROM orders WHERE order_type = $delivery)
), attempt_totals AS (
    SELECT w.week_start, count(a.week_start) AS attempts
    FROM w LEFT JOIN attempts AS a USING (week_start)
    GROUP BY w.week_start
), attempt_codes AS (
    -- every canonical code in every week (share 0 when absent), plus whatever else was sent (NULL included)
    SELECT w.week_start, c.code FROM w CROSS JOIN (SELECT unnest($exception_codes::VARCHAR[]) AS code) AS c
    UNION
    SELECT DISTINCT week_start, exception_code FROM attempts
), attempt_share AS (
    SELECT c.week_start, 'attempt_failure_share' AS kpi_id, 'exception_code' AS dimension,
        c.code AS dimension_value, count(a.week_start) AS numerator, any_value(t.attempts) AS denominator
    FROM attempt_codes AS c
    JOIN attempt_totals AS t USING (week_start)
    LEFT JOIN attempts AS a ON a.week_start = c.week_start AND a.exception_code IS NOT DISTINCT FROM c.code
    GROUP BY c.week_start, c.code
), latency AS (
    -- every loaded event of the week, orphans included; seconds, linearly interpolated percentiles
    SELECT w.week_start,
        quantile_cont(epoch(e.recorded_at - e.occurred_at), 0.5) AS p50,
        quantile_cont(epoch(e.recorded_at - e.occurred_at), 0.95) AS p95
    FROM w LEFT JOIN _kpi_events AS e USING (week_start)
    GROUP BY w.week_start
), cycle AS (
    -- return_cycle_p50_h: first return_received in the week, hours since the return order was created
    SELECT received_week AS week_start, zone_id, epoch(received_at - created_at) / 3600.0 AS hours
    FROM _kpi_orders WHERE order_type = $return_type AND received_week IN (SELECT week_start FROM w)
), cycle_p50 AS (
    SELECT w.week_start, 'all' AS dimension, NULL::VARCHAR AS dimension_value,
        quantile_cont(c.hours, 0.5) AS p50
    FROM w LEFT JOIN cycle AS c USING (week_start)
    GROUP BY w.week_start
    UNION ALL
    SELECT week_start, 'zone', zone_id, quantile_cont(hours, 0.5) FROM cycle GROUP BY week_start, zone_id
), created AS (
    SELECT kpi_week(o.created_at, $tz) AS week_start, o.zone_id FROM orders AS o
    WHERE o.partition_date BETWEEN $first_day - 1 AND $last_day + 1
      AND kpi_week(o.created_at, $tz) IN (SELECT week_start FROM w)
), created_counts AS (
    SELECT w.week_start, 'all' AS dimension, NULL::VARCHAR AS dimension_value, count(c.week_start) AS n
    FROM w LEFT JOIN created AS c USING (week_start)
    GROUP BY w.week_start
    UNION ALL
    SELECT week_start, 'zone', zone_id, count(*) FROM created GROUP BY week_start, zone_id
)
SELECT week_start, kpi_id, dimension, dimension_value, numerator, denominator,
    CASE WHEN denominator > 0 THEN numerator / denominator END AS value
FROM (SELECT * FROM rates UNION ALL SELECT * FROM empty_rates UNION ALL SELECT * FROM attempt_share)
UNION ALL
SELECT week_start, 'event_latency_p50_s', 'all', NULL, NULL, NULL, p50::DOUBLE FROM latency
UNION ALL
SELECT week_start, 'event_latency_p95_s', 'all', NULL, NULL, NULL, p95::DOUBLE FROM latency
UNION ALL
SELECT week_start, 'orders_created', dimension, dimension_value, n, NULL, n::DOUBLE FROM created_counts
UNION ALL
SELECT week_start, 'return_cycle_p50_h', dimension, dimension_value, NULL, NULL, p50::DOUBLE FROM cycle_p50;
