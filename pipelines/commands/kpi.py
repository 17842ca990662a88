"""`lastmile report kpi --week YYYY-Www`: the weekly KPIs and the weekly KPI report, through the Dagster
definitions in-process (kpi_report_job for one weekly partition). Also a `lastmile demo` step."""

import datetime as dt
from typing import Any

import click
import dagster as dg

from lastmile.errors import LastmileError
from lastmile.settings import Home, Settings
from pipelines.cli import (
    QUIET_LOGGERS,
    _home,
    _run_job,
    complete_publishing,
    demo_steps,
    out,
    prepare_home,
    progress_display,
)
from pipelines.commands.report import report
from reports.kpi import BY_ID, iso_week_label, parse_iso_week


def run_kpi_report(
    home: Home, settings: Settings, week_start: dt.date, *, command: str = "report kpi"
) -> dict[str, Any]:
    """Run kpi_report_job for the week starting `week_start`; the report's metadata (paths, size, flags)."""
    from pipelines.definitions import defs as load_definitions
    from pipelines.defs.ingest.sensors import COMMAND_TAG
    from pipelines.defs.reports.assets import JOB, weekly_partitions

    partitions_def = weekly_partitions(settings)
    key = week_start.isoformat()
    keys = partitions_def.get_partition_keys()
    if key not in keys:
        first, last = (parse_week_key(keys[0]), parse_week_key(keys[-1])) if keys else (None, None)
        where = f"from {first} to {last}" if first and last else "none yet"
        raise LastmileError(
            f"week {iso_week_label(week_start)} is outside the weekly partitions ({where}; they start at the "
            "setting partition_start_date and end with the current week)"
        )
    complete_publishing(home, settings, command=command)  # a killed ingest's days first: KPIs read them
    job = load_definitions().resolve_job_def(JOB)
    label = f"KPIs and report for {iso_week_label(week_start)}"
    with dg.DagsterInstance.get() as instance, progress_display(label):
        result = _run_job(job, instance, partition_key=key, run_config=QUIET_LOGGERS, tags={COMMAND_TAG: command})
    mats = result.asset_materializations_for_node("kpi_report")
    if not mats:
        raise LastmileError(f"run {result.run_id} wrote no report")
    meta = {k: getattr(v, "value", v) for k, v in mats[-1].metadata.items()}
    meta["run_id"] = result.run_id
    return meta


def parse_week_key(key: str) -> str:
    return iso_week_label(dt.date.fromisoformat(key))


def print_report_summary(home: Home, settings: Settings, meta: dict[str, Any]) -> None:
    from lastmile.warehouse import open_warehouse
    from reports.kpi_report import HEADLINE, fmt_value

    week = str(meta.get("week"))
    if not meta.get("has_data"):
        out.print(f"[yellow]No data for {week}[/]: no order was created and no event occurred in that week.")
    else:
        conn = open_warehouse(home, settings, read_only=True)
        try:
            rows = _headline_values(conn, parse_iso_week(week))
        finally:
            conn.close()
        flagged = meta.get("flagged_kpis") or {}
        for kpi_id in HEADLINE:
            value = rows.get(kpi_id)
            mark = "  [yellow]⚠ " + ", ".join(flagged[kpi_id]) + "[/]" if kpi_id in flagged else ""
            out.print(f"  {BY_ID[kpi_id].label:<24} {fmt_value(kpi_id, value):>10}{mark}", soft_wrap=True)
    size = int(meta.get("html_bytes") or 0)
    out.print(f"Report: {meta.get('html')}  ({size / 1024 / 1024:.1f} MiB)", soft_wrap=True)
    out.print(f"Numbers: {meta.get('csv')}", soft_wrap=True)


def _headline_values(conn: Any, week_start: dt.date) -> dict[str, float | None]:
    rows = conn.execute(
        "SELECT kpi_id, value FROM kpi_weekly WHERE week_start = ? AND dimension = 'all'", [week_start]
    ).fetchall()
    return {str(k): v for k, v in rows}


@click.command("kpi")
@click.option("--week", "week", required=True, metavar="YYYY-Www",
              help="ISO week (Monday to Sunday in the network timezone), e.g. 2026-W41.")  # fmt: skip
@click.pass_context
def kpi(ctx: click.Context, week: str) -> None:
    """Compute the week's KPIs into kpi_weekly and write the weekly KPI report.

    Writes LASTMILE_HOME/reports/kpi-YYYY-Www.html (one self-contained file: opens with no network) and
    kpi-YYYY-Www.csv (the numbers). The week and the 7 before it (the trend) are recomputed from the
    warehouse; run `lastmile check` first so proof compliance and the data-quality panel are current.
    """
    week_start = parse_iso_week(week)
    home = _home(ctx)
    settings = prepare_home(home)
    print_report_summary(home, settings, run_kpi_report(home, settings, week_start))


def demo_step(home: Home, settings: Settings) -> None:
    """Build the report of the latest complete week with data (else the latest week) and print its path."""
    from lastmile.warehouse import open_warehouse
    from reports.kpi import latest_report_week

    conn = open_warehouse(home, settings)
    try:
        week_start = latest_report_week(conn, settings)
    finally:
        conn.close()
    if week_start is None:
        out.print("No data in the warehouse: no KPI report written.")
        return
    meta = run_kpi_report(home, settings, week_start, command="demo")
    out.print(f"\nWeekly KPI report {meta.get('week')}:")
    print_report_summary(home, settings, meta)


report.add_command(kpi)
demo_steps.append(demo_step)
