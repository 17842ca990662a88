-- Every partner event read by one ingest (_partner_events_read: all partner files of the ingest, file_ord
-- their reading order), classified in one pass against what earlier ingests left:
--   duplicate  the id is in partner_events already (unless it was unmapped there and maps now), or an
--              earlier row of this batch carries it (an earlier file, or earlier in the same file);
--   loaded     its first sighting (or an earlier unmapped event that maps now): stored;
--   unmapped   its first sighting, with a code no mapping knows: stored in partner_events, quarantined;
--   conflict   the id is already used by an event from outside partners/: quarantined (each file's first
--              row of it; later rows of the same file are duplicates).
CREATE OR REPLACE TEMP TABLE _pc AS
WITH prior AS (
    SELECT i.event_id, p.outcome AS before, e.event_id IS NOT NULL AS in_events
    FROM (SELECT DISTINCT event_id FROM _partner_events_read) AS i
    LEFT JOIN partner_events AS p ON p.event_id = i.event_id
    LEFT JOIN (SELECT DISTINCT event_id FROM intake_events) AS e ON e.event_id = i.event_id
), ranked AS (
    SELECT r.*, prior.before, prior.in_events,
        row_number() OVER (PARTITION BY r.event_id ORDER BY r.file_ord, r.row_number) AS nth_in_batch,
        row_number() OVER (PARTITION BY r.event_id, r.file_ord ORDER BY r.row_number) AS nth_in_file
    FROM _partner_events_read AS r
    JOIN prior USING (event_id)
), classified AS (
    SELECT *,
        CASE
            WHEN before IS NOT NULL AND (before <> 'unmapped' OR outcome = 'unmapped') THEN 'duplicate'
            WHEN before IS NOT NULL THEN CASE WHEN nth_in_batch = 1 THEN 'loaded' ELSE 'duplicate' END
            WHEN in_events THEN CASE WHEN nth_in_file = 1 THEN 'conflict' ELSE 'duplicate' END
            WHEN nth_in_batch > 1 THEN 'duplicate'
            WHEN outcome = 'unmapped' THEN 'unmapped'
            ELSE 'loaded'
        END AS result
    FROM ranked
)
SELECT * EXCLUDE (before, in_events, nth_in_batch, nth_in_file),
    occurred_at::DATE AS partition_date,
    CASE WHEN signed AND outcome <> 'unmapped' THEN event_id || ':signature' END AS proof_id,
    CASE result
        WHEN 'conflict' THEN 'event_id already loaded from a file outside partners/'
        WHEN 'unmapped' THEN 'no mapping for ' || concat_ws(', ',
            CASE WHEN NOT status_mapped THEN '''' || status_code || '''' END,
            CASE WHEN reason_consulted AND NOT reason_mapped THEN '''' || reason_code || '''' END)
    END AS detail,
    CASE WHEN result IN ('conflict', 'unmapped') THEN to_json(struct_pack(
        partner_id := partner_id, tracking_number := tracking_number, status_code := status_code,
        reason_code := reason_code, description := description, occurred_at := occurred_text,
        utc_offset := utc_offset, location := location, signed := signed))::VARCHAR
    END AS raw_record
FROM classified;
