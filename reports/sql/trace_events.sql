-- Every accepted event of the order in the order it happened, with its file and whether it is published.
SELECT e.event_id, e.status, e.exception_code, e.occurred_at, e.recorded_at, e.courier_id, e.source, e.lat, e.lon,
       e.file_id, f.path AS file_path, e.row_number, e.run_id,
       EXISTS (SELECT 1 FROM events AS p WHERE p.event_id = e.event_id) AS published
FROM intake_events AS e
LEFT JOIN ingest_files AS f ON f.file_id = e.file_id
WHERE e.order_id = $order_id
ORDER BY e.occurred_at, e.recorded_at, e.event_id;
