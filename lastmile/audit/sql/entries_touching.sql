-- Entries that touched one order: by subject ('order:<id>', 'proof:<id>', 'contact:<id>', ...), by the
-- order_id named in their details, or by the ingested file version (file_id) that brought its rows.
SELECT seq, "at", actor, action, subject, details, prev_hash, leaf_hash
FROM audit_entries
WHERE list_contains($subjects, subject)
   OR json_extract_string(details, '$.order_id') = $order_id
   OR list_contains($file_ids, json_extract_string(details, '$.file_id'))
ORDER BY seq;
