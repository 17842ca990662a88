-- address.repeat_failure: at least N events coded address_not_found/address_mismatch, on at least M
-- distinct orders, in the D days before as_of ((as_of - D calendar days, as_of], network timezone $tz),
-- sharing an address key.
WITH f AS (
    SELECT e.event_id, e.order_id, address_key(o.postcode, o.address_line) AS akey
    FROM events AS e
    JOIN orders AS o USING (order_id)
    WHERE e.exception_code IN ('address_not_found', 'address_mismatch')
      AND e.occurred_at > plus_days($as_of, -$days, $tz) AND e.occurred_at <= $as_of
)
SELECT akey AS entity_id, NULL::VARCHAR AS order_id, $as_of::DATE AS partition_date,
    count(*) >= $min_events AND count(DISTINCT order_id) >= $min_orders AS failed,
    struct_pack(events := count(*), orders := count(DISTINCT order_id), order_ids := list(DISTINCT order_id ORDER BY order_id)) AS observed
FROM f
GROUP BY akey
