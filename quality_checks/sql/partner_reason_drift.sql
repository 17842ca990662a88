-- partner.reason_drift: on a day a partner reported failed attempts (delivery_attempted events of source
-- partner:<id>), an exception code's share of that day's failed attempts differs by more than $points
-- percentage points from its share over the 28 days before (entity <partner_id>:<exception_code>).
-- Evaluated only where both the day and the trailing 4 weeks have failed attempts (else there is no
-- baseline). Shares compared exactly: |c_day * n_trail - c_trail * n_day| * 100 > points * n_day * n_trail.
WITH att AS (
    SELECT substr(source, 9) AS partner_id, exception_code AS code, partition_date AS day
    FROM events
    WHERE source LIKE 'partner:%' AND status = 'delivery_attempted'
      AND partition_date BETWEEN $start::DATE - 28 AND $end
), days AS (
    SELECT DISTINCT partner_id, day FROM att WHERE day BETWEEN $start AND $end
), cur AS (
    SELECT d.partner_id, d.day, a.code, count(*) AS c
    FROM days AS d JOIN att AS a ON a.partner_id = d.partner_id AND a.day = d.day
    GROUP BY ALL
), trail AS (
    SELECT d.partner_id, d.day, a.code, count(*) AS c
    FROM days AS d JOIN att AS a ON a.partner_id = d.partner_id AND a.day BETWEEN d.day - 28 AND d.day - 1
    GROUP BY ALL
), n_cur AS (
    SELECT partner_id, day, sum(c) AS n FROM cur GROUP BY ALL
), n_trail AS (
    SELECT partner_id, day, sum(c) AS n FROM trail GROUP BY ALL
), keys AS (
    SELECT partner_id, day, code FROM cur WHERE code IS NOT NULL
    UNION
    SELECT partner_id, day, code FROM trail WHERE code IS NOT NULL
)
SELECT k.partner_id || ':' || k.code AS entity_id, NULL::VARCHAR AS order_id, k.day AS partition_date,
    abs(coalesce(c.c, 0) * nt.n - coalesce(t.c, 0) * nc.n) * 100 > $points * nc.n * nt.n AS failed,
    struct_pack(partner_id := k.partner_id, exception_code := k.code, day_attempts := coalesce(c.c, 0), day_failed_attempts := nc.n, trailing_attempts := coalesce(t.c, 0), trailing_failed_attempts := nt.n, day_share_pct := round(100.0 * coalesce(c.c, 0) / nc.n, 2), trailing_share_pct := round(100.0 * coalesce(t.c, 0) / nt.n, 2)) AS observed
FROM keys AS k
JOIN n_cur AS nc USING (partner_id, day)
JOIN n_trail AS nt USING (partner_id, day)
LEFT JOIN cur AS c ON c.partner_id = k.partner_id AND c.day = k.day AND c.code = k.code
LEFT JOIN trail AS t ON t.partner_id = k.partner_id AND t.day = k.day AND t.code = k.code
