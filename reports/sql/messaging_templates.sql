-- Template versions in force at the end of the week, with how many messages of the week used each.
SELECT t.template_id, t.version, t.channel, t.purpose, t.status, t.exception_code, t.sensitive, t.approved_by,
    t.reviewed_by, t.approved_at, t.body,
    (SELECT count(*) FROM messages AS m WHERE m.template_id = t.template_id AND m.template_version = t.version
        AND kpi_week(m.sent_at, $tz) = $week_start) AS messages
FROM templates AS t
WHERE template_in_force(t.approved_by, t.approved_at, t.retired_at, t.sensitive, t.reviewed_by, $week_end)
ORDER BY t.channel, t.status NULLS LAST, t.template_id, t.version;
