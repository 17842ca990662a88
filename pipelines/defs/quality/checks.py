"""Every data-quality check of CONTRACT §4 as a Dagster asset check on the table it reads.

Thin wiring: each check calls `quality_checks.run_checks` for its partitions (or its window ending at
as_of) and reports evaluated, failed, failure rate and a sample of failing entities as metadata.
Per-partition checks are partitioned like the tables; `event.orphan`, `event.conflict` and
`proof.invalid` are blocking, so assets downstream of a failing partition do not build in that run.
"""

import datetime as dt
from typing import Any

import dagster as dg
from pydantic import Field

from lastmile.audit.log import log_check_run
from lastmile.errors import LastmileError
from pipelines.defs.ingest.partitions import daily_partitions
from pipelines.defs.resources import LastmileResource, home_settings, resolve_home, utc_now
from quality_checks import CHECKS, Check, CheckResult, run_checks
from quality_checks.expectations import SUITE_TABLES, load_suite, run_suite, suite_path

POOL = "warehouse"
TABLE_OF_ENTITY = {"event": "events", "order": "orders", "proof": "proofs"}
# Which published table each check is attached to, and which others it also reads. The other tables are
# named in the description, not declared as deps: a dep would make a failing blocking check on `events`
# skip the checks of `proofs` in the same run, and every check should report on every run.
READS: dict[str, tuple[str, tuple[str, ...]]] = {
    "event.sequence_gap": ("events", ()),
    "event.latency": ("events", ()),
    "event.clock_skew": ("events", ()),
    "event.orphan": ("events", ("orders",)),
    "event.exception_code_invalid": ("events", ()),
    "event.conflict": ("events", ()),
    "event.after_terminal": ("events", ()),
    "proof.missing": ("proofs", ("events", "orders")),
    "proof.invalid": ("proofs", ()),
    "address.distance_mismatch": ("events", ("orders",)),
    "address.ungeocoded": ("orders", ()),
    "order.contact_unreachable": ("orders", ()),
    "event.stalled": ("events", ()),
    "exception.unresolved": ("events", ()),
    "address.repeat_failure": ("events", ("orders",)),
    "address.hotspot": ("events", ("orders",)),
    "partner.unmapped_code": ("events", ("partner_events",)),
    "partner.new_code": ("events", ("partner_events",)),
    "partner.reason_drift": ("events", ()),
    # CONTRACT §8 (lastmile.messages): consents and templates are kept whole by the landing intake.
    "message.without_consent": ("messages", ("consents", "templates")),
    "message.quiet_hours": ("messages", ("templates",)),
    "message.template_invalid": ("messages", ("templates",)),
    "message.template_mismatch": ("messages", ("templates", "events")),
    "message.premature": ("messages", ("templates", "events", "orders", "proofs")),
    "message.after_terminal": ("messages", ("templates", "events")),
    "message.duplicate": ("messages", ("templates",)),
    "message.missing": ("events", ("orders", "messages")),
    "template.incomplete": ("messages", ("templates",)),
    "template.review_missing": ("messages", ("templates",)),
    "template.coverage_gap": ("messages", ("templates",)),
}


class WindowCheckConfig(dg.Config):
    as_of: str = Field(
        default="",
        description="Evaluation time (ISO 8601 with offset; naive = network timezone). "
        "Empty means the largest recorded_at in the warehouse.",
    )


def check_name(check_id: str) -> str:
    return check_id.replace(".", "__")


