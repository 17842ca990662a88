-- template.review_missing: a sensitive template with approved_by set and reviewed_by missing or equal to
-- approved_by (retired or not).
SELECT template_id || ':' || version AS entity_id, NULL::VARCHAR AS order_id, $as_of::DATE AS partition_date,
    reviewed_by IS NULL OR reviewed_by = approved_by AS failed,
    struct_pack(approved_by := approved_by, reviewed_by := reviewed_by, retired_at := retired_at) AS observed
FROM templates
WHERE sensitive AND approved_by IS NOT NULL
