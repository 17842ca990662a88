"""Every data-quality check of CONTRACT §4 as a Dagster asset check on the table it reads.

Thin wiring: each check calls `quality_checks.run_checks` for its partitions (or its window ending at
as_of) and reports evaluated, failed, failure rate, a sample of failing entities and its time as metadata.
The per-partition checks and suites run as one Dagster step, the window checks as another (`multi_asset_check`,
subsettable): a Dagster step costs far more than most checks' queries, and each check still reports its own
asset-check result and history rows per partition.
Per-partition checks are partitioned like the tables; `event.orphan`, `event.conflict` and
`proof.invalid` are blocking, so assets downstream of a failing partition do not build in that run.
"""

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import dagster as dg
from pydantic import Field

from lastmile.audit.log import log_check_runs
from lastmile.errors import LastmileError
from lastmile.faults import crash_point
from pipelines.defs.ingest.partitions import daily_partitions
from pipelines.defs.resources import LastmileResource, home_settings, resolve_home, utc_now
from quality_checks import CHECKS, Check, CheckResult, run_checks
from quality_checks.expectations import DAILY_SUITE_TABLES, WHOLE_SUITE_TABLES, load_suite, run_suite, suite_path
from quality_checks.runner import default_as_of
from quality_checks.runs import check_done, run_started

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
    "return.acceptance_missing": ("proofs", ("events", "orders")),
    "return.unlinked": ("orders", ()),
    "return.before_delivery": ("orders", ("events",)),
    "return.conflicting_update": ("events", ("orders",)),
    "return.pickup_overdue": ("orders", ("events",)),
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


def _result(check: Check, results: list[CheckResult], context_run_id: str, seconds: float) -> dg.AssetCheckResult:
    evaluated = sum(r.evaluated for r in results)
    failed = sum(r.failed for r in results)
    sample = [e for r in results for e in r.worst][:5]
    table = READS[check.check_id][0]
    return dg.AssetCheckResult(
        asset_key=dg.AssetKey(table),
        check_name=check_name(check.check_id),
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
            "seconds": dg.MetadataValue.float(round(seconds, 4)),
        },
    )


def _expected_checks(context: dg.AssetCheckExecutionContext) -> list[str]:
    """The check ids (`event.orphan`, `expectations.orders`, ...) this run executes: its check selection, else
    every check of its job (the quality jobs select checks only)."""
    keys = context.run.asset_check_selection
    if keys is None:
        keys = context.op_execution_context.job_def.asset_layer.asset_graph.asset_check_keys
    return sorted(k.name.replace("__", ".") for k in keys)


class _Audit:
    """The audit entries of one step's checks, written together with one signed checkpoint at the end
    of the step (signing a checkpoint per check cost more than most checks' queries); then each check is
    counted towards its run's end (`quality_checks.runs`): a run killed before every check it asked for
    is audited never counts as finished, and its partial history is not reported."""

    def __init__(self, context: dg.AssetCheckExecutionContext, lastmile: LastmileResource) -> None:
        self.lastmile, self.run_id = lastmile, context.run.run_id
        self.expected = _expected_checks(context)
        self.runs: list[tuple[str, dict[str, Any]]] = []
        # the run's row exists before any of its checks writes history
        run_started(lastmile.conn, self.run_id, self.expected, now=utc_now())

    def add(self, check_id: str, scope: dict[str, str | None], evaluated: int, failed: int) -> None:
        crash_point("check.after_record")  # this check's findings and history are committed
        self.runs.append((check_id, {"run_id": self.run_id, **scope, "evaluated": evaluated, "failed": failed}))

    def write(self) -> None:
        if not self.runs:
            return
        log_check_runs(self.lastmile.conn, self.lastmile.paths, self.runs, at=utc_now())
        for check_id, _ in self.runs:
            crash_point("check.after_audit")
            check_done(self.lastmile.conn, self.run_id, check_id, self.expected, now=utc_now())
        self.runs = []


