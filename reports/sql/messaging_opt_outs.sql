-- Withdrawn consent records whose `at` falls in the week (network timezone), by source and channel.
SELECT source, channel, count(*) AS n FROM consents
WHERE state = 'withdrawn' AND kpi_week("at", $tz) = $week_start
GROUP BY source, channel ORDER BY n DESC, source, channel;
