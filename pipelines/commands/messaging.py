"""`lastmile report messaging --week YYYY-Www`: the messaging and consent report (CONTRACT §8), through the
Dagster definitions in-process (messaging_report_job for one weekly partition). Also a `lastmile demo` step."""

import datetime as dt
from typing import Any

import click
import dagster as dg

from lastmile.errors import LastmileError
from lastmile.settings import Home, Settings
from pipelines.cli import QUIET_LOGGERS, _home, _run_job, demo_steps, out, prepare_home, progress_display
from pipelines.commands.kpi import parse_week_key
from pipelines.commands.report import report
from reports.kpi import iso_week_label, parse_iso_week


def run_messaging_report(
    home: Home, settings: Settings, week_start: dt.date, *, command: str = "report messaging"
) -> dict[str, Any]:
    from pipelines.definitions import defs as load_definitions
    from pipelines.defs.ingest.sensors import COMMAND_TAG
    from pipelines.defs.reports.assets import weekly_partitions
    from pipelines.defs.reports.messaging import JOB

    key = week_start.isoformat()
    keys = weekly_partitions(settings).get_partition_keys()
    if key not in keys:
        where = f"from {parse_week_key(keys[0])} to {parse_week_key(keys[-1])}" if keys else "none yet"
        raise LastmileError(f"week {iso_week_label(week_start)} is outside the weekly partitions ({where})")
    job = load_definitions().resolve_job_def(JOB)
    with dg.DagsterInstance.get() as instance, progress_display(f"Messaging report for {iso_week_label(week_start)}"):
        result = _run_job(job, instance, partition_key=key, run_config=QUIET_LOGGERS, tags={COMMAND_TAG: command})
    mats = result.asset_materializations_for_node("messaging_report")
    if not mats:
        raise LastmileError(f"run {result.run_id} wrote no report")
    meta = {k: getattr(v, "value", v) for k, v in mats[-1].metadata.items()}
    meta["run_id"] = result.run_id
    return meta


def print_summary(meta: dict[str, Any]) -> None:
    if not meta.get("has_data"):
        out.print(f"[yellow]No message was sent in {meta.get('week')}[/].")
    out.print(f"  §8 findings in the week: {meta.get('findings')}; template experiments: {meta.get('experiments')}")
    out.print(f"Report: {meta.get('html')}", soft_wrap=True)


@click.command("messaging")
@click.option("--week", "week", required=True, metavar="YYYY-Www",
              help="ISO week (Monday to Sunday in the network timezone), e.g. 2026-W41.")  # fmt: skip
@click.pass_context
def messaging(ctx: click.Context, week: str) -> None:
    """Write the messaging and consent report of one week (CONTRACT §8).

    Writes LASTMILE_HOME/reports/messaging-YYYY-Www.html (self-contained: opens with no network). The week's
    KPIs are recomputed first; run `lastmile check` before so the findings are current.
    """
    week_start = parse_iso_week(week)
    home = _home(ctx)
    settings = prepare_home(home)
    print_summary(run_messaging_report(home, settings, week_start))


def demo_step(home: Home, settings: Settings) -> None:
    """The messaging report of the same week as the KPI report."""
    from lastmile.warehouse import open_warehouse
    from reports.kpi import latest_report_week

    conn = open_warehouse(home, settings)
    try:
        week_start = latest_report_week(conn, settings)
    finally:
        conn.close()
    if week_start is None:
        return
    meta = run_messaging_report(home, settings, week_start, command="demo")
    out.print(f"\nMessaging and consent report {meta.get('week')}:")
    print_summary(meta)


report.add_command(messaging)
demo_steps.append(demo_step)
