-- Build a large warehouse from one ingested network: $copies copies of its orders, events, proofs and
-- quarantined conflicts, copy k shifted by k * $span_days days, every id prefixed with 'c<k>-' (k > 0), so ids still grow with time as real ones do.
-- Copies are stored one after another, in time order, as ingest appends them. Runs inside a copy of the source warehouse: each table is rebuilt as <table>_x and swapped in.
CREATE TABLE orders_x AS
SELECT * REPLACE (
    CASE WHEN k = 0 THEN order_id ELSE 'c' || k || '-' || order_id END AS order_id,
    CASE WHEN k = 0 OR original_order_id IS NULL THEN original_order_id ELSE 'c' || k || '-' || original_order_id END
        AS original_order_id,
    created_at + to_days(k * $span_days) AS created_at,
    window_start + to_days(k * $span_days) AS window_start,
    window_end + to_days(k * $span_days) AS window_end,
    partition_date + CAST(k * $span_days AS INTEGER) AS partition_date)
FROM orders, range($copies) AS t(k)
ORDER BY k, partition_date;
DROP TABLE orders;
ALTER TABLE orders_x RENAME TO orders;
CREATE TABLE events_x AS
SELECT * REPLACE (
    CASE WHEN k = 0 THEN event_id ELSE 'c' || k || '-' || event_id END AS event_id,
    CASE WHEN k = 0 THEN order_id ELSE 'c' || k || '-' || order_id END AS order_id,
    occurred_at + to_days(k * $span_days) AS occurred_at,
    recorded_at + to_days(k * $span_days) AS recorded_at,
    partition_date + CAST(k * $span_days AS INTEGER) AS partition_date)
FROM events, range($copies) AS t(k)
ORDER BY k, partition_date;
DROP TABLE events;
ALTER TABLE events_x RENAME TO events;
CREATE TABLE proofs_x AS
SELECT * REPLACE (
    CASE WHEN k = 0 THEN proof_id ELSE 'c' || k || '-' || proof_id END AS proof_id,
    CASE WHEN k = 0 THEN order_id ELSE 'c' || k || '-' || order_id END AS order_id,
    captured_at + to_days(k * $span_days) AS captured_at,
    recorded_at + to_days(k * $span_days) AS recorded_at,
    partition_date + CAST(k * $span_days AS INTEGER) AS partition_date)
FROM proofs, range($copies) AS t(k)
ORDER BY k, partition_date;
DROP TABLE proofs;
ALTER TABLE proofs_x RENAME TO proofs;
CREATE TABLE quarantine_x AS
SELECT * REPLACE (
    quarantine_id || '~' || k AS quarantine_id,
    CASE WHEN k = 0 THEN entity_id ELSE 'c' || k || '-' || entity_id END AS entity_id,
    CASE WHEN k = 0 THEN order_id ELSE 'c' || k || '-' || order_id END AS order_id)
FROM quarantine, range($copies) AS t(k)
WHERE reason = 'conflict';
DROP TABLE quarantine;
ALTER TABLE quarantine_x RENAME TO quarantine;
