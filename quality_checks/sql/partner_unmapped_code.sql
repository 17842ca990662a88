-- partner.unmapped_code: a partner status or reason code with no mapping (entity <partner_id>:<raw code>,
-- partition of the partner event). The event was not loaded into events; its payload is kept.
-- Evaluated: every distinct (partner, code) the partner sent in the partition (status codes, and reason
-- codes where the mapped status consults them).
WITH codes AS (
    SELECT partner_id, partition_date, status_code AS code, NOT status_mapped AS unmapped, event_id
    FROM partner_events WHERE partition_date BETWEEN $start AND $end
    UNION ALL
    SELECT partner_id, partition_date, reason_code, NOT reason_mapped, event_id
    FROM partner_events WHERE partition_date BETWEEN $start AND $end AND reason_mapped IS NOT NULL
)
SELECT partner_id || ':' || code AS entity_id, NULL::VARCHAR AS order_id, partition_date,
    bool_or(unmapped) AS failed,
    struct_pack(partner_id := partner_id, raw_code := code, unmapped_events := count(*) FILTER (WHERE unmapped), sample_event_ids := (list(event_id ORDER BY event_id) FILTER (WHERE unmapped))[1:5]) AS observed
FROM codes
GROUP BY partner_id, code, partition_date
