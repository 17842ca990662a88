"""Audit jobs: verify the audit trail, and write the auditor's trace of one order.

Thin wiring: each op makes one call into the domain (`AuditTrail.verify`, `reports.trace.run_trace`) and
reports what it found as metadata. A log that is not intact fails the verify run (dg.Failure carrying the
finding), so a scheduled verify shows red in Dagster. Opening a proof is deliberately not a job: the
decryption must run as the person who asks (their name is checked against the access file and logged),
not as whoever runs the Dagster webserver or daemon.
"""

from pathlib import Path

import dagster as dg
from pydantic import Field

from lastmile.access import load_access
from lastmile.actor import current_actor
from lastmile.audit import AuditTrail
from pipelines.defs.resources import LastmileResource, utc_now
from reports.trace import run_trace

POOL = "warehouse"


@dg.op(
    name="audit_verify",
    description="Recompute the audit trail's hash chain, its Merkle root at every checkpoint and every "
    "checkpoint signature; fail naming the first entry that does not verify.",
    pool=POOL,
)
def audit_verify(context: dg.OpExecutionContext, lastmile: LastmileResource) -> dict[str, object]:
    report = AuditTrail(lastmile.conn, lastmile.paths.audit_dir).verify()
    metadata = {
        "intact": dg.MetadataValue.bool(report.ok),
        "entries": dg.MetadataValue.int(report.entries),
        "checkpoints": dg.MetadataValue.int(report.checkpoints),
        "finding": dg.MetadataValue.text(report.finding),
        "first_bad_seq": dg.MetadataValue.int(report.first_bad_seq)
        if report.first_bad_seq is not None
        else dg.MetadataValue.null(),
    }
    if not report.ok:
        raise dg.Failure(description=report.finding, metadata=metadata, allow_retries=False)
    context.add_output_metadata(metadata)
    return {"ok": True, "entries": report.entries, "checkpoints": report.checkpoints, "finding": report.finding}


class TraceConfig(dg.Config):
    order_id: str = Field(description="The order to trace.")
    format: str = Field(default="html", description="html or json.")
    out: str = Field(
        default="",
        description="Output file; empty means LASTMILE_HOME/reports/trace-<order>.html for html, and the "
        "op's output (printed by `lastmile audit trace`) for json.",
    )


@dg.op(
    name="audit_trace",
    description="Write one order's whole story (order and revisions, events with attribution, proofs and their "
    "retention state, findings, quarantined rows, outcome, audit entries with inclusion proofs); the "
    "request is checked against the access file and logged in the audit trail.",
    pool=POOL,
)
def audit_trace(context: dg.OpExecutionContext, config: TraceConfig, lastmile: LastmileResource) -> dict[str, object]:
    result = run_trace(
        lastmile.conn,
        lastmile.paths,
        config.order_id,
        fmt=config.format,
        out=Path(config.out).expanduser().resolve() if config.out else None,
        at=utc_now(),
        actor=current_actor(),
        access=load_access(lastmile.paths.root),
        network_timezone=lastmile.settings.network_timezone,
    )
    context.add_output_metadata(
        {
            "order_id": dg.MetadataValue.text(result.order_id),
            "outcome": dg.MetadataValue.text(result.outcome),
            "path": dg.MetadataValue.path(str(result.path)) if result.path else dg.MetadataValue.text("stdout"),
            "audit_seq": dg.MetadataValue.int(result.audit_seq),
        }
    )
    return {"path": str(result.path) if result.path else None, "text": result.text, "outcome": result.outcome}


@dg.job(description="Check the audit trail for tampering (lastmile audit verify).")
def audit_verify_job() -> None:
    audit_verify()


@dg.job(description="Write the auditor's trace of one order (lastmile audit trace ORDER_ID).")
def audit_trace_job() -> None:
    audit_trace()


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(jobs=[audit_verify_job, audit_trace_job])
