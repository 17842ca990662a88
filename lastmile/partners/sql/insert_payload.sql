INSERT OR REPLACE INTO partner_payloads VALUES
    ($file_id, $partner_id, $format, $path, $sha256, $size_bytes, $artifact_id, $events, $run_id, $now);
