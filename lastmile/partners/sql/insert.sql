-- One payload's accepted partner events. _partner_rows comes from lastmile.partners.ingest: one row per
-- partner event to store (first sightings, and earlier unmapped events that map now).
DELETE FROM partner_events WHERE event_id IN (SELECT event_id FROM _partner_rows);
INSERT INTO partner_events
SELECT event_id, partner_id, tracking_number, order_id, order_matched, status_code, status_mapped, reason_code,
    reason_consulted, reason_mapped, description, status, exception_code, occurred_at, occurred_text, utc_offset,
    recorded_at, location, lat, lon, signed, signer_name_hash, proof_id, outcome, occurred_at::DATE,
    $file_id, row_number, $run_id, $now
FROM _partner_rows;
INSERT INTO intake_events
SELECT event_id, order_id, status, exception_code, occurred_at, recorded_at, NULL, 'partner:' || partner_id,
    lat, lon,
    md5(concat_ws(chr(31), event_id, order_id, status, coalesce(exception_code, chr(0)),
        epoch_us(occurred_at), epoch_us(recorded_at), chr(0), 'partner:' || partner_id,
        coalesce(lat::VARCHAR, chr(0)), coalesce(lon::VARCHAR, chr(0)))),
    occurred_at::DATE, $file_id, row_number, $run_id, $now
FROM _partner_rows WHERE outcome = 'mapped';
-- A signature the partner reports (signer's name or signature flag) becomes a proof of kind signature.
-- lastmile holds no image of it (the carrier does): no blob_path, so proof.invalid judges it.
INSERT INTO intake_proofs
SELECT proof_id, order_id, 'signature', occurred_at, recorded_at, lat, lon, NULL, NULL, FALSE, NULL, NULL, NULL,
    NULL,
    md5(concat_ws(chr(31), proof_id, order_id, 'signature', epoch_us(occurred_at), epoch_us(recorded_at),
        coalesce(lat::VARCHAR, chr(0)), coalesce(lon::VARCHAR, chr(0)), chr(0), chr(0))),
    occurred_at::DATE, $file_id, row_number, $run_id, $now
FROM _partner_rows WHERE proof_id IS NOT NULL
    AND proof_id NOT IN (SELECT proof_id FROM intake_proofs);
