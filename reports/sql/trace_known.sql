-- Is the order named anywhere: its rows, its events or proofs, or a quarantined row?
SELECT (SELECT count(*) FROM order_revisions WHERE order_id = $order_id)
     + (SELECT count(*) FROM intake_events WHERE order_id = $order_id)
     + (SELECT count(*) FROM intake_proofs WHERE order_id = $order_id)
     + (SELECT count(*) FROM quarantine WHERE order_id = $order_id OR entity_id = $order_id) AS mentions;
