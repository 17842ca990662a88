-- The rules of the six expectation suites (quality_checks/expectations/*.yaml) written by hand as DuckDB
-- queries: one scan per table over every partition, unexpected counts per partition.
SELECT partition_date,
    count(*) FILTER (WHERE order_id IS NULL) AS order_id_null,
    count(*) - count(DISTINCT order_id) AS order_id_duplicates,
    count(*) FILTER (WHERE created_at IS NULL) AS created_at_null,
    count(*) FILTER (WHERE NOT list_contains($service_types, service_type)) AS service_type_not_in_set,
    count(*) FILTER (WHERE depot_id IS NULL OR zone_id IS NULL OR address_line IS NULL OR postcode IS NULL) AS nulls,
    count(*) FILTER (WHERE NOT regexp_matches(country, '^[A-Z]{2}$')) AS country_bad,
    count(*) FILTER (WHERE address_lat NOT BETWEEN -90 AND 90 OR address_lon NOT BETWEEN -180 AND 180) AS out_of_range,
    count(*) FILTER (WHERE window_end <= window_start) AS window_inverted
FROM orders GROUP BY partition_date;
SELECT partition_date,
    count(*) FILTER (WHERE event_id IS NULL) AS event_id_null,
    count(*) - count(DISTINCT event_id) AS event_id_duplicates,
    count(*) FILTER (WHERE order_id IS NULL OR occurred_at IS NULL OR recorded_at IS NULL) AS nulls,
    count(*) FILTER (WHERE NOT list_contains($statuses, status)) AS status_not_in_set,
    count(*) FILTER (WHERE NOT regexp_matches(source, '^(driver_app|dispatch|support|partner:\S+)$')) AS source_bad,
    count(*) FILTER (WHERE lat NOT BETWEEN -90 AND 90 OR lon NOT BETWEEN -180 AND 180) AS out_of_range
FROM events GROUP BY partition_date;
SELECT partition_date,
    count(*) FILTER (WHERE proof_id IS NULL) AS proof_id_null,
    count(*) - count(DISTINCT proof_id) AS proof_id_duplicates,
    count(*) FILTER (WHERE order_id IS NULL OR captured_at IS NULL) AS nulls,
    count(*) FILTER (WHERE NOT list_contains($proof_kinds, kind)) AS kind_not_in_set,
    count(*) FILTER (WHERE blob_size < 1) AS blob_size_low,
    count(*) FILTER (WHERE NOT list_contains(['png', 'jpeg'], blob_format)) AS blob_format_not_in_set
FROM proofs GROUP BY partition_date;
SELECT partition_date,
    count(*) FILTER (WHERE message_id IS NULL) AS message_id_null,
    count(*) - count(DISTINCT message_id) AS message_id_duplicates,
    count(*) FILTER (WHERE order_id IS NULL OR address_hash IS NULL OR template_id IS NULL
                     OR template_version IS NULL OR sent_at IS NULL) AS nulls,
    count(*) FILTER (WHERE NOT list_contains(['sms', 'email', 'push'], channel)) AS channel_not_in_set,
    count(*) FILTER (WHERE NOT list_contains(['transactional', 'marketing'], purpose)) AS purpose_not_in_set,
    count(*) FILTER (WHERE NOT list_contains(['sent', 'delivered', 'failed', 'bounced'], delivery_status))
        AS delivery_status_not_in_set,
    count(*) FILTER (WHERE NOT regexp_matches(body_artifact_id, '^message:')) AS body_artifact_bad
FROM messages GROUP BY partition_date;
SELECT count(*) FILTER (WHERE consent_id IS NULL) AS consent_id_null,
    count(*) - count(DISTINCT consent_id) AS consent_id_duplicates,
    count(*) FILTER (WHERE address_hash IS NULL OR "at" IS NULL OR source IS NULL) AS nulls,
    count(*) FILTER (WHERE NOT list_contains(['sms', 'email', 'push'], channel)) AS channel_not_in_set,
    count(*) FILTER (WHERE NOT list_contains(['transactional', 'marketing', 'all'], purpose)) AS purpose_not_in_set,
    count(*) FILTER (WHERE NOT list_contains(['granted', 'withdrawn'], state)) AS state_not_in_set,
    count(*) FILTER (WHERE NOT regexp_matches(address_artifact_id, '^consent:')) AS address_artifact_bad
FROM consents;
SELECT count(*) FILTER (WHERE template_id IS NULL OR version IS NULL OR body IS NULL OR sensitive IS NULL) AS nulls,
    count(*) FILTER (WHERE NOT list_contains(['sms', 'email', 'push'], channel)) AS channel_not_in_set,
    count(*) FILTER (WHERE NOT list_contains(['transactional', 'marketing'], purpose)) AS purpose_not_in_set,
    count(*) FILTER (WHERE NOT list_contains($statuses, status)) AS status_not_in_set,
    count(*) FILTER (WHERE NOT list_contains(['*', 'address_not_found', 'address_mismatch', 'recipient_unavailable',
        'access_issue', 'customer_request_reschedule', 'customer_request_hold', 'refused', 'damaged', 'vehicle_issue',
        'weather', 'other'], exception_code)) AS exception_code_not_in_set,
    count(*) FILTER (WHERE retired_at <= approved_at) AS retired_not_after_approved
FROM templates;
