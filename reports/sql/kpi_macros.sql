-- The ISO week (its Monday) of an instant, counted in the network timezone whatever the session's is.
CREATE OR REPLACE TEMP MACRO kpi_week(ts, tz) AS date_trunc('week', timezone(tz, ts))::DATE;
