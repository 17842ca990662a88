-- Every accepted version of the order, oldest first, with the file and row it came from.
SELECT r.revision, r.created_at, r.service_type, r.depot_id, r.zone_id, r.address_line, r.postcode, r.city,
       r.country, r.address_lat, r.address_lon, r.window_start, r.window_end, r.partner_id,
       r.partner_tracking_number, r.order_type, r.original_order_id, r.has_recipient_name, r.recipient_name_hash, r.recipient_phone_hash,
       r.recipient_email_hash, r.recipient_phone_possible, r.recipient_email_valid, r.contact_artifact_id,
       r.file_id, f.path AS file_path, f.sha256 AS file_sha256, r.row_number, r.run_id, r.ingested_at,
       (SELECT count(*) FROM orders AS o WHERE o.order_id = r.order_id AND o.content_hash = r.content_hash) > 0
           AS published
FROM order_revisions AS r
LEFT JOIN ingest_files AS f ON f.file_id = r.file_id
WHERE r.order_id = $order_id
ORDER BY r.revision;