def parse_as_of(value: str, timezone: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise LastmileError(f"--as-of {value!r} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        import zoneinfo

        parsed = parsed.replace(tzinfo=zoneinfo.ZoneInfo(timezone))
    return parsed


def _result(check: Check, results: list[CheckResult], context_run_id: str) -> dg.AssetCheckResult:
    evaluated = sum(r.evaluated for r in results)
    failed = sum(r.failed for r in results)
    sample = [e for r in results for e in r.worst][:5]
    return dg.AssetCheckResult(
        passed=failed == 0,
        severity=dg.AssetCheckSeverity.ERROR if check.severity == "error" else dg.AssetCheckSeverity.WARN,
        metadata={
            "evaluated": dg.MetadataValue.int(evaluated),
            "failed": dg.MetadataValue.int(failed),
            "failure_rate": dg.MetadataValue.float(failed / evaluated if evaluated else 0.0),
            "sample_failing_entities": dg.MetadataValue.json(sample),
            "severity": dg.MetadataValue.text(check.severity),
            "findings_in": dg.MetadataValue.text("dq_findings (check_id, run_id) and dq_check_runs"),
            "run_id": dg.MetadataValue.text(context_run_id),
        },
    )


def _audit(
    lastmile: LastmileResource, check_id: str, run_id: str, scope: dict[str, str | None], evaluated: int, failed: int
) -> None:
    """Log this check's run into the audit trail (and sign a checkpoint)."""
    details = {"run_id": run_id, **scope, "evaluated": evaluated, "failed": failed}
    log_check_run(lastmile.conn, lastmile.paths, check_id, details, at=utc_now())


def _partition_days(context: dg.AssetCheckExecutionContext) -> tuple[dg.PartitionKeyRange, list[dt.date]]:
    """The run's partition range and every day in it."""
    keys = context.op_execution_context.partition_key_range
    start, end = dt.date.fromisoformat(keys.start), dt.date.fromisoformat(keys.end)
    return keys, [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def _evaluate(
    check: Check, context: dg.AssetCheckExecutionContext, lastmile: LastmileResource, scope: dict[str, str | None],
    **selection: Any,
) -> dg.AssetCheckResult:  # fmt: skip
    """Run one check over `selection` (dates= or as_of=), log it in the audit trail, report it to Dagster."""
    run_id = context.run.run_id
    results = run_checks(
        lastmile.conn, lastmile.settings, run_id=run_id, now=utc_now(), checks=[check.check_id], **selection
    )
    _audit(lastmile, check.check_id, run_id, scope, sum(r.evaluated for r in results), sum(r.failed for r in results))
    return _result(check, results, run_id)


# Per-partition checks that also look back from as_of (message.missing: recorded_at + window <= as_of); they
# take the same optional config as the window checks (empty = the largest recorded_at in the warehouse).
PARTITION_CHECKS_WITH_AS_OF = frozenset({"message.missing"})


def build_partition_check(check: Check, partitions_def: dg.PartitionsDefinition) -> dg.AssetChecksDefinition:
    table, also = READS[check.check_id]
    if check.check_id in PARTITION_CHECKS_WITH_AS_OF:
        return _build_partition_check_with_as_of(check, partitions_def)

    @dg.asset_check(
        name=check_name(check.check_id),
        asset=table,
        description=f"{check.check_id} ({check.severity}): {check.description}. Per network-timezone day."
        + (f" Also reads {', '.join(also)}." if also else ""),
        blocking=check.blocking,
        pool=POOL,
        partitions_def=partitions_def,
    )
    def _check(context: dg.AssetCheckExecutionContext, lastmile: LastmileResource) -> dg.AssetCheckResult:
        keys, days = _partition_days(context)
        scope: dict[str, str | None] = {"partition_start": keys.start, "partition_end": keys.end}
        return _evaluate(check, context, lastmile, scope, dates=days)

    return _check


def _build_partition_check_with_as_of(
    check: Check, partitions_def: dg.PartitionsDefinition
) -> dg.AssetChecksDefinition:
    table, also = READS[check.check_id]

    @dg.asset_check(
        name=check_name(check.check_id),
        asset=table,
        description=f"{check.check_id} ({check.severity}): {check.description}. Per network-timezone day, "
        "looking back from as_of." + (f" Also reads {', '.join(also)}." if also else ""),
        blocking=check.blocking,
        pool=POOL,
        partitions_def=partitions_def,
    )
    def _check(
        context: dg.AssetCheckExecutionContext, config: WindowCheckConfig, lastmile: LastmileResource
    ) -> dg.AssetCheckResult:
        keys, days = _partition_days(context)
        as_of = parse_as_of(config.as_of, lastmile.settings.network_timezone)
        scope: dict[str, str | None] = {"partition_start": keys.start, "partition_end": keys.end,
                                        "as_of": as_of.isoformat() if as_of else None}  # fmt: skip
        return _evaluate(check, context, lastmile, scope, dates=days, as_of=as_of)

    return _check


def build_window_check(check: Check) -> dg.AssetChecksDefinition:
    table, also = READS[check.check_id]

    @dg.asset_check(
        name=check_name(check.check_id),
        asset=table,
        description=f"{check.check_id} ({check.severity}): {check.description}. Over the window ending at as_of."
        + (f" Also reads {', '.join(also)}." if also else ""),
        blocking=check.blocking,
        pool=POOL,
    )
    def _check(
        context: dg.AssetCheckExecutionContext, config: WindowCheckConfig, lastmile: LastmileResource
    ) -> dg.AssetCheckResult:
        as_of = parse_as_of(config.as_of, lastmile.settings.network_timezone)
        return _evaluate(check, context, lastmile, {"as_of": as_of.isoformat() if as_of else None}, as_of=as_of)

    return _check


def build_suite_check(table: str, partitions_def: dg.PartitionsDefinition) -> dg.AssetChecksDefinition:
    """The Great Expectations suite of one table (quality_checks/expectations/<table>.yaml)."""

    @dg.asset_check(
        name=f"expectations__{table}",
        asset=table,
        description=f"Great Expectations suite for {table} (editable: quality_checks/expectations/{table}.yaml), "
        "run on the pandas engine per network-timezone day.",
        pool=POOL,
        partitions_def=partitions_def,
    )
    def _check(context: dg.AssetCheckExecutionContext, lastmile: LastmileResource) -> dg.AssetCheckResult:
        keys, days = _partition_days(context)
        suite = load_suite(suite_path(table))
        evaluated, failed = run_suite(lastmile.conn, suite, days, run_id=context.run.run_id, now=utc_now())
        _audit(lastmile, f"expectations.{table}", context.run.run_id,
               {"partition_start": keys.start, "partition_end": keys.end}, evaluated, failed)  # fmt: skip
        return dg.AssetCheckResult(
            passed=failed == 0,
            severity=dg.AssetCheckSeverity.ERROR if suite.severity == "error" else dg.AssetCheckSeverity.WARN,
            metadata={
                "evaluated": dg.MetadataValue.int(evaluated),
                "failed": dg.MetadataValue.int(failed),
                "failure_rate": dg.MetadataValue.float(failed / evaluated if evaluated else 0.0),
                "suite": dg.MetadataValue.path(suite.source),
                "run_id": dg.MetadataValue.text(context.run.run_id),
            },
        )

    return _check


PARTITION_CHECKS = [c for c in CHECKS if c.scope == "partition"]
WINDOW_CHECKS = [c for c in CHECKS if c.scope == "window"]

quality_partition_job = dg.define_asset_job(
    "quality_partition_job",
    selection=dg.AssetSelection.checks(*[dg.AssetCheckKey(dg.AssetKey(READS[c.check_id][0]), check_name(c.check_id))
                                         for c in PARTITION_CHECKS],
                                       *[dg.AssetCheckKey(dg.AssetKey(t), f"expectations__{t}") for t in SUITE_TABLES]),
    description="Run every per-partition data-quality check and expectation suite over a range of days.",
)  # fmt: skip
quality_window_job = dg.define_asset_job(
    "quality_window_job",
    selection=dg.AssetSelection.checks(*[dg.AssetCheckKey(dg.AssetKey(READS[c.check_id][0]), check_name(c.check_id))
                                         for c in WINDOW_CHECKS]),
    description="Run every data-quality check over the window ending at as_of.",
)  # fmt: skip


@dg.definitions
def defs() -> dg.Definitions:
    settings = home_settings(resolve_home())
    partitions_def = daily_partitions(settings)
    return dg.Definitions(
        asset_checks=[
            *(build_partition_check(c, partitions_def) for c in PARTITION_CHECKS),
            *(build_suite_check(t, partitions_def) for t in SUITE_TABLES),
            *(build_window_check(c) for c in WINDOW_CHECKS),
        ],
        jobs=[quality_partition_job, quality_window_job],
    )
