-- The current revision of each order whose current created_at falls in the range. An order whose
-- revision moved it out of an old partition is removed from there too (by order_id).
CREATE OR REPLACE TEMP TABLE _current_orders AS
SELECT * EXCLUDE (rn) FROM (
    SELECT *, row_number() OVER (PARTITION BY order_id ORDER BY revision DESC) AS rn FROM order_revisions
) WHERE rn = 1 AND partition_date BETWEEN $start AND $end;
DELETE FROM orders WHERE partition_date BETWEEN $start AND $end
    OR order_id IN (SELECT order_id FROM _current_orders);
INSERT INTO orders BY NAME SELECT * FROM _current_orders;
DROP TABLE _current_orders;
-- Delete-then-insert, not INSERT OR REPLACE: the same statements run on DuckLake, which has no keys.
DELETE FROM published_partitions WHERE table_name = 'orders' AND partition_date BETWEEN $start AND $end;
INSERT INTO published_partitions
SELECT 'orders', d.day, count(x.partition_date), $now
FROM (SELECT unnest(generate_series($start::TIMESTAMP, $end::TIMESTAMP, INTERVAL 1 DAY))::DATE AS day) AS d
LEFT JOIN orders AS x ON x.partition_date = d.day
GROUP BY d.day;
