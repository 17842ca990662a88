-- The messaging KPIs of CONTRACT §8 for the weeks in _kpi_weeks, appended to _kpi (kpi_compute.sql made
-- both). A message belongs to the week of its sent_at, a consent record to the week of its `at`, an event
-- to the week it occurred (network timezone).
CREATE OR REPLACE TEMP TABLE _kpi_messages AS
SELECT m.message_id, m.order_id, m.channel, m.address_hash, m.template_id, m.template_version, m.variant,
    m.trigger_event_id, m.sent_at, m.delivery_status, kpi_week(m.sent_at, $tz) AS week_start
FROM messages AS m
WHERE m.partition_date BETWEEN $first_day - 1 AND $last_day + 1
  AND kpi_week(m.sent_at, $tz) IN (SELECT week_start FROM _kpi_weeks);
INSERT INTO _kpi
WITH w AS (
    SELECT week_start FROM _kpi_weeks
), coverage_runs AS (
    -- the as_of of the latest message.missing run of each partition ("as the checks last ran")
    SELECT partition_date, arg_max(as_of, finished_at) AS as_of
    FROM dq_check_runs WHERE check_id = 'message.missing' GROUP BY partition_date
), coverage AS (
    SELECT kpi_week(e.occurred_at, $tz) AS week_start, o.zone_id,
        NOT EXISTS (SELECT 1 FROM dq_findings AS f
                    WHERE f.check_id = 'message.missing' AND f.entity_id = e.event_id) AS hit
    FROM events AS e
    JOIN orders AS o ON o.order_id = e.order_id
    JOIN coverage_runs AS r ON r.partition_date = e.partition_date
    WHERE e.partition_date BETWEEN $first_day - 1 AND $last_day + 1
      AND kpi_week(e.occurred_at, $tz) IN (SELECT week_start FROM w)
      AND list_contains($notifying_statuses, e.status) AND NOT starts_with(e.source, 'partner:')
      AND (o.recipient_phone_hash IS NOT NULL OR o.recipient_email_hash IS NOT NULL)
      AND epoch_us(e.recorded_at) + $message_window_us <= epoch_us(r.as_of)
), delivered AS (
    SELECT week_start, channel, delivery_status = 'delivered' AS hit FROM _kpi_messages
), opt_outs AS (
    SELECT DISTINCT m.week_start, m.channel, m.address_hash,
        EXISTS (SELECT 1 FROM consents AS c
                WHERE c.channel = m.channel AND c.address_hash = m.address_hash AND c.state = 'withdrawn'
                  AND kpi_week(c."at", $tz) = m.week_start) AS hit
    FROM _kpi_messages AS m
), outcomes AS (
    SELECT 'notification_coverage_rate' AS kpi_id, week_start, zone_id AS dim_value, 'zone' AS dim, hit FROM coverage
    UNION ALL
    SELECT 'message_delivery_rate', week_start, channel, 'channel', hit FROM delivered
    UNION ALL
    SELECT 'opt_out_rate', week_start, channel, 'channel', hit FROM opt_outs
), rates AS (
    SELECT week_start, kpi_id, CASE WHEN grouping(dim_value) = 0 THEN any_value(dim) ELSE 'all' END AS dimension,
        dim_value AS dimension_value, count_if(hit) AS numerator, count(*) AS denominator
    FROM outcomes
    GROUP BY GROUPING SETS ((week_start, kpi_id), (week_start, kpi_id, dim_value))
), empty_rates AS (
    SELECT w.week_start, k.kpi_id, 'all' AS dimension, NULL::VARCHAR AS dimension_value,
        0::BIGINT AS numerator, 0::BIGINT AS denominator
    FROM w
    CROSS JOIN (SELECT unnest(['notification_coverage_rate', 'message_delivery_rate', 'opt_out_rate']) AS kpi_id) AS k
    WHERE NOT EXISTS (SELECT 1 FROM rates AS r
                      WHERE r.week_start = w.week_start AND r.kpi_id = k.kpi_id AND r.dimension = 'all')
), triggered AS (
    -- messages with a trigger event (its event_id and the message's order_id)
    SELECT m.*, e.recorded_at AS trigger_recorded_at, e.occurred_at AS trigger_occurred_at
    FROM _kpi_messages AS m
    JOIN events AS e ON e.event_id = m.trigger_event_id AND e.order_id = m.order_id
), latency AS (
    SELECT w.week_start,
        quantile_cont(epoch(t.sent_at - t.trigger_recorded_at), 0.5) AS p50,
        quantile_cont(epoch(t.sent_at - t.trigger_recorded_at), 0.95) AS p95
    FROM w LEFT JOIN triggered AS t USING (week_start)
    GROUP BY w.week_start
), reattempts AS (
    SELECT t.week_start, t.template_id || ':' || t.variant AS arm,
        coalesce((
            SELECT arg_min(n.status, n.occurred_at) FROM events AS n
            WHERE n.order_id = t.order_id AND list_contains($reattempt_statuses, n.status)
              AND n.occurred_at > t.trigger_occurred_at
        ) IN ('delivered', 'picked_up'), FALSE) AS hit
    FROM triggered AS t
    JOIN templates AS tp ON tp.template_id = t.template_id AND tp.version = t.template_version
    WHERE t.variant IS NOT NULL AND tp.status = 'delivery_attempted'
), reattempt_rates AS (
    SELECT week_start, 'reattempt_success_rate' AS kpi_id, 'variant' AS dimension, arm AS dimension_value,
        count_if(hit) AS numerator, count(*) AS denominator
    FROM reattempts GROUP BY week_start, arm
)
SELECT week_start, kpi_id, dimension, dimension_value, numerator, denominator,
    CASE WHEN denominator > 0 THEN numerator / denominator END AS value
FROM (SELECT * FROM rates UNION ALL SELECT * FROM empty_rates UNION ALL SELECT * FROM reattempt_rates)
UNION ALL
SELECT week_start, 'message_latency_p50_s', 'all', NULL, NULL, NULL, p50::DOUBLE FROM latency
UNION ALL
SELECT week_start, 'message_latency_p95_s', 'all', NULL, NULL, NULL, p95::DOUBLE FROM latency;
DROP TABLE IF EXISTS _kpi_messages;
