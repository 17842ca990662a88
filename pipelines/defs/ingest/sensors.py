"""Sensors: new landing files start an intake run; each intake (and whatever a killed run left unpublished)
starts a publish run."""

import datetime as dt
import hashlib
import json
from pathlib import Path

import dagster as dg

from lastmile.errors import LandingError
from lastmile.ingest import list_landing_files
from lastmile.partners.ingest import list_partner_files
from lastmile.warehouse import Target, warehouse_target
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


IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def read_unpublished(warehouse: Target, timezone: str) -> dict[str, set[dt.date]] | str:
    """The partitions read but not yet published, or a reason why the warehouse could not be read now."""
    import duckdb

    from lastmile.errors import LastmileError
    from lastmile.ingest import unpublished_partitions
    from lastmile.warehouse import connect

    if isinstance(warehouse, Path) and not warehouse.exists():
        return {}
    try:
        conn = connect(warehouse, timezone, read_only=True)
    except LastmileError as exc:  # a run holds the warehouse: try again on the next tick
        return str(exc)
    try:
        return unpublished_partitions(conn)
    except duckdb.CatalogException:  # a warehouse from before the table existed: nothing recorded
        return {}
    finally:
        conn.close()


def build_intake_publish_sensor(
    partitions_def: dg.DailyPartitionsDefinition, warehouse: Target, timezone: str
) -> dg.SensorDefinition:
    @dg.sensor(
        name="intake_publish_sensor",
        job_name="publish_job",
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="After each landing_intake materialization, requests one publish_job run over the "
        "daily partitions read and not yet published (unpublished_start..unpublished_end). When no ingest or "
        "publish run is in flight, it also reads the warehouse's unpublished_partitions table and requests a "
        "publish_job run over what a killed ingest or publish left unpublished. Cursor: the storage id of "
        "the last landing_intake materialization seen.",
    )
    def intake_publish_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        after = int(context.cursor) if context.cursor and context.cursor.isdigit() else None
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("landing_intake"), after_storage_id=after),
            limit=100,
            ascending=True,
        ).records
        requests: list[dg.RunRequest] = []
        skipped: list[str] = []
        for record in records:
            after = record.storage_id
            run_id = record.event_log_entry.run_id
            run = context.instance.get_run_by_id(run_id) if run_id else None
            if run is not None and COMMAND_TAG in run.tags:
                skipped.append(f"intake run {run_id} was published by the lastmile command")
                continue
            materialization = record.asset_materialization
            metadata = dict(materialization.metadata) if materialization else {}
            start = _text(metadata, "unpublished_start") or _text(metadata, "touched_start")
            end = _text(metadata, "unpublished_end") or _text(metadata, "touched_end")
            if start is None or end is None:
                skipped.append(f"intake run {run_id} touched no partitions")
                continue
            keys = partition_key_range(partitions_def, dt.date.fromisoformat(start), dt.date.fromisoformat(end))
            if keys is None:
                skipped.append(f"intake run {run_id} touched {start}..{end}: no such partitions")
                continue
            key = f"publish-after-{run_id or record.storage_id}"
            requests.append(dg.RunRequest(run_key=key, tags=range_tags(keys)))
        cursor = str(after) if after is not None else None
        if not requests and not skipped:
            heal = _heal(context)
            if isinstance(heal, dg.RunRequest):
                requests.append(heal)
            else:
                skipped.append(heal)
        if requests:
            return dg.SensorResult(run_requests=requests, cursor=cursor)
        return dg.SensorResult(skip_reason="; ".join(skipped), cursor=cursor)

    def _heal(context: dg.SensorEvaluationContext) -> dg.RunRequest | str:
        """A publish run over the partitions a killed ingest or publish left unpublished, if any."""
        busy = context.instance.get_runs(dg.RunsFilter(statuses=IN_FLIGHT), limit=1)
        if busy:
            return f"run {busy[0].run_id} is in flight; unpublished partitions are looked at once it is done"
        pending = read_unpublished(warehouse, timezone)
        if isinstance(pending, str):
            return f"warehouse busy: {pending}"
        days = set().union(*pending.values()) if pending else set()
        if not days:
            return "no new intake and no unpublished partitions"
        keys = partition_key_range(partitions_def, min(days), max(days))
        if keys is None:
            return f"unpublished partitions {min(days)}..{max(days)} are outside the partitions"
        return dg.RunRequest(tags={**range_tags(keys), "lastmile/completes": "unpublished_partitions"})

    return intake_publish_sensor


@dg.definitions
def defs() -> dg.Definitions:
    home = resolve_home()
    settings = home_settings(home)
    return dg.Definitions(
        sensors=[
            build_landing_files_sensor(landing_dir(home, settings)),
            build_intake_publish_sensor(
                daily_partitions(settings), warehouse_target(home, settings), settings.network_timezone
            ),
        ]
    )