def _partition_days(context: dg.AssetCheckExecutionContext) -> tuple[dg.PartitionKeyRange, list[dt.date]]:
    """The run's partition range and every day in it."""
    keys = context.op_execution_context.partition_key_range
    start, end = dt.date.fromisoformat(keys.start), dt.date.fromisoformat(keys.end)
    return keys, [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def _evaluate(
    checks: list[Check], run_id: str, lastmile: LastmileResource, audit: _Audit, scope: dict[str, str | None],
    **selection: Any,
) -> list[dg.AssetCheckResult]:  # fmt: skip
    """Run `checks` over `selection` (dates= or as_of=) in one pass, note them for the audit trail, and
    report each to Dagster with its own result and time."""
    if not checks:
        return []
    marks: dict[str, float] = {}

    def progress(check_id: str, done: int, total: int) -> None:
        marks[check_id] = time.perf_counter()

    results = run_checks(lastmile.conn, lastmile.settings, run_id=run_id, now=utc_now(),
                         checks=[c.check_id for c in checks], progress=progress, **selection)  # fmt: skip
    by_id = {r.check_id: r for r in results}
    order = [*(c.check_id for c in checks), "checks"]
    out = []
    for check, following in zip(checks, order[1:], strict=True):
        result = [by_id[check.check_id]] if check.check_id in by_id else []
        audit.add(check.check_id, scope, sum(r.evaluated for r in result), sum(r.failed for r in result))
        seconds = marks.get(following, marks[check.check_id]) - marks[check.check_id]
        out.append(_result(check, result, run_id, seconds))
    return out


def _evaluate_suite(
    table: str, run_id: str, lastmile: LastmileResource, audit: _Audit, scope: dict[str, str | None],
    days: list[dt.date],
) -> dg.AssetCheckResult:  # fmt: skip
    started = time.perf_counter()
    suite = load_suite(suite_path(table))
    evaluated, failed = run_suite(lastmile.conn, suite, days, run_id=run_id, now=utc_now())
    audit.add(suite.check_id, scope, evaluated, failed)
    return dg.AssetCheckResult(
        asset_key=_suite_key(table).asset_key,
        check_name=f"expectations__{table}",
        passed=failed == 0,
        severity=dg.AssetCheckSeverity.ERROR if suite.severity == "error" else dg.AssetCheckSeverity.WARN,
        metadata={
            "evaluated": dg.MetadataValue.int(evaluated),
            "failed": dg.MetadataValue.int(failed),
            "failure_rate": dg.MetadataValue.float(failed / evaluated if evaluated else 0.0),
            "suite": dg.MetadataValue.path(suite.source),
            "run_id": dg.MetadataValue.text(run_id),
            "seconds": dg.MetadataValue.float(round(time.perf_counter() - started, 4)),
        },
    )


def _key(check: Check) -> dg.AssetCheckKey:
    return dg.AssetCheckKey(dg.AssetKey(READS[check.check_id][0]), check_name(check.check_id))


def _spec(check: Check, scope: str, partitions_def: dg.PartitionsDefinition | None) -> dg.AssetCheckSpec:
    table, also = READS[check.check_id]
    return dg.AssetCheckSpec(
        check_name(check.check_id),
        asset=table,
        description=f"{check.check_id} ({check.severity}): {check.description}. {scope}"
        + (f" Also reads {', '.join(also)}." if also else ""),
        blocking=check.blocking,
        partitions_def=partitions_def,
    )


def _suite_key(table: str) -> dg.AssetCheckKey:
    """A daily table's suite checks its own asset; a whole table (consents, templates: no asset of their own)
    is checked on `messages`, like the template.* checks."""
    asset = "messages" if table in WHOLE_SUITE_TABLES else table
    return dg.AssetCheckKey(dg.AssetKey(asset), f"expectations__{table}")


def _suite_spec(table: str, partitions_def: dg.PartitionsDefinition | None) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        f"expectations__{table}",
        asset=_suite_key(table).asset_key,
        description=f"Great Expectations suite for {table} (editable: quality_checks/expectations/{table}.yaml); "
        "its column expectations run as DuckDB SQL with GE's result shape, any other type on GE. "
        + ("Per day." if partitions_def is not None else "The whole table at as_of."),
        partitions_def=partitions_def,
    )


