-- One ingest's partner files, in one transaction. _pc is classify.sql's table; _partner_payloads and
-- _partner_files come from lastmile.partners.ingest (one row per payload read / per file version).
DELETE FROM partner_events WHERE event_id IN (SELECT event_id FROM _pc WHERE result IN ('loaded', 'unmapped'));
INSERT INTO partner_events BY NAME
SELECT event_id, partner_id, tracking_number, order_id, order_matched, status_code, status_mapped, reason_code,
    reason_consulted, reason_mapped, description, status, exception_code, occurred_at, occurred_text, utc_offset,
    recorded_at, location, lat, lon, signed, signer_name_hash, proof_id, outcome, partition_date, file_id,
    row_number, $run_id AS run_id, $now AS ingested_at, status_entry, reason_entry
FROM _pc WHERE result IN ('loaded', 'unmapped');
INSERT INTO intake_events
SELECT event_id, order_id, status, exception_code, occurred_at, recorded_at, NULL, 'partner:' || partner_id,
    lat, lon,
    md5(concat_ws(chr(31), event_id, order_id, status, coalesce(exception_code, chr(0)),
        epoch_us(occurred_at), epoch_us(recorded_at), chr(0), 'partner:' || partner_id,
        coalesce(lat::VARCHAR, chr(0)), coalesce(lon::VARCHAR, chr(0)))),
    partition_date, file_id, row_number, $run_id, $now
FROM _pc WHERE result = 'loaded' AND outcome = 'mapped';
-- A signature the partner reports (signer's name or signature flag) becomes a proof of kind signature.
-- lastmile holds no image of it (the carrier does): no blob_path, so proof.invalid judges it.
INSERT INTO intake_proofs
SELECT proof_id, order_id, 'signature', occurred_at, recorded_at, lat, lon, NULL, NULL, FALSE, NULL, NULL, NULL,
    NULL,
    md5(concat_ws(chr(31), proof_id, order_id, 'signature', epoch_us(occurred_at), epoch_us(recorded_at),
        coalesce(lat::VARCHAR, chr(0)), coalesce(lon::VARCHAR, chr(0)), chr(0), chr(0))),
    partition_date, file_id, row_number, $run_id, $now
FROM _pc WHERE result = 'loaded' AND proof_id IS NOT NULL
    AND proof_id NOT IN (SELECT proof_id FROM intake_proofs);
-- Delete-then-insert, not INSERT OR REPLACE: the same statements run on DuckLake, which has no keys.
DELETE FROM partner_payloads WHERE file_id IN (SELECT file_id FROM _partner_payloads);
INSERT INTO partner_payloads BY NAME
SELECT *, $run_id AS run_id, $now AS ingested_at FROM _partner_payloads;
INSERT INTO ingest_files BY NAME SELECT * FROM _partner_files;
