-- Retention tables (CONTRACT §6). Every statement is idempotent.

-- Legal holds: an order, a reason, who placed it and when; active until released.
CREATE TABLE IF NOT EXISTS legal_holds (
    hold_id      VARCHAR PRIMARY KEY,     -- 'H-<n>'
    order_id     VARCHAR NOT NULL,
    reason       VARCHAR NOT NULL,
    placed_by    VARCHAR NOT NULL,
    placed_at    TIMESTAMPTZ NOT NULL,
    released_by  VARCHAR,
    released_at  TIMESTAMPTZ
);

-- One row per retention run (completed or not). status: 'started' (ledger intent written, purge under
-- way), 'finished' (purged, keys swept, certificate written).
CREATE TABLE IF NOT EXISTS retention_runs (
    run_id           VARCHAR PRIMARY KEY,
    as_of            TIMESTAMPTZ NOT NULL,
    policy_version   VARCHAR NOT NULL,
    policy_hash      VARCHAR NOT NULL,
    policy_source    VARCHAR NOT NULL,
    actor            VARCHAR NOT NULL,
    started_at       TIMESTAMPTZ NOT NULL,
    finished_at      TIMESTAMPTZ,
    status           VARCHAR NOT NULL,
    purged           BIGINT,
    held             BIGINT,
    retained         BIGINT,
    merkle_root      VARCHAR,
    certificate_path VARCHAR,
    certificate_sha256 VARCHAR,
    keks_destroyed   VARCHAR               -- JSON list of KEK versions destroyed by this run
);

-- One row per artifact considered by a run. action: 'purged' | 'held' | 'retained' ('purging' while the
-- run that wrote it is under way: the intent is written before any key is destroyed).
CREATE TABLE IF NOT EXISTS retention_ledger (
    run_id          VARCHAR NOT NULL,
    artifact_id     VARCHAR NOT NULL,
    artifact_kind   VARCHAR NOT NULL,
    order_id        VARCHAR,
    action          VARCHAR NOT NULL,
    reason          VARCHAR NOT NULL,
    policy_version  VARCHAR NOT NULL,
    as_of           TIMESTAMPTZ NOT NULL,
    clock_start     TIMESTAMPTZ,
    due_at          TIMESTAMPTZ,
    hold_id         VARCHAR
);

-- Pack space freed after a finished run (`retention.purge.reclaim_space`): a run makes its purged blobs'
-- ranges read as zeros without freeing their blocks (constant time); their blocks are freed afterwards,
-- and a run with no row here is reclaimed by the next reclaim.
CREATE TABLE IF NOT EXISTS retention_reclaims (
    run_id        VARCHAR NOT NULL,
    reclaimed_at  TIMESTAMPTZ NOT NULL,
    ranges        BIGINT NOT NULL,        -- pack ranges whose blocks were freed (holes punched)
    bytes         BIGINT NOT NULL
);

-- Key-encryption keys made by retention: the intake line (new artifacts; `keys rotate`, and every run)
-- and one expiry key per network-timezone day of expiry. destroyed_at: the key file was shredded.
CREATE TABLE IF NOT EXISTS retention_keks (
    kek_version      INTEGER PRIMARY KEY,
    line             VARCHAR NOT NULL,      -- 'intake' | 'expiry'
    period           DATE,                  -- the expiry day (line 'expiry')
    created_at       TIMESTAMPTZ NOT NULL,
    created_by_run   VARCHAR,
    destroyed_at     TIMESTAMPTZ,
    destroyed_by     VARCHAR
);

-- The plan of the latest `retention_plan` materialization: what a run at as_of would do.
CREATE TABLE IF NOT EXISTS retention_plan (
    artifact_id     VARCHAR NOT NULL,
    artifact_kind   VARCHAR NOT NULL,
    order_id        VARCHAR,
    action          VARCHAR NOT NULL,
    reason          VARCHAR NOT NULL,
    clock_start     TIMESTAMPTZ,
    due_at          TIMESTAMPTZ,
    hold_id         VARCHAR,
    as_of           TIMESTAMPTZ NOT NULL,
    policy_version  VARCHAR NOT NULL,
    planned_at      TIMESTAMPTZ NOT NULL
);
