-- One batch of entries from the registered Arrow table audit_batch (one INSERT per batch).
INSERT INTO audit_entries (seq, "at", actor, action, subject, details, prev_hash, leaf_hash)
SELECT seq, "at", actor, action, subject, details, prev_hash, leaf_hash FROM audit_batch;
