-- kpi_weekly (CONTRACT §5): one row per KPI, ISO week (Monday, network timezone) and dimension.
CREATE TABLE IF NOT EXISTS kpi_weekly (
    week_start         DATE NOT NULL,      -- Monday of the ISO week, counted in the network timezone
    kpi_id             VARCHAR NOT NULL,
    dimension          VARCHAR NOT NULL,   -- 'all' | 'zone' | 'courier' | 'exception_code' | 'channel' | 'variant'
    dimension_value    VARCHAR,            -- NULL for 'all'; also NULL for events without a courier / code
    numerator          BIGINT,
    denominator        BIGINT,
    value              DOUBLE,             -- numerator / denominator; NULL where the denominator is 0
    definition_version VARCHAR NOT NULL
);
