DELETE FROM events WHERE partition_date BETWEEN $start AND $end;
INSERT INTO events SELECT * FROM intake_events WHERE partition_date BETWEEN $start AND $end;
-- Delete-then-insert, not INSERT OR REPLACE: the same statements run on DuckLake, which has no keys.
DELETE FROM published_partitions WHERE table_name = 'events' AND partition_date BETWEEN $start AND $end;
INSERT INTO published_partitions
SELECT 'events', d.day, count(x.partition_date), $now
FROM (SELECT unnest(generate_series($start::TIMESTAMP, $end::TIMESTAMP, INTERVAL 1 DAY))::DATE AS day) AS d
LEFT JOIN events AS x ON x.partition_date = d.day
GROUP BY d.day;
