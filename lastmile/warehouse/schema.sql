-- The warehouse schema. Every statement is idempotent: applied on every connect.
-- Times are TIMESTAMPTZ; partition_date is the network-timezone date that decides the daily partition.

CREATE TABLE IF NOT EXISTS ingest_runs (
    run_id        VARCHAR PRIMARY KEY,
    landing       VARCHAR NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ,
    files_seen    BIGINT,
    files_new     BIGINT,
    rows_read     BIGINT,
    rows_loaded   BIGINT,
    rows_duplicate BIGINT,
    rows_revised  BIGINT,
    rows_quarantined BIGINT
);

-- One row per file version read (path within the landing folder + content digest).
-- rows_read = rows_loaded + rows_duplicate + rows_revised + rows_quarantined, always.
CREATE TABLE IF NOT EXISTS ingest_files (
    file_id          VARCHAR PRIMARY KEY,
    run_id           VARCHAR NOT NULL,
    path             VARCHAR NOT NULL,
    entity           VARCHAR NOT NULL,
    format           VARCHAR NOT NULL,
    sha256           VARCHAR NOT NULL,
    size_bytes       BIGINT NOT NULL,
    status           VARCHAR NOT NULL,   -- 'loaded' | 'unreadable'
    rows_read        BIGINT NOT NULL,
    rows_loaded      BIGINT NOT NULL,
    rows_duplicate   BIGINT NOT NULL,
    rows_revised     BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL,
    ingested_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (path, sha256)
);
-- Partner payload files (entity 'partners') also say how many shipments the format found in them, how
-- many gave events, and how many were reported (quarantine rows): found = read + reported. NULL elsewhere.
ALTER TABLE ingest_files ADD COLUMN IF NOT EXISTS shipments_found BIGINT;
ALTER TABLE ingest_files ADD COLUMN IF NOT EXISTS shipments_read BIGINT;
ALTER TABLE ingest_files ADD COLUMN IF NOT EXISTS shipments_reported BIGINT;

CREATE TABLE IF NOT EXISTS quarantine (
    quarantine_id VARCHAR PRIMARY KEY,   -- '<file_id>:<row_number>' (row 0 = the whole file)
    run_id        VARCHAR NOT NULL,
    file_id       VARCHAR NOT NULL,
    path          VARCHAR NOT NULL,
    entity        VARCHAR NOT NULL,
    row_number    BIGINT NOT NULL,
    reason        VARCHAR NOT NULL,
    detail        VARCHAR,
    entity_id     VARCHAR,               -- order_id / event_id / proof_id when the row named one
    order_id      VARCHAR,
    raw_record    VARCHAR,               -- JSON of the row as read; NULL when encrypted
    raw_artifact_id VARCHAR,             -- vault artifact holding the encrypted raw record
    ingested_at   TIMESTAMPTZ NOT NULL
);

-- Every accepted version of every order (revision 1 = first seen). Contact fields are never here:
-- only keyed hashes (joinable, not reversible) and the vault artifact that holds them encrypted.
CREATE TABLE IF NOT EXISTS order_revisions (
    order_id        VARCHAR NOT NULL,
    revision        INTEGER NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    service_type    VARCHAR NOT NULL,
    depot_id        VARCHAR NOT NULL,
    zone_id         VARCHAR NOT NULL,
    address_line    VARCHAR NOT NULL,
    postcode        VARCHAR NOT NULL,
    city            VARCHAR NOT NULL,
    country         VARCHAR NOT NULL,
    address_lat     DOUBLE,
    address_lon     DOUBLE,
    window_start    TIMESTAMPTZ,
    window_end      TIMESTAMPTZ,
    partner_id      VARCHAR,
    partner_tracking_number VARCHAR,
    order_type      VARCHAR NOT NULL DEFAULT 'delivery',  -- 'delivery' | 'return_pickup' (null read as delivery)
    original_order_id VARCHAR,           -- the delivery a return_pickup returns (CONTRACT §9)
    has_recipient_name  BOOLEAN NOT NULL,
    recipient_name_hash  VARCHAR,
    recipient_phone_hash VARCHAR,
    recipient_email_hash VARCHAR,
    recipient_phone_possible BOOLEAN NOT NULL,
    recipient_email_valid    BOOLEAN NOT NULL,
    contact_artifact_id VARCHAR,
    content_hash    VARCHAR NOT NULL,
    partition_date  DATE NOT NULL,
    file_id         VARCHAR NOT NULL,
    row_number      BIGINT NOT NULL,
    run_id          VARCHAR NOT NULL,
    ingested_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (order_id, revision)
);

