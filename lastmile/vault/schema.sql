-- The vault's tables in the warehouse. Every statement is idempotent: applied whenever a Vault opens.
-- Nothing here is plaintext: data keys are wrapped by a key-encryption key (KEK), contents are AES-256-GCM.

-- One row per sealed artifact. The wrapped data key (with its KEK version) is kept apart from the
-- ciphertext, so rewrapping under a new KEK rewrites only wrapped_key/kek_version, never the ciphertext.
-- Small artifacts (contact JSON, quarantined records) keep their ciphertext inline; blobs (proof images)
-- keep it in an append-only pack file under the vault directory: object_path names the pack (relative to
-- the vault directory, 'packs/<pack id>.pack') and object_offset / object_length the byte range in it.
-- (A row from the earlier one-file-per-blob layout has object_path 'objects/...' and no offset: the
-- whole file is its ciphertext.)
-- Purging an artifact (crypto-shredding) sets wrapped_key, nonce and ciphertext to NULL, punches its pack
-- range out of the file (zeros written where the file system cannot punch holes) and records purged_at /
-- purged_by_run; the row itself stays as the tombstone and
-- keeps its range, so an interrupted purge can be completed by clearing the range again.
CREATE TABLE IF NOT EXISTS vault_artifacts (
    artifact_id       VARCHAR PRIMARY KEY,   -- proof_id | 'contact:<order_id>' | 'quarantine:<quarantine_id>'
    artifact_kind     VARCHAR NOT NULL,      -- signature | photo | id_check | recipient_contact | quarantined_record
    order_id          VARCHAR,
    kek_version       INTEGER NOT NULL,      -- the KEK version that wrapped this artifact's data key
    wrapped_key       BLOB,                  -- the data key wrapped by that KEK (NULL once purged)
    nonce             BLOB,                  -- 96-bit AES-GCM nonce of the ciphertext (NULL once purged)
    ciphertext        BLOB,                  -- inline ciphertext with its 16-byte tag, or NULL
    object_path       VARCHAR,               -- pack file relative to the vault directory, or NULL
    object_offset     BIGINT,                -- first byte of the ciphertext (tag included) in that pack
    object_length     BIGINT,                -- its length in bytes
    plaintext_size    BIGINT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    purged_at         TIMESTAMPTZ,
    purged_by_run     VARCHAR
);

-- One row per KEK version that has wrapped a data key here. key_check is a random value wrapped by that
-- KEK: a key that cannot unwrap it is the wrong key, caught before anything is sealed or overwritten.
CREATE TABLE IF NOT EXISTS vault_keks (
    kek_version   INTEGER PRIMARY KEY,
    key_check     BLOB NOT NULL,
    registered_at TIMESTAMPTZ NOT NULL,
    retired_at    TIMESTAMPTZ
);

-- Fingerprint (HMAC of a fixed label) of the secret used for keyed hashes of personal data, so that a
-- different hash key (which would silently break every join on those hashes) is refused.
CREATE TABLE IF NOT EXISTS vault_hash_keys (
    fingerprint   VARCHAR PRIMARY KEY,
    registered_at TIMESTAMPTZ NOT NULL
);