def build_partition_checks(partitions_def: dg.PartitionsDefinition) -> dg.AssetChecksDefinition:
    """Every per-partition check and suite as one step (a step costs Dagster far more than a check's query):
    each still reports its own asset-check result, and can be selected alone."""
    specs = [_spec(c, "Per network-timezone day.", partitions_def) for c in PARTITION_CHECKS]
    specs += [_suite_spec(t, partitions_def) for t in DAILY_SUITE_TABLES]

    @dg.multi_asset_check(
        name="quality_partition_checks",
        specs=specs,
        can_subset=True,
        pool=POOL,
        description="The per-partition data-quality checks of CONTRACT §4 and the expectation suites, per day.",
    )
    def _checks(
        context: dg.AssetCheckExecutionContext, config: WindowCheckConfig, lastmile: LastmileResource
    ) -> Iterator[dg.AssetCheckResult]:
        keys, days = _partition_days(context)
        # message.missing looks back from as_of (recorded_at + its window <= as_of); the others ignore it
        as_of = parse_as_of(config.as_of, lastmile.settings.network_timezone)
        selected = context.selected_asset_check_keys
        run_id = context.run.run_id
        scope: dict[str, str | None] = {"partition_start": keys.start, "partition_end": keys.end}
        audit = _Audit(context, lastmile)
        try:
            yield from _evaluate([c for c in PARTITION_CHECKS if _key(c) in selected], run_id, lastmile, audit, scope,
                                 dates=days, as_of=as_of)  # fmt: skip
            for table in DAILY_SUITE_TABLES:
                if _suite_key(table) in selected:
                    yield _evaluate_suite(table, run_id, lastmile, audit, scope, days)
        finally:
            audit.write()

    return _checks


def build_window_checks() -> dg.AssetChecksDefinition:
    """Every window check (ending at as_of) as one step; each reports its own asset-check result."""

    @dg.multi_asset_check(
        name="quality_window_checks",
        specs=[_spec(c, "Over the window ending at as_of.", None) for c in WINDOW_CHECKS]
        + [_suite_spec(t, None) for t in WHOLE_SUITE_TABLES],
        can_subset=True,
        pool=POOL,
        description="The data-quality checks of CONTRACT §4 over the window ending at as_of.",
    )
    def _checks(
        context: dg.AssetCheckExecutionContext, config: WindowCheckConfig, lastmile: LastmileResource
    ) -> Iterator[dg.AssetCheckResult]:
        as_of = parse_as_of(config.as_of, lastmile.settings.network_timezone)
        selected = context.selected_asset_check_keys
        audit = _Audit(context, lastmile)
        scope: dict[str, str | None] = {"as_of": as_of.isoformat() if as_of else None}
        try:
            yield from _evaluate([c for c in WINDOW_CHECKS if _key(c) in selected], context.run.run_id, lastmile,
                                 audit, scope, as_of=as_of)  # fmt: skip
            # the tables kept whole (consents, templates): their suites at as_of, recorded on as_of's day
            at = as_of or default_as_of(lastmile.conn)
            for table in WHOLE_SUITE_TABLES:
                if at is not None and _suite_key(table) in selected:
                    day = at.astimezone(lastmile.settings.tz).date()
                    yield _evaluate_suite(table, context.run.run_id, lastmile, audit, scope, [day])
        finally:
            audit.write()

    return _checks


PARTITION_CHECKS = [c for c in CHECKS if c.scope == "partition"]
WINDOW_CHECKS = [c for c in CHECKS if c.scope == "window"]

quality_partition_job = dg.define_asset_job(
    "quality_partition_job",
    selection=dg.AssetSelection.checks(*[dg.AssetCheckKey(dg.AssetKey(READS[c.check_id][0]), check_name(c.check_id))
                                         for c in PARTITION_CHECKS],
                                       *[_suite_key(t) for t in DAILY_SUITE_TABLES]),
    description="Run every per-partition data-quality check and expectation suite over a range of days.",
)  # fmt: skip
quality_window_job = dg.define_asset_job(
    "quality_window_job",
    selection=dg.AssetSelection.checks(*[dg.AssetCheckKey(dg.AssetKey(READS[c.check_id][0]), check_name(c.check_id))
                                         for c in WINDOW_CHECKS],
                                       *[_suite_key(t) for t in WHOLE_SUITE_TABLES]),
    description="Run every data-quality check over the window ending at as_of, and the suites of the tables "
    "kept whole (consents, templates).",
)  # fmt: skip


@dg.definitions
def defs() -> dg.Definitions:
    settings = home_settings(resolve_home())
    partitions_def = daily_partitions(settings)
    return dg.Definitions(
        asset_checks=[build_partition_checks(partitions_def), build_window_checks()],
        jobs=[quality_partition_job, quality_window_job],
    )
