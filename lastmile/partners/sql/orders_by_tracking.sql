-- The current order (latest revision) of every partner tracking number, read once per ingest: the smallest
-- order_id when several current orders name the same partner and number.
WITH named AS (
    SELECT DISTINCT order_id FROM order_revisions WHERE partner_id IS NOT NULL
), cur AS (
    SELECT r.order_id, max(r.revision) AS revision
    FROM order_revisions AS r JOIN named USING (order_id)
    GROUP BY r.order_id
)
SELECT r.partner_id, r.partner_tracking_number, min(r.order_id) AS order_id
FROM order_revisions AS r JOIN cur USING (order_id, revision)
WHERE r.partner_id IS NOT NULL AND r.partner_tracking_number IS NOT NULL
GROUP BY r.partner_id, r.partner_tracking_number;
