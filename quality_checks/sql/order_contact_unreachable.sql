-- order.contact_unreachable: neither a possible phone number nor a well-formed e-mail (partition of
-- created_at). The shapes were judged at ingest, while the plaintext was in memory (lastmile.contact).
SELECT order_id AS entity_id, order_id, partition_date,
    NOT (recipient_phone_possible OR recipient_email_valid) AS failed,
    struct_pack(phone_given := recipient_phone_hash IS NOT NULL, phone_possible := recipient_phone_possible, email_given := recipient_email_hash IS NOT NULL, email_valid := recipient_email_valid) AS observed
FROM orders
WHERE partition_date BETWEEN $start AND $end
