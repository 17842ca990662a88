-- Entries in seq order, optionally for one subject or every subject starting with a prefix.
SELECT seq, "at", actor, action, subject, details, prev_hash, leaf_hash
FROM audit_entries
WHERE ($subject IS NULL OR subject = $subject)
  AND ($prefix IS NULL OR starts_with(subject, $prefix))
ORDER BY seq;
