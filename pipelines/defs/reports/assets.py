"""kpi_weekly and kpi_report: weekly partitions (ISO weeks, Monday start, network timezone).

Thin wiring: kpi_weekly calls `reports.kpi.compute_kpis`, kpi_report calls `reports.kpi_report.build_kpi_report`;
both return their figures as metadata. kpi_weekly depends on the daily tables (a week maps onto its seven
days); the kpi_report_job builds both for one week, and kpi_report_job_schedule runs it every Monday at
06:00 in the network timezone for the week that just ended.
"""

import datetime as dt

import dagster as dg

from lastmile.actor import current_actor
from lastmile.audit import AuditTrail
from lastmile.faults import crash_point
from lastmile.settings import Settings
from pipelines.defs.resources import LastmileResource, home_settings, resolve_home, utc_now
from reports.kpi import compute_kpis, iso_week_label, kpi_rows, monday_of, trend_weeks
from reports.kpi_report import build_kpi_report

GROUP = "reports"
OWNERS = ["team:lastmile"]
POOL = "warehouse"
JOB = "kpi_report_job"
SCHEDULE_HOUR = 6


def weekly_partitions(settings: Settings) -> dg.WeeklyPartitionsDefinition:
    """ISO weeks (Monday 00:00 to Monday 00:00, network timezone), from the week holding
    partition_start_date up to the current week."""
    return dg.WeeklyPartitionsDefinition(
        start_date=monday_of(settings.partition_start_date).isoformat(),
        timezone=settings.network_timezone,
        day_offset=1,
        end_offset=1,
    )


def build_kpi_assets(partitions_def: dg.WeeklyPartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.asset(
        name="kpi_weekly",
        description="Weekly KPIs of the contract (first-attempt delivery, on time, proof compliance, failed "
        "attempts by code, address mismatch, exception resolution, event latency p50/p95, orders created) per "
        "ISO week and dimension (all, zone, courier, exception_code), computed in DuckDB. Materializing a week "
        "recomputes it and the 7 weeks before it (the report's trend), so they share one definition_version.",
        group_name=GROUP,
        owners=OWNERS,
        kinds={"duckdb", "table"},
        pool=POOL,
        partitions_def=partitions_def,
        deps=["orders", "events", "proofs"],
    )
    def kpi_weekly(context: dg.AssetExecutionContext, lastmile: LastmileResource) -> dg.MaterializeResult:
        week = dt.date.fromisoformat(context.partition_key)
        now = utc_now()
        run = compute_kpis(lastmile.conn, lastmile.settings, trend_weeks(week))
        crash_point("kpi.after_compute")
        trail = AuditTrail(lastmile.conn, lastmile.paths.audit_dir)
        trail.append(current_actor(), "kpi.compute", f"kpi_weekly:{iso_week_label(week)}", {
            "weeks": [w.isoformat() for w in run.weeks], "rows": run.rows,
            "definition_version": run.definition_version, "run_id": context.run.run_id,
        }, at=now)  # fmt: skip
        trail.checkpoint(at=now)
        crash_point("kpi.after_audit")
        headline = {str(r["kpi_id"]): r["value"] for r in kpi_rows(lastmile.conn, [week]) if r["dimension"] == "all"}
        return dg.MaterializeResult(
            metadata={
                "week": dg.MetadataValue.text(iso_week_label(week)),
                "has_data": dg.MetadataValue.bool(week in run.weeks),
                "weeks_computed": dg.MetadataValue.json([iso_week_label(w) for w in run.weeks]),
                "rows": dg.MetadataValue.int(run.rows),
                "definition_version": dg.MetadataValue.text(run.definition_version),
                "headline": dg.MetadataValue.json(headline),
            }
        )

    @dg.asset(
        name="kpi_report",
        description="The weekly KPI report for ops leadership: LASTMILE_HOME/reports/kpi-YYYY-Www.html (one "
        "self-contained file, plotly embedded, opens with no network) and kpi-YYYY-Www.csv; headline with "
        "week-over-week change, 8-week trends, zones and couriers, failed attempts by code and attribution, "
        "proof and address hotspots, a data-quality panel marking KPIs whose inputs failed error checks.",
        group_name=GROUP,
        owners=OWNERS,
        kinds={"html", "plotly"},
        pool=POOL,
        partitions_def=partitions_def,
        deps=["kpi_weekly"],
    )
    def kpi_report(context: dg.AssetExecutionContext, lastmile: LastmileResource) -> dg.MaterializeResult:
        week = dt.date.fromisoformat(context.partition_key)
        result = build_kpi_report(
            lastmile.conn, lastmile.settings, lastmile.paths.reports_dir, week,
            now=utc_now(), actor=current_actor(), audit_dir=lastmile.paths.audit_dir,
        )  # fmt: skip
        return dg.MaterializeResult(
            metadata={
                "week": dg.MetadataValue.text(result.week),
                "html": dg.MetadataValue.path(str(result.html_path)),
                "csv": dg.MetadataValue.path(str(result.csv_path)),
                "html_bytes": dg.MetadataValue.int(result.html_bytes),
                "has_data": dg.MetadataValue.bool(result.has_data),
                "definition_version": dg.MetadataValue.text(result.definition_version),
                "flagged_kpis": dg.MetadataValue.json(result.flagged),
            }
        )

    return [kpi_weekly, kpi_report]


kpi_report_job = dg.define_asset_job(
    JOB,
    selection=dg.AssetSelection.assets("kpi_weekly", "kpi_report").without_checks(),
    description="Compute one week's KPIs (and the 7 weeks of its trend) and write that week's KPI report.",
)


def previous_week_key(at: dt.datetime, settings: Settings) -> str:
    """The partition key (Monday) of the ISO week before the one `at` falls in, in the network timezone."""
    local = at.astimezone(settings.tz).date()
    return (monday_of(local) - dt.timedelta(weeks=1)).isoformat()


def build_kpi_schedule(settings: Settings, partitions_def: dg.WeeklyPartitionsDefinition) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=f"{JOB}_schedule",
        job=kpi_report_job,
        cron_schedule=f"0 {SCHEDULE_HOUR} * * 1",
        execution_timezone=settings.network_timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Every Monday at {SCHEDULE_HOUR:02d}:00 ({settings.network_timezone}): the KPIs and the KPI "
        "report of the ISO week that just ended.",
    )
    def kpi_report_job_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        at = context.scheduled_execution_time or utc_now()
        key = previous_week_key(at, settings)
        if key < partitions_def.start.date().isoformat():
            return dg.SkipReason(f"week {key} is before the first weekly partition")
        return dg.RunRequest(run_key=f"kpi-report-{key}", partition_key=key)

    return kpi_report_job_schedule


@dg.definitions
def defs() -> dg.Definitions:
    settings = home_settings(resolve_home())
    partitions_def = weekly_partitions(settings)
    return dg.Definitions(
        assets=build_kpi_assets(partitions_def),
        jobs=[kpi_report_job],
        schedules=[build_kpi_schedule(settings, partitions_def)],
    )
