"""Retention in Dagster: the plan as an asset a person can inspect, the run (ledger, purge, certificate)
as an asset downstream of it, the blocking check `retention.overdue`, and a nightly schedule.

Thin wiring: each asset calls one function of the `retention` package and returns counts as metadata.
"""

import datetime as dt

import dagster as dg
from pydantic import Field

from lastmile.actor import current_actor
from lastmile.settings import Home, Settings
from pipelines.defs.quality.checks import parse_as_of
from pipelines.defs.resources import LastmileResource, home_settings, resolve_home, utc_now
from retention.plan import build_plan, overdue_count, save_plan, summarize
from retention.policy import Policy, load_policy, policy_path
from retention.purge import reclaim_space, run_retention

GROUP = "retention"
# The op names of retention_job (assets, and the check as Dagster names its op); each takes as_of.
RETENTION_OPS = ("retention_plan", "retention_ledger", "retention_ledger_retention__overdue")
OWNERS = ["team:lastmile"]
POOL = "warehouse"


class AsOfConfig(dg.Config):
    as_of: str = Field(
        default="",
        description="Retention time (ISO 8601; without an offset it is read in the network timezone). "
        "Empty means now (a scheduled run: its scheduled time).",
    )


def policy_of(home: Home, settings: Settings) -> Policy:
    return load_policy(policy_path(settings.retention_policy_file, home.root))


def _as_of(config: AsOfConfig, settings: Settings) -> dt.datetime:
    return parse_as_of(config.as_of, settings.network_timezone) or utc_now()


@dg.asset(
    name="retention_plan",
    description="What a retention run at as_of would do: one row per live vault artifact (proof blobs, "
    "contact fields, quarantined records) with its clock start, due time and action (purged / held / "
    "retained), in table retention_plan. Inspect it before the run.",
    group_name=GROUP,
    owners=OWNERS,
    kinds={"duckdb", "python"},
    pool=POOL,
)
def retention_plan(
    context: dg.AssetExecutionContext, config: AsOfConfig, lastmile: LastmileResource
) -> dg.MaterializeResult:
    settings = lastmile.settings
    as_of = _as_of(config, settings)
    policy = policy_of(lastmile.paths, settings)
    build_plan(lastmile.conn, policy, settings, as_of)
    rows = save_plan(lastmile.conn, policy, as_of, utc_now())
    summary = summarize(lastmile.conn, policy, as_of)
    return dg.MaterializeResult(
        metadata={
            "as_of": dg.MetadataValue.text(as_of.isoformat()),
            "policy_version": dg.MetadataValue.text(policy.version),
            "policy_hash": dg.MetadataValue.text(policy.hash),
            "artifacts": dg.MetadataValue.int(rows),
            "to_purge": dg.MetadataValue.int(summary.total("purged")),
            "held": dg.MetadataValue.int(summary.total("held")),
            "retained": dg.MetadataValue.int(summary.total("retained")),
            "by_action_and_kind": dg.MetadataValue.json(summary.counts),
        }
    )


