-- _contacts(_row, contact_artifact_id) comes from the loader, which sealed each accepted row's contact.
INSERT INTO order_revisions BY NAME
SELECT c.order_id, k.revision, c.created_at, c.service_type, c.depot_id, c.zone_id, c.address_line,
    c.postcode, c.city, c.country, c.address_lat, c.address_lon, c.window_start, c.window_end,
    c.partner_id, c.partner_tracking_number, c.order_type, c.original_order_id, c.has_recipient_name, c.recipient_name_hash,
    c.recipient_phone_hash, c.recipient_email_hash, c.recipient_phone_possible, c.recipient_email_valid,
    a.contact_artifact_id, c.content_hash, c.partition_date, $file_id AS file_id, c._row AS row_number,
    $run_id AS run_id, $now AS ingested_at
FROM _checked AS c
JOIN _classified AS k USING (_row)
LEFT JOIN _contacts AS a USING (_row)
WHERE k.outcome IN ('loaded', 'revised');
