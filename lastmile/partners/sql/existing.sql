-- What earlier files left for these event ids: the partner event's outcome, and whether events holds the id.
SELECT i.id, p.outcome, e.event_id IS NOT NULL AS in_events
FROM (SELECT unnest($ids) AS id) AS i
LEFT JOIN partner_events AS p ON p.event_id = i.id
LEFT JOIN intake_events AS e ON e.event_id = i.id;