-- Every accepted event (first content of each event_id), before publication into daily partitions.
CREATE TABLE IF NOT EXISTS intake_events (
    event_id       VARCHAR PRIMARY KEY,
    order_id       VARCHAR NOT NULL,
    status         VARCHAR NOT NULL,
    exception_code VARCHAR,
    occurred_at    TIMESTAMPTZ NOT NULL,
    recorded_at    TIMESTAMPTZ NOT NULL,
    courier_id     VARCHAR,
    source         VARCHAR NOT NULL,
    lat            DOUBLE,
    lon            DOUBLE,
    content_hash   VARCHAR NOT NULL,
    partition_date DATE NOT NULL,
    file_id        VARCHAR NOT NULL,
    row_number     BIGINT NOT NULL,
    run_id         VARCHAR NOT NULL,
    ingested_at    TIMESTAMPTZ NOT NULL
);

-- Every accepted proof (first content of each proof_id). The blob itself is in the vault; here are
-- only the facts about it that checks need (present, size, digest, format by magic bytes).
CREATE TABLE IF NOT EXISTS intake_proofs (
    proof_id        VARCHAR PRIMARY KEY,
    order_id        VARCHAR NOT NULL,
    kind            VARCHAR NOT NULL,
    captured_at     TIMESTAMPTZ NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL,
    lat             DOUBLE,
    lon             DOUBLE,
    blob_path       VARCHAR,
    sha256          VARCHAR,
    blob_present    BOOLEAN NOT NULL,
    blob_size       BIGINT,
    blob_sha256     VARCHAR,
    blob_format     VARCHAR,             -- 'png' | 'jpeg' | 'unknown' | NULL when absent
    blob_artifact_id VARCHAR,
    content_hash    VARCHAR NOT NULL,
    partition_date  DATE NOT NULL,
    file_id         VARCHAR NOT NULL,
    row_number      BIGINT NOT NULL,
    run_id          VARCHAR NOT NULL,
    ingested_at     TIMESTAMPTZ NOT NULL
);

-- Published, daily-partitioned tables (written delete-then-insert per partition by the Dagster assets).
CREATE TABLE IF NOT EXISTS orders AS SELECT * EXCLUDE (revision), 1::INTEGER AS revision
    FROM order_revisions WITH NO DATA;
CREATE TABLE IF NOT EXISTS events AS SELECT * FROM intake_events WITH NO DATA;
-- Warehouses made before returns (CONTRACT §9) get the two order columns (every existing order is a delivery).
ALTER TABLE order_revisions ADD COLUMN IF NOT EXISTS order_type VARCHAR DEFAULT 'delivery';
ALTER TABLE order_revisions ADD COLUMN IF NOT EXISTS original_order_id VARCHAR;
ALTER TABLE orders ADD COLUMN IF NOT EXISTS order_type VARCHAR DEFAULT 'delivery';
ALTER TABLE orders ADD COLUMN IF NOT EXISTS original_order_id VARCHAR;
CREATE TABLE IF NOT EXISTS proofs AS SELECT * FROM intake_proofs WITH NO DATA;

CREATE TABLE IF NOT EXISTS published_partitions (
    table_name     VARCHAR NOT NULL,
    partition_date DATE NOT NULL,
    row_count      BIGINT NOT NULL,
    published_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (table_name, partition_date)
);

-- Partitions read but not yet published: a row is written (for each of the three tables, since a publish
-- covers one range of every table) in the same transaction as the intake rows that
-- touch the partition, and deleted in the same transaction as the partition's publish. Whatever a killed
-- command leaves here is published by the next `lastmile ingest`, `check` or `report kpi`, or by the
-- Dagster sensor intake_publish_sensor.
CREATE TABLE IF NOT EXISTS unpublished_partitions (
    table_name     VARCHAR NOT NULL,     -- 'orders' | 'events' | 'proofs'
    partition_date DATE NOT NULL,
    run_id         VARCHAR NOT NULL,     -- the ingest run that first read rows of it
    read_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (table_name, partition_date)
);

-- Partner carrier feeds (LANDING/partners/<partner_id>/, lastmile.partners). One row per payload file
-- read; the payload itself is kept encrypted in the vault (artifact partner_payload:<file_id>).
CREATE TABLE IF NOT EXISTS partner_payloads (
    file_id         VARCHAR PRIMARY KEY,
    partner_id      VARCHAR NOT NULL,
    format          VARCHAR NOT NULL,
    path            VARCHAR NOT NULL,
    sha256          VARCHAR NOT NULL,
    size_bytes      BIGINT NOT NULL,
    payload_artifact_id VARCHAR,
    events          BIGINT NOT NULL,
    run_id          VARCHAR NOT NULL,
    ingested_at     TIMESTAMPTZ NOT NULL
);

