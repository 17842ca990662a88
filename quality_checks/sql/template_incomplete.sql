-- template.incomplete: in force at as_of, status delivery_attempted or exception, and the body lacks
-- {reason}, {next_step} or, for delivery_attempted, {reschedule_url}.
SELECT template_id || ':' || version AS entity_id, NULL::VARCHAR AS order_id, $as_of::DATE AS partition_date,
    NOT contains(body, '{reason}') OR NOT contains(body, '{next_step}')
        OR (status = 'delivery_attempted' AND NOT contains(body, '{reschedule_url}')) AS failed,
    struct_pack(status := status, channel := channel,
        missing := list_filter(['{reason}', '{next_step}',
            CASE WHEN status = 'delivery_attempted' THEN '{reschedule_url}' END],
            x -> x IS NOT NULL AND NOT contains(body, x))) AS observed
FROM templates
WHERE status IN ('delivery_attempted', 'exception')
  AND template_in_force(approved_by, approved_at, retired_at, sensitive, reviewed_by, $as_of::TIMESTAMPTZ)
