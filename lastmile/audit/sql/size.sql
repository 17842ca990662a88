SELECT count(*), coalesce(max(seq), -1) FROM audit_entries;
