"""Sensors: new landing files start an intake run; each intake starts a publish run over what it touched."""

import datetime as dt
import hashlib
import json
from pathlib import Path

import dagster as dg

from lastmile.errors import LandingError
from lastmile.ingest import list_landing_files
from lastmile.partners.ingest import list_partner_files
from pipelines.defs.ingest.partitions import daily_partitions, partition_key_range, range_tags
from pipelines.defs.resources import home_settings, landing_dir, resolve_home

# Runs started by the `lastmile` command carry this tag; the command publishes its own intakes.
COMMAND_TAG = "lastmile/command"


def build_landing_files_sensor(landing: Path) -> dg.SensorDefinition:
    @dg.sensor(
        name="landing_files_sensor",
        job_name="ingest_job",
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=f"Requests an ingest_job run when a file under {landing} is new or has changed "
        "(size or modification time). Cursor: JSON of relative path -> [size, mtime_ns].",
    )
    def landing_files_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        try:
            files = list_landing_files(landing) + list_partner_files(landing)  # partner feeds: partners/<id>/
        except LandingError as exc:
            return dg.SkipReason(str(exc))
        state = {f.relpath: [f.size, f.mtime_ns] for f in files}
        seen = json.loads(context.cursor) if context.cursor else {}
        changed = sorted(rel for rel, signature in state.items() if seen.get(rel) != signature)
        cursor = json.dumps(state, sort_keys=True)
        if not changed:
            return dg.SkipReason(f"no new or changed files in {landing} ({len(files)} files seen)")
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=hashlib.sha256(cursor.encode()).hexdigest()[:32],
                    run_config={"ops": {"landing_intake": {"config": {"landing": str(landing)}}}},
                    tags={"lastmile/changed_files": str(len(changed))},
                )
            ],
            cursor=cursor,
        )

    return landing_files_sensor


def _text(metadata: dict[str, dg.MetadataValue], key: str) -> str | None:
    value = metadata.get(key)
    raw = getattr(value, "value", None)
    return raw if isinstance(raw, str) and raw else None


def build_intake_publish_sensor(partitions_def: dg.DailyPartitionsDefinition) -> dg.SensorDefinition:
    @dg.asset_sensor(
        name="intake_publish_sensor",
        asset_key=dg.AssetKey("landing_intake"),
        job_name="publish_job",
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="After each landing_intake materialization, requests one publish_job run over the "
        "range of daily partitions the intake touched (touched_start..touched_end).",
    )
    def intake_publish_sensor(
        context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry
    ) -> dg.RunRequest | dg.SkipReason:
        run = context.instance.get_run_by_id(asset_event.run_id) if asset_event.run_id else None
        if run is not None and COMMAND_TAG in run.tags:
            return dg.SkipReason(f"intake run {asset_event.run_id} was published by the lastmile command")
        materialization = asset_event.asset_materialization
        metadata = dict(materialization.metadata) if materialization else {}
        start, end = _text(metadata, "touched_start"), _text(metadata, "touched_end")
        if start is None or end is None:
            return dg.SkipReason(f"intake run {asset_event.run_id} touched no partitions")
        keys = partition_key_range(partitions_def, dt.date.fromisoformat(start), dt.date.fromisoformat(end))
        if keys is None:
            return dg.SkipReason(f"intake run {asset_event.run_id} touched {start}..{end}: no such partitions")
        return dg.RunRequest(run_key=f"publish-after-{asset_event.run_id}", tags=range_tags(keys))

    return intake_publish_sensor


@dg.definitions
def defs() -> dg.Definitions:
    home = resolve_home()
    settings = home_settings(home)
    return dg.Definitions(
        sensors=[
            build_landing_files_sensor(landing_dir(home, settings)),
            build_intake_publish_sensor(daily_partitions(settings)),
        ]
    )
