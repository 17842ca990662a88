-- Entries from seq $from_seq on, with `at` rendered exactly as in the canonical bytes (UTC, microseconds).
SELECT seq, strftime(timezone('UTC', "at"), '%Y-%m-%dT%H:%M:%S.%fZ') AS "at",
       actor, action, subject, CAST(details AS VARCHAR) AS details, prev_hash, leaf_hash
FROM audit_entries
WHERE seq >= $from_seq
ORDER BY seq;
