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
-- One row per run of checks (a Dagster run): the checks it was asked for and those that have recorded
-- their findings and history. finished_at is set once every asked-for check has; a run whose finished_at
-- is NULL did not finish (killed, or a check failed): its dq_check_runs rows are partial history and no
-- report counts them (its findings, written atomically per check and partition, are as good as any).
CREATE TABLE IF NOT EXISTS dq_runs (
    run_id          VARCHAR PRIMARY KEY,
    checks_expected VARCHAR[] NOT NULL,
    checks_done     VARCHAR[] NOT NULL,
    started_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ
);
