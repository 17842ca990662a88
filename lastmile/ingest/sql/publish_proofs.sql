DELETE FROM proofs WHERE partition_date BETWEEN $start AND $end;
INSERT INTO proofs SELECT * FROM intake_proofs WHERE partition_date BETWEEN $start AND $end;
-- Delete-then-insert, not INSERT OR REPLACE: the same statements run on DuckLake, which has no keys.
DELETE FROM published_partitions WHERE table_name = 'proofs' AND partition_date BETWEEN $start AND $end;
INSERT INTO published_partitions
SELECT 'proofs', d.day, count(x.partition_date), $now
FROM (SELECT unnest(generate_series($start::TIMESTAMP, $end::TIMESTAMP, INTERVAL 1 DAY))::DATE AS day) AS d
LEFT JOIN proofs AS x ON x.partition_date = d.day
GROUP BY d.day;
