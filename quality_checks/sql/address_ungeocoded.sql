-- address.ungeocoded: an order (partition of created_at) with no address_lat/address_lon.
SELECT order_id AS entity_id, order_id, partition_date, address_lat IS NULL AS failed,
    struct_pack(postcode := postcode, city := city) AS observed
FROM orders
WHERE partition_date BETWEEN $start AND $end
