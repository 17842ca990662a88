-- The current order of each of a partner's tracking numbers (smallest order_id if several name it).
SELECT partner_tracking_number, min(order_id) AS order_id
FROM (
    SELECT order_id, partner_id, partner_tracking_number,
        row_number() OVER (PARTITION BY order_id ORDER BY revision DESC) AS rn
    FROM order_revisions
)
WHERE rn = 1 AND partner_id = $partner_id AND list_contains($numbers, partner_tracking_number)
GROUP BY partner_tracking_number;
