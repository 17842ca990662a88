-- Data-quality findings and the kept history of check runs (CONTRACT §4).
CREATE TABLE IF NOT EXISTS dq_findings (
    check_id       VARCHAR NOT NULL,
    severity       VARCHAR NOT NULL,      -- 'warn' | 'error'
    entity_kind    VARCHAR NOT NULL,
    entity_id      VARCHAR NOT NULL,
    order_id       VARCHAR,
    partition_date DATE NOT NULL,
    observed       JSON,
    run_id         VARCHAR NOT NULL,
    detected_at    TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS dq_check_runs (
    run_id         VARCHAR NOT NULL,
    check_id       VARCHAR NOT NULL,
    partition_date DATE NOT NULL,
    evaluated      BIGINT NOT NULL,
    failed         BIGINT NOT NULL,
    started_at     TIMESTAMPTZ NOT NULL,
    finished_at    TIMESTAMPTZ NOT NULL,
    as_of          TIMESTAMPTZ
);
