-- Every ISO week (network timezone) in which an order was created or an event occurred. Instants are
-- first reduced to 15-minute buckets (every UTC offset is a multiple of 15 minutes, so a bucket never
-- straddles a local week boundary); only the distinct buckets are converted to local weeks.
SELECT DISTINCT kpi_week(make_timestamptz(bucket * 900000000), $tz) AS week_start FROM (
    SELECT DISTINCT epoch_us(created_at) // 900000000 AS bucket FROM orders
    UNION
    SELECT DISTINCT epoch_us(occurred_at) // 900000000 FROM events
) ORDER BY 1;
