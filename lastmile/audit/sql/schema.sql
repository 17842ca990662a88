-- The audit trail's tables. Idempotent: applied whenever an AuditTrail opens.
-- Append-only: rows are only ever inserted. Hashes and signatures are lowercase hex.

-- One row per audited action: a leaf of the RFC 9162 Merkle tree. leaf_hash = SHA-256(0x00 || canonical
-- entry bytes), where the canonical bytes are the JSON (sorted keys, no whitespace, UTF-8) of seq, at
-- (ISO 8601 UTC with microseconds, 'Z'), actor, action, subject, details and prev_hash.
CREATE TABLE IF NOT EXISTS audit_entries (
    seq        BIGINT PRIMARY KEY,       -- 0, 1, 2, ... with no gaps: the leaf index
    "at"       TIMESTAMPTZ NOT NULL,     -- when the action happened (passed in by the caller)
    actor      VARCHAR NOT NULL,         -- who: a user name, or 'system:<job>'
    action     VARCHAR NOT NULL,         -- what: 'ingest.file', 'proof.open', 'retention.purge', ...
    subject    VARCHAR NOT NULL,         -- on what: 'order:O1', 'proof:P3', 'file:events/a.csv', 'run:<id>'
    details    JSON NOT NULL,            -- a JSON object, stored in its canonical form
    prev_hash  VARCHAR,                  -- leaf_hash of entry seq - 1 (NULL for entry 0)
    leaf_hash  VARCHAR NOT NULL
);

-- Signed tree heads: the root of the first tree_size entries, signed with the audit key (Ed25519) over
-- RFC 9162's TreeHeadDataV2 (timestamp in ms, tree_size, root_hash, no extensions).
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    tree_size  BIGINT PRIMARY KEY,
    root_hash  VARCHAR NOT NULL,
    signed_at  TIMESTAMPTZ NOT NULL,     -- the signed timestamp (millisecond precision)
    key_id     VARCHAR NOT NULL,         -- SHA-256 of the public key's DER SubjectPublicKeyInfo
    signature  VARCHAR NOT NULL
);

-- The verified frontier at each checkpoint: the compact range of the first tree_size leaves (RFC 9162
-- §2.1: the roots of the perfect subtrees the size's binary digits split the tree into, largest first)
-- and the last leaf's audit path inside the last of them, nearest sibling first; hex, comma-separated.
-- Its root equals the checkpoint's signed root, so signing the next checkpoint extends it by the new
-- entries alone instead of re-reading the log. Derived data: `audit verify` recomputes and compares it.
CREATE TABLE IF NOT EXISTS audit_frontier (
    tree_size  BIGINT PRIMARY KEY,
    nodes      VARCHAR NOT NULL,
    last_path  VARCHAR NOT NULL
);
