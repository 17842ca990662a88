INSERT INTO intake_events
SELECT c.event_id, c.order_id, c.status, c.exception_code, c.occurred_at, c.recorded_at, c.courier_id,
    c.source, c.lat, c.lon, c.content_hash, c.partition_date, $file_id, c._row, $run_id, $now
FROM _checked AS c
JOIN _classified AS k USING (_row)
WHERE k.outcome = 'loaded';
