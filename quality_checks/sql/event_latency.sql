-- event.latency: recorded_at - occurred_at above the threshold (exactly the threshold passes).
SELECT event_id AS entity_id, order_id, partition_date,
    epoch_us(recorded_at) - epoch_us(occurred_at) > $threshold_us AS failed,
    struct_pack(occurred_at := occurred_at, recorded_at := recorded_at, latency_s := (epoch_us(recorded_at) - epoch_us(occurred_at)) / 1e6) AS observed
FROM events
WHERE partition_date BETWEEN $start AND $end
