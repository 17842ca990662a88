-- proof.invalid: blob absent, empty, digest missing or not matching, not PNG/JPEG by its magic bytes,
-- or a blob kind (signature, photo, id_check) without blob_path.
WITH p AS (
    SELECT proof_id, order_id, kind, partition_date, blob_path, sha256, blob_sha256,
        CASE
            WHEN blob_path IS NULL THEN CASE WHEN list_contains($blob_kinds, kind) THEN 'no blob_path' END
            WHEN NOT blob_present THEN 'blob absent'
            WHEN blob_size = 0 THEN 'blob empty'
            WHEN sha256 IS NULL THEN 'sha256 missing'
            WHEN lower(trim(sha256)) <> blob_sha256 THEN 'sha256 mismatch'
            WHEN blob_format NOT IN ('png', 'jpeg') THEN 'not PNG or JPEG'
        END AS problem
    FROM proofs
    WHERE partition_date BETWEEN $start AND $end
)
SELECT proof_id AS entity_id, order_id, partition_date, problem IS NOT NULL AS failed,
    struct_pack(kind := kind, problem := problem, blob_path := blob_path, sha256 := sha256, blob_sha256 := blob_sha256) AS observed
FROM p
