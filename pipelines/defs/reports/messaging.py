"""messaging_report: the weekly messaging and consent report (CONTRACT §8), one weekly partition per ISO week.

Thin wiring: calls `reports.messaging_report.build_messaging_report` after kpi_weekly; messaging_report_job
builds both for one week (`lastmile report messaging --week`).
"""

import datetime as dt

import dagster as dg

from lastmile.actor import current_actor
from pipelines.defs.reports.assets import GROUP, OWNERS, POOL, weekly_partitions
from pipelines.defs.resources import LastmileResource, home_settings, resolve_home, utc_now
from reports.messaging_report import build_messaging_report

JOB = "messaging_report_job"


def build_messaging_asset(partitions_def: dg.WeeklyPartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="messaging_report",
        description="The weekly messaging and consent report for compliance and ops: LASTMILE_HOME/reports/"
        "messaging-YYYY-Www.html (self-contained, plotly embedded): messaging KPIs with week-over-week change, "
        "every §8 finding by check with the worst offenders, opt-outs by source and channel, template versions "
        "in force, template experiments with a 95% interval and a two-proportion z-test.",
        group_name=GROUP,
        owners=OWNERS,
        kinds={"html", "plotly"},
        pool=POOL,
        partitions_def=partitions_def,
        deps=["kpi_weekly", "messages"],
    )
    def messaging_report(context: dg.AssetExecutionContext, lastmile: LastmileResource) -> dg.MaterializeResult:
        week = dt.date.fromisoformat(context.partition_key)
        result = build_messaging_report(
            lastmile.conn, lastmile.settings, lastmile.paths.reports_dir, week,
            now=utc_now(), actor=current_actor(), audit_dir=lastmile.paths.audit_dir,
        )  # fmt: skip
        return dg.MaterializeResult(
            metadata={
                "week": dg.MetadataValue.text(result.week),
                "html": dg.MetadataValue.path(str(result.html_path)),
                "html_bytes": dg.MetadataValue.int(result.html_bytes),
                "has_data": dg.MetadataValue.bool(result.has_data),
                "findings": dg.MetadataValue.int(result.findings),
                "experiments": dg.MetadataValue.int(result.experiments),
            }
        )

    return messaging_report


messaging_report_job = dg.define_asset_job(
    JOB,
    selection=dg.AssetSelection.assets("kpi_weekly", "messaging_report").without_checks(),
    description="Compute one week's KPIs (with the 7 weeks of its trend) and write its messaging report.",
)


@dg.definitions
def defs() -> dg.Definitions:
    settings = home_settings(resolve_home())
    return dg.Definitions(assets=[build_messaging_asset(weekly_partitions(settings))], jobs=[messaging_report_job])
