-- Entries with seq in [$lo, $hi], rendered as in the canonical bytes (to explain a verification failure).
SELECT seq, strftime(timezone('UTC', "at"), '%Y-%m-%dT%H:%M:%S.%fZ') AS "at",
       actor, action, subject, CAST(details AS VARCHAR) AS details, prev_hash, leaf_hash
FROM audit_entries
WHERE seq BETWEEN $lo AND $hi
ORDER BY seq;
