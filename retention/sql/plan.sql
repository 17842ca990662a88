-- Every live (not yet purged) vault artifact with its clock start, due time and planned action at $as_of.
-- Session TimeZone is the network timezone, so `+ to_days(n)` counts calendar days there.
CREATE OR REPLACE TEMP TABLE _retention_plan AS
WITH live AS (
    SELECT artifact_id, artifact_kind, order_id, kek_version, created_at AS sealed_at
    FROM vault_artifacts
    WHERE purged_at IS NULL
),
created AS (
    SELECT order_id, arg_max(created_at, revision) AS created_at
    FROM order_revisions
    GROUP BY order_id
),
terminal AS (
    SELECT order_id, min(occurred_at) AS first_terminal
    FROM intake_events
    WHERE list_contains($terminal, status)  -- CONTRACT §2 terminal statuses (return_received included)
    GROUP BY order_id
),
holds AS (
    SELECT order_id, arg_min(hold_id, placed_at) AS hold_id, arg_min(reason, placed_at) AS hold_reason
    FROM legal_holds
    WHERE released_at IS NULL
    GROUP BY order_id
),
clocked AS (
    SELECT l.*,
        CASE l.artifact_kind
            WHEN 'signature' THEN $days_signature
            WHEN 'photo' THEN $days_photo
            WHEN 'id_check' THEN $days_id_check
            WHEN 'recipient_contact' THEN $days_recipient_contact
            WHEN 'partner_payload' THEN $days_partner_payload
            WHEN 'message_body' THEN $days_message_body
            WHEN 'consent_record' THEN $days_consent_record
            ELSE $days_quarantined_record
        END AS retention_days,
        CASE
            WHEN l.artifact_kind = 'quarantined_record' THEN coalesce(q.ingested_at, l.sealed_at)
            WHEN l.artifact_kind = 'partner_payload' THEN coalesce(pp.ingested_at, l.sealed_at)
            WHEN l.artifact_kind = 'consent_record' THEN coalesce(k."at", l.sealed_at)
            WHEN t.first_terminal IS NOT NULL THEN t.first_terminal
            WHEN c.created_at IS NOT NULL THEN c.created_at + to_days($no_terminal_days)
            WHEN p.captured_at IS NOT NULL THEN p.captured_at + to_days($no_terminal_days)
            ELSE l.sealed_at + to_days($no_terminal_days)
        END AS clock_start,
        CASE
            WHEN l.artifact_kind IN ('quarantined_record', 'partner_payload') THEN 'ingested'
            WHEN l.artifact_kind = 'consent_record' THEN 'consent record at'
            WHEN t.first_terminal IS NOT NULL THEN 'first terminal event'
            WHEN c.created_at IS NOT NULL THEN 'no terminal event: created_at + ' || $no_terminal_days || ' days'
            WHEN p.captured_at IS NOT NULL THEN 'order unknown: captured_at + ' || $no_terminal_days || ' days'
            ELSE 'no order: sealed_at + ' || $no_terminal_days || ' days'
        END AS clock_basis
    FROM live AS l
    LEFT JOIN terminal AS t ON t.order_id = l.order_id
    LEFT JOIN created AS c ON c.order_id = l.order_id
    LEFT JOIN intake_proofs AS p ON p.blob_artifact_id = l.artifact_id
    LEFT JOIN quarantine AS q ON q.raw_artifact_id = l.artifact_id
    LEFT JOIN partner_payloads AS pp ON pp.payload_artifact_id = l.artifact_id
    LEFT JOIN consents AS k ON k.address_artifact_id = l.artifact_id
),
due AS (
    SELECT *, clock_start + to_days(retention_days) AS due_at FROM clocked
)
SELECT d.artifact_id, d.artifact_kind, d.order_id, d.kek_version, d.clock_start, d.due_at,
    d.retention_days, d.clock_basis,
    CASE WHEN d.due_at > $as_of THEN 'retained' WHEN h.hold_id IS NOT NULL THEN 'held' ELSE 'purged' END AS action,
    CASE WHEN d.due_at <= $as_of THEN h.hold_id END AS hold_id,
    CASE WHEN d.due_at <= $as_of THEN h.hold_reason END AS hold_reason
FROM due AS d
LEFT JOIN holds AS h ON h.order_id = d.order_id;
