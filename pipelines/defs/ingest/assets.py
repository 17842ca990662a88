"""Ingest assets: the landing intake, then the published daily tables orders, events, proofs.

Thin wiring: each asset calls one function of `lastmile.ingest` and returns its counts as metadata.
The daily partitions follow the settings of LASTMILE_HOME, read when the definitions load.
"""

import datetime as dt
from pathlib import Path

import dagster as dg
from pydantic import Field

from lastmile.audit.log import log_ingest_run
from lastmile.faults import crash_point
from lastmile.ingest import PUBLISHED_TABLES, IngestResult, ingest_landing, publish_partitions
from pipelines.defs.ingest.partitions import daily_partitions, partition_bounds
from pipelines.defs.resources import LastmileResource, home_settings, resolve_home, utc_now

GROUP = "ingest"
OWNERS = ["team:lastmile"]
POOL = "warehouse"

TABLE_DESCRIPTIONS = {
    "orders": "Current orders (one row per delivery stop), published per day of created_at.",
    "events": "Tracking events, published per day of occurred_at.",
    "proofs": "Proof-of-delivery records (blobs in the vault), published per day of captured_at.",
    "messages": "Customer messages as the messaging system sent them (addresses as keyed hashes, bodies in the "
    "vault), published per day of sent_at. Consents and templates are kept whole by the intake.",
}


class LandingConfig(dg.Config):
    landing: str = Field(
        default="",
        description="Landing folder to read; empty means the landing_dir setting (LASTMILE_HOME/landing).",
    )


def intake_metadata(result: IngestResult, landing: Path) -> dict[str, dg.MetadataValue]:
    touched = result.touched_range()
    start, end = (d.isoformat() for d in touched) if touched else (None, None)
    pending = result.unpublished_range()
    return {
        "landing": dg.MetadataValue.path(str(landing)),
        "files_seen": dg.MetadataValue.int(result.files_seen),
        "files_read": dg.MetadataValue.int(len(result.files)),
        "files_skipped": dg.MetadataValue.int(len(result.skipped)),
        "rows_read": dg.MetadataValue.int(result.rows_read),
        "rows_loaded": dg.MetadataValue.int(result.rows_loaded),
        "rows_duplicate": dg.MetadataValue.int(result.rows_duplicate),
        "rows_revised": dg.MetadataValue.int(result.rows_revised),
        "rows_quarantined": dg.MetadataValue.int(result.rows_quarantined),
        "quarantined_by_reason": dg.MetadataValue.json(dict(sorted(result.quarantined_by_reason.items()))),
        "touched_days": dg.MetadataValue.json({t: len(days) for t, days in sorted(result.touched.items())}),
        "touched_start": dg.MetadataValue.text(start) if start else dg.MetadataValue.null(),
        "touched_end": dg.MetadataValue.text(end) if end else dg.MetadataValue.null(),
        # every partition read and not yet published (this run's, and any a killed run left): publish these
        "unpublished_days": dg.MetadataValue.json({t: len(d) for t, d in sorted(result.unpublished.items())}),
        "unpublished_start": dg.MetadataValue.text(pending[0].isoformat()) if pending else dg.MetadataValue.null(),
        "unpublished_end": dg.MetadataValue.text(pending[1].isoformat()) if pending else dg.MetadataValue.null(),
    }


@dg.asset(
    name="landing_intake",
    description="Every new file version of the landing folder read into the warehouse: rows typed and "
    "validated, duplicates and revisions recognised, bad rows quarantined with a reason, proof blobs "
    "and contact fields encrypted into the vault, per-file accounting in ingest_files.",
    group_name=GROUP,
    owners=OWNERS,
    kinds={"duckdb", "python"},
    pool=POOL,
)
def landing_intake(
    context: dg.AssetExecutionContext, config: LandingConfig, lastmile: LastmileResource
) -> dg.MaterializeResult:
    landing = Path(config.landing).expanduser().resolve() if config.landing else lastmile.landing
    # Rows dated outside the partitions that exist now would be loaded where nothing publishes them: the
    # domain quarantines them (outside_partitions), given the range here.
    bounds = partition_bounds(daily_partitions(lastmile.settings))
    result = ingest_landing(
        lastmile.conn,
        landing,
        vault=lastmile.vault,
        settings=lastmile.settings,
        run_id=context.run.run_id,
        now=utc_now(),
        progress=lastmile.progress,
        partner_dir=lastmile.paths.root / "partners",  # LASTMILE_HOME/partners/<partner_id>.yaml (lastmile.partners)
        partitions=bounds or (lastmile.settings.partition_start_date, lastmile.settings.partition_start_date),
    )
    # Audit trail: every file version read, with its SHA-256, then the run (and any earlier run killed
    # before it logged itself); a checkpoint is signed.
    logged = log_ingest_run(lastmile.conn, lastmile.paths, context.run.run_id, at=utc_now())
    crash_point("ingest.after_audit")
    metadata = intake_metadata(result, landing)
    metadata["audit_entries"] = dg.MetadataValue.int(len(logged))
    return dg.MaterializeResult(metadata=metadata)


def build_published_table(table: str, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The published daily partitions of one table, rebuilt from what the intake accepted."""

    @dg.asset(
        name=table,
        description=TABLE_DESCRIPTIONS[table],
        group_name=GROUP,
        owners=OWNERS,
        kinds={"duckdb", "table"},
        pool=POOL,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[landing_intake],
    )
    def _published(context: dg.AssetExecutionContext, lastmile: LastmileResource) -> dg.MaterializeResult:
        keys = context.partition_key_range
        start, end = dt.date.fromisoformat(keys.start), dt.date.fromisoformat(keys.end)
        per_day = publish_partitions(lastmile.conn, table, start, end, now=utc_now())
        return dg.MaterializeResult(
            metadata={
                "partition_start": dg.MetadataValue.text(keys.start),
                "partition_end": dg.MetadataValue.text(keys.end),
                "rows": dg.MetadataValue.int(sum(per_day.values())),
                "rows_per_day": dg.MetadataValue.json({d.isoformat(): n for d, n in sorted(per_day.items())}),
            }
        )

    return _published


def build_ingest_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    return [landing_intake, *(build_published_table(t, partitions_def) for t in PUBLISHED_TABLES)]


@dg.definitions
def defs() -> dg.Definitions:
    settings = home_settings(resolve_home())
    return dg.Definitions(assets=build_ingest_assets(daily_partitions(settings)))