@dg.asset(
    name="retention_ledger",
    deps=[retention_plan],
    description="A retention run at as_of: crypto-shreds every artifact past retention and not under legal "
    "hold, one retention_ledger row per artifact considered, expiry-day KEKs swept so the purge reaches "
    "backups, and a signed purge certificate (LASTMILE_HOME/reports/retention/<run id>.certificate.json). "
    "Completes any earlier run that died part-way first; frees the purged blobs' pack blocks afterwards.",
    group_name=GROUP,
    owners=OWNERS,
    kinds={"duckdb", "python"},
    pool=POOL,
)
def retention_ledger(
    context: dg.AssetExecutionContext, config: AsOfConfig, lastmile: LastmileResource
) -> dg.MaterializeResult:
    settings = lastmile.settings
    home = lastmile.paths
    result = run_retention(
        lastmile.conn,
        lastmile.vault,
        policy=policy_of(home, settings),
        settings=settings,
        as_of=_as_of(config, settings),
        now=utc_now(),
        run_id=context.run.run_id,
        actor=current_actor(),
        audit_dir=home.audit_dir,
        certificates_dir=home.reports_dir / "retention",
        progress=lastmile.progress,
    )
    # the purged blobs' pack blocks, freed once the run (and any earlier one not yet reclaimed) has finished
    reclaimed = reclaim_space(lastmile.conn, lastmile.vault, now=utc_now())
    return dg.MaterializeResult(
        metadata={
            "run_id": dg.MetadataValue.text(result.run_id),
            "as_of": dg.MetadataValue.text(result.as_of.isoformat()),
            "purged": dg.MetadataValue.int(result.purged),
            "held": dg.MetadataValue.int(result.held),
            "retained": dg.MetadataValue.int(result.retained),
            "by_action_and_kind": dg.MetadataValue.json(result.by_kind),
            "purged_merkle_root": dg.MetadataValue.text(result.merkle_root),
            "certificate": dg.MetadataValue.path(str(result.certificate_path)),
            "keks_destroyed": dg.MetadataValue.json(result.keks_destroyed),
            "completed_earlier_runs": dg.MetadataValue.json(result.completed_earlier),
            "space_reclaimed_bytes": dg.MetadataValue.int(reclaimed.bytes),
            "space_reclaimed_runs": dg.MetadataValue.json(reclaimed.runs),
        }
    )


@dg.asset_check(
    name="retention__overdue",
    asset=retention_ledger,
    description="retention.overdue (error): fails when any artifact is past retention at as_of (default now), "
    "not under legal hold, and still present in the vault.",
    blocking=True,
    pool=POOL,
)
def retention_overdue(
    context: dg.AssetCheckExecutionContext, config: AsOfConfig, lastmile: LastmileResource
) -> dg.AssetCheckResult:
    settings = lastmile.settings
    at = _as_of(config, settings)
    n = overdue_count(lastmile.conn, policy_of(lastmile.paths, settings), settings, at)
    sample = [
        r[0]
        for r in lastmile.conn.execute(
            "SELECT artifact_id FROM _retention_plan WHERE action = 'purged' ORDER BY due_at, artifact_id LIMIT 5"
        ).fetchall()
    ]
    return dg.AssetCheckResult(
        passed=n == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "overdue": dg.MetadataValue.int(n),
            "at": dg.MetadataValue.text(at.isoformat()),
            "sample_overdue_artifacts": dg.MetadataValue.json(sample),
        },
    )


retention_plan_job = dg.define_asset_job(
    "retention_plan_job",
    selection=dg.AssetSelection.assets("retention_plan").without_checks(),
    description="Compute the retention plan at as_of (what a run would purge, hold and retain); changes nothing.",
)
retention_job = dg.define_asset_job(
    "retention_job",
    selection=dg.AssetSelection.assets("retention_plan", "retention_ledger"),
    description="Plan and carry out a retention run at as_of, then check that nothing is overdue.",
)


def build_schedule(settings: Settings) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="retention_job_schedule",
        job=retention_job,
        cron_schedule="0 2 * * *",
        execution_timezone=settings.network_timezone,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Nightly retention run at 02:00 network time, as of its scheduled time.",
    )
    def retention_job_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        when = context.scheduled_execution_time or utc_now()
        config = {"config": {"as_of": when.isoformat()}}
        return dg.RunRequest(
            run_key=when.isoformat(),
            run_config={"ops": {op: config for op in RETENTION_OPS}},
        )

    return retention_job_schedule


@dg.definitions
def defs() -> dg.Definitions:
    settings = home_settings(resolve_home())
    return dg.Definitions(
        assets=[retention_plan, retention_ledger],
        asset_checks=[retention_overdue],
        jobs=[retention_plan_job, retention_job],
        schedules=[build_schedule(settings)],
    )
