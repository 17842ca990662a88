-- The column rules Great Expectations' events suite expresses, as one DuckDB scan over one partition range:
-- unexpected counts of not-null, unique, in-set and between rules.
SELECT
    count(*) FILTER (WHERE event_id IS NULL) AS event_id_null,
    count(*) - count(DISTINCT event_id) AS event_id_duplicates,
    count(*) FILTER (WHERE order_id IS NULL) AS order_id_null,
    count(*) FILTER (WHERE occurred_at IS NULL) AS occurred_at_null,
    count(*) FILTER (WHERE recorded_at IS NULL) AS recorded_at_null,
    count(*) FILTER (WHERE NOT list_contains($statuses, status)) AS status_not_in_set,
    count(*) FILTER (WHERE NOT regexp_full_match(source, '(driver_app|dispatch|support|partner:\S+)')) AS source_bad,
    count(*) FILTER (WHERE lat NOT BETWEEN -90 AND 90) AS lat_out_of_range,
    count(*) FILTER (WHERE lon NOT BETWEEN -180 AND 180) AS lon_out_of_range
FROM events
WHERE partition_date BETWEEN $start AND $end;
