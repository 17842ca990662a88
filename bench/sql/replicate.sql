-- Build a large warehouse from one ingested network: $copies copies of its orders, events, proofs and
-- quarantined conflicts, copy k shifted by k * $span_days days, every id suffixed with '~k' (k > 0).
-- The source warehouse is attached as `src`.
CREATE TABLE orders AS
SELECT * REPLACE (
    CASE WHEN k = 0 THEN order_id ELSE order_id || '~' || k END AS order_id,
    created_at + to_days(k * $span_days) AS created_at,
    window_start + to_days(k * $span_days) AS window_start,
    window_end + to_days(k * $span_days) AS window_end,
    partition_date + k * $span_days AS partition_date)
FROM src.orders, range($copies) AS t(k);
CREATE TABLE events AS
SELECT * REPLACE (
    CASE WHEN k = 0 THEN event_id ELSE event_id || '~' || k END AS event_id,
    CASE WHEN k = 0 THEN order_id ELSE order_id || '~' || k END AS order_id,
    occurred_at + to_days(k * $span_days) AS occurred_at,
    recorded_at + to_days(k * $span_days) AS recorded_at,
    partition_date + k * $span_days AS partition_date)
FROM src.events, range($copies) AS t(k);
CREATE TABLE proofs AS
SELECT * REPLACE (
    CASE WHEN k = 0 THEN proof_id ELSE proof_id || '~' || k END AS proof_id,
    CASE WHEN k = 0 THEN order_id ELSE order_id || '~' || k END AS order_id,
    captured_at + to_days(k * $span_days) AS captured_at,
    recorded_at + to_days(k * $span_days) AS recorded_at,
    partition_date + k * $span_days AS partition_date)
FROM src.proofs, range($copies) AS t(k);
CREATE TABLE quarantine AS
SELECT * REPLACE (
    quarantine_id || '~' || k AS quarantine_id,
    CASE WHEN k = 0 THEN entity_id ELSE entity_id || '~' || k END AS entity_id,
    CASE WHEN k = 0 THEN order_id ELSE order_id || '~' || k END AS order_id)
FROM src.quarantine, range($copies) AS t(k)
WHERE reason = 'conflict';
