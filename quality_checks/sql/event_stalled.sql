-- event.stalled: an order whose latest event at or before as_of is dispatched, out_for_delivery or
-- arrived, and as_of - its occurred_at is above the threshold (exactly the threshold passes).
-- Latest = greatest occurred_at; ties broken by recorded_at, then event_id.
WITH latest AS (
    SELECT order_id,
        arg_max(status, (occurred_at, recorded_at, event_id)) AS status,
        max(occurred_at) AS occurred_at,
        arg_max(event_id, (occurred_at, recorded_at, event_id)) AS event_id
    FROM events
    WHERE occurred_at <= $as_of
    GROUP BY order_id
)
SELECT order_id AS entity_id, order_id, $as_of::DATE AS partition_date,
    list_contains($in_flight, status)
        AND epoch_us($as_of) - epoch_us(occurred_at) > $threshold_us AS failed,
    struct_pack(latest_status := status, latest_event_id := event_id, latest_occurred_at := occurred_at, idle_h := round((epoch_us($as_of) - epoch_us(occurred_at)) / 3.6e9, 2)) AS observed
FROM latest
