-- One row per order present in `orders`, with the events the order-based KPIs name, found once over
-- all events (an order belongs to the week of the event named, wherever its other events fall).
-- "First" is by occurred_at, ties broken by event_id, so the choice never depends on load order.
-- Candidates: orders with an attempt or failure event near the weeks (a day either side); only their
-- first events can fall in the weeks. Each candidate's firsts are then found over all its events.
CREATE OR REPLACE TEMP TABLE _kpi_candidates AS
SELECT DISTINCT order_id FROM events
WHERE partition_date BETWEEN $first_day - 1 AND $last_day + 1
  AND (list_contains($attempt_statuses, status) OR list_contains($failure_statuses, status)
       OR status = 'return_received');
CREATE OR REPLACE TEMP TABLE _kpi_orders AS
WITH firsts AS (
    SELECT order_id,
        arg_min({'at': occurred_at, 'status': status, 'courier_id': courier_id}, (occurred_at, event_id))
            FILTER (WHERE list_contains($attempt_statuses, status)) AS first_attempt,
        min(occurred_at) FILTER (WHERE status = 'delivered') AS delivered_at,
        min(occurred_at) FILTER (WHERE list_contains($failure_statuses, status)) AS failure_at,
        min(occurred_at) FILTER (WHERE status = 'picked_up') AS picked_up_at,
        min(occurred_at) FILTER (WHERE status = 'return_received') AS received_at
    FROM events
    WHERE (list_contains($attempt_statuses, status) OR list_contains($failure_statuses, status)
           OR status = 'return_received')
      AND order_id IN (SELECT order_id FROM _kpi_candidates)
    GROUP BY order_id
), resolved AS (
    -- exception_resolution_rate: a terminal event later than the first failure and at most N days after it
    -- (N calendar days in the network timezone, read exactly as exception.unresolved reads it).
    SELECT DISTINCT f.order_id
    FROM firsts AS f
    JOIN events AS e ON e.order_id = f.order_id
    WHERE f.failure_at IS NOT NULL AND list_contains($terminal_statuses, e.status)
      AND e.occurred_at > f.failure_at AND e.occurred_at <= plus_days(f.failure_at, $resolution_days, $tz)
), proof_missing AS (
    SELECT DISTINCT entity_id AS order_id FROM dq_findings WHERE check_id = 'proof.missing'
), acceptance_missing AS (
    SELECT DISTINCT entity_id AS order_id FROM dq_findings WHERE check_id = 'return.acceptance_missing'
)
SELECT o.order_id, o.order_type, o.created_at, o.zone_id, o.window_start, o.window_end,
    f.first_attempt.at AS attempt_at, f.first_attempt.status AS attempt_status,
    f.first_attempt.courier_id AS attempt_courier_id, kpi_week(f.first_attempt.at, $tz) AS attempt_week,
    f.delivered_at, kpi_week(f.delivered_at, $tz) AS delivered_week,
    f.failure_at, kpi_week(f.failure_at, $tz) AS failure_week,
    r.order_id IS NOT NULL AS resolved,
    pm.order_id IS NOT NULL AS proof_missing,
    f.picked_up_at, kpi_week(f.picked_up_at, $tz) AS picked_up_week,
    f.received_at, kpi_week(f.received_at, $tz) AS received_week,
    am.order_id IS NOT NULL AS acceptance_missing
FROM orders AS o
JOIN firsts AS f USING (order_id)
LEFT JOIN resolved AS r USING (order_id)
LEFT JOIN proof_missing AS pm USING (order_id)
LEFT JOIN acceptance_missing AS am USING (order_id);
