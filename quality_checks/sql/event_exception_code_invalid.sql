-- event.exception_code_invalid: a status that needs a code (delivery_attempted, exception) has none or
-- one outside CONTRACT §2; or any other status carries a code.
SELECT event_id AS entity_id, order_id, partition_date,
    CASE WHEN list_contains($needs_code, status)
         THEN exception_code IS NULL OR NOT list_contains($codes, exception_code)
         ELSE exception_code IS NOT NULL
    END AS failed,
    struct_pack(status := status, exception_code := exception_code) AS observed
FROM events
WHERE partition_date BETWEEN $start AND $end
