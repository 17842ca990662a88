-- partner.new_code: a mapped partner code first seen in this partition's ISO week (entity
-- <partner_id>:<raw code>, one row per partition the code occurs in). "First seen" is the earliest
-- partition of any partner event carrying the code, across the whole warehouse.
WITH codes AS (
    SELECT partner_id, partition_date, status_code AS code FROM partner_events WHERE status_mapped
    UNION ALL
    SELECT partner_id, partition_date, reason_code FROM partner_events WHERE reason_mapped
), first_seen AS (
    SELECT partner_id, code, min(partition_date) AS first_day FROM codes GROUP BY ALL
)
SELECT c.partner_id || ':' || c.code AS entity_id, NULL::VARCHAR AS order_id, c.partition_date,
    date_trunc('week', f.first_day) = date_trunc('week', c.partition_date) AS failed,
    struct_pack(partner_id := c.partner_id, raw_code := c.code, first_seen := f.first_day, events := count(*)) AS observed
FROM codes AS c
JOIN first_seen AS f USING (partner_id, code)
WHERE c.partition_date BETWEEN $start AND $end
GROUP BY c.partner_id, c.code, c.partition_date, f.first_day
