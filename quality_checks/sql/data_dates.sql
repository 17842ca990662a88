SELECT DISTINCT partition_date FROM (
    SELECT partition_date FROM orders UNION ALL SELECT partition_date FROM events
    UNION ALL SELECT partition_date FROM proofs
    UNION ALL SELECT partition_date FROM partner_events
    UNION ALL SELECT partition_date FROM messages
) ORDER BY 1;