-- Every partner event seen (first sighting of each event_id), mapped or not: what the partner said
-- (raw codes, time as sent, location) next to what lastmile made of it. outcome: 'mapped' (in events),
-- 'informational' (a known code that is not a status), 'unmapped' (a code with no mapping; no event).
CREATE TABLE IF NOT EXISTS partner_events (
    event_id        VARCHAR PRIMARY KEY,
    partner_id      VARCHAR NOT NULL,
    tracking_number VARCHAR NOT NULL,
    order_id        VARCHAR NOT NULL,    -- the matched order, or '<partner_id>:<tracking_number>' (an orphan)
    order_matched   BOOLEAN NOT NULL,
    status_code     VARCHAR NOT NULL,
    status_mapped   BOOLEAN NOT NULL,
    reason_code     VARCHAR,
    reason_consulted BOOLEAN NOT NULL,
    reason_mapped   BOOLEAN,             -- NULL when the reason code was not consulted
    description     VARCHAR,
    status          VARCHAR,
    exception_code  VARCHAR,
    occurred_at     TIMESTAMPTZ NOT NULL,
    occurred_text   VARCHAR,             -- the time exactly as the partner wrote it
    utc_offset      VARCHAR,             -- the offset the partner gave; NULL = naive, read in network_timezone
    recorded_at     TIMESTAMPTZ NOT NULL,
    location        VARCHAR,
    lat             DOUBLE,
    lon             DOUBLE,
    signed          BOOLEAN NOT NULL,
    signer_name_hash VARCHAR,            -- keyed hash; the name itself is only in the encrypted payload
    proof_id        VARCHAR,
    outcome         VARCHAR NOT NULL,
    partition_date  DATE NOT NULL,
    file_id         VARCHAR NOT NULL,
    row_number      BIGINT NOT NULL,
    run_id          VARCHAR NOT NULL,
    ingested_at     TIMESTAMPTZ NOT NULL
);
-- Which entry of the status / reason table matched (an exact code, or a pattern as written: 're:<regex>',
-- '<prefix>*'); NULL when none did or the reason was not consulted.
ALTER TABLE partner_events ADD COLUMN IF NOT EXISTS status_entry VARCHAR;
ALTER TABLE partner_events ADD COLUMN IF NOT EXISTS reason_entry VARCHAR;

-- Customer messages, consent records and the template registry (CONTRACT §8, lastmile.messages).
-- Addresses are never here: only the keyed hash of the address normalised by channel. A message body is
-- in the vault (artifact message:<message_id>), a consent record's address too (consent:<consent_id>).
CREATE TABLE IF NOT EXISTS intake_messages (
    message_id       VARCHAR PRIMARY KEY,
    order_id         VARCHAR NOT NULL,
    channel          VARCHAR NOT NULL,
    purpose          VARCHAR NOT NULL,
    address_hash     VARCHAR NOT NULL,
    template_id      VARCHAR NOT NULL,
    template_version BIGINT NOT NULL,
    trigger_event_id VARCHAR,
    sent_at          TIMESTAMPTZ NOT NULL,
    delivery_status  VARCHAR NOT NULL,
    variant          VARCHAR,
    has_body         BOOLEAN NOT NULL,
    body_artifact_id VARCHAR,
    content_hash     VARCHAR NOT NULL,
    partition_date   DATE NOT NULL,
    file_id          VARCHAR NOT NULL,
    row_number       BIGINT NOT NULL,
    run_id           VARCHAR NOT NULL,
    ingested_at      TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS messages AS SELECT * FROM intake_messages WITH NO DATA;
CREATE TABLE IF NOT EXISTS consents (
    consent_id       VARCHAR PRIMARY KEY,
    channel          VARCHAR NOT NULL,
    address_hash     VARCHAR NOT NULL,
    purpose          VARCHAR NOT NULL,      -- 'transactional' | 'marketing' | 'all'
    state            VARCHAR NOT NULL,      -- 'granted' | 'withdrawn'
    "at"             TIMESTAMPTZ NOT NULL,
    source           VARCHAR NOT NULL,
    address_artifact_id VARCHAR NOT NULL,
    content_hash     VARCHAR NOT NULL,
    partition_date   DATE NOT NULL,
    file_id          VARCHAR NOT NULL,
    row_number       BIGINT NOT NULL,
    run_id           VARCHAR NOT NULL,
    ingested_at      TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS templates (
    template_id      VARCHAR NOT NULL,
    version          BIGINT NOT NULL,
    channel          VARCHAR NOT NULL,
    purpose          VARCHAR NOT NULL,
    status           VARCHAR,
    exception_code   VARCHAR,
    body             VARCHAR NOT NULL,
    sensitive        BOOLEAN NOT NULL,
    approved_by      VARCHAR,
    reviewed_by      VARCHAR,
    approved_at      TIMESTAMPTZ,
    retired_at       TIMESTAMPTZ,
    content_hash     VARCHAR NOT NULL,
    file_id          VARCHAR NOT NULL,
    row_number       BIGINT NOT NULL,
    run_id           VARCHAR NOT NULL,
    ingested_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (template_id, version)
);
