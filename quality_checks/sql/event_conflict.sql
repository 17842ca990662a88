-- event.conflict: a later row reused this event_id with different content (it sits in quarantine).
WITH c AS (
    SELECT entity_id AS event_id, count(*) AS conflicting_rows, list(path || ':' || row_number) AS rows
    FROM quarantine WHERE reason = 'conflict' AND entity = 'events' GROUP BY entity_id
)
SELECT e.event_id AS entity_id, e.order_id, e.partition_date,
    c.event_id IS NOT NULL AS failed,
    struct_pack(conflicting_rows := c.conflicting_rows, quarantined := c.rows) AS observed
FROM events AS e
LEFT JOIN c USING (event_id)
WHERE e.partition_date BETWEEN $start AND $end
