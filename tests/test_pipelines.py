"""The Dagster definitions: every asset documented, partitions in the network timezone, sensors."""

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from lastmile.settings import SETTINGS_FILE
from pipelines.definitions import defs as load_definitions

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "home"
    root.mkdir()
    monkeypatch.setenv("LASTMILE_HOME", str(root))
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster"))
    for name in list(os.environ):
        if name.startswith("LASTMILE_") and name != "LASTMILE_HOME":
            monkeypatch.delenv(name)
    return root


def write_settings(home: Path, **values: str) -> None:
    (home / SETTINGS_FILE).write_text("".join(f"{k}: {v}\n" for k, v in values.items()), encoding="utf-8")


def test_every_asset_has_description_group_owners_kinds(home: Path) -> None:
    specs = list(load_definitions().resolve_all_asset_specs())
    assert {spec.key.to_user_string() for spec in specs} >= {"landing_intake", "orders", "events", "proofs"}
    for spec in specs:
        name = spec.key.to_user_string()
        assert spec.description and len(spec.description) > 20, name
        assert spec.group_name and spec.group_name != "default", name
        assert spec.owners, name
        assert spec.kinds, name


def test_every_asset_writes_through_the_warehouse_pool(home: Path) -> None:
    defs = load_definitions()
    for spec in defs.resolve_all_asset_specs():
        assert defs.resolve_assets_def(spec.key).op.pool == "warehouse", spec.key


def test_jobs_and_sensors_are_defined(home: Path) -> None:
    defs = load_definitions()
    assert defs.resolve_job_def("ingest_job").asset_layer.executable_asset_keys == {dg.AssetKey("landing_intake")}
    assert defs.resolve_job_def("publish_job").asset_layer.executable_asset_keys == {
        dg.AssetKey(t) for t in ("orders", "events", "proofs", "messages")
    }
    assert {s.name for s in defs.sensors or []} == {"landing_files_sensor", "intake_publish_sensor"}
    assert "lastmile" in (defs.resources or {})


def test_partitions_follow_the_settings_file(home: Path) -> None:
    write_settings(home, network_timezone="America/New_York", partition_start_date="2026-09-01")
    defs = load_definitions()
    for table in ("orders", "events", "proofs"):
        partitions = defs.resolve_assets_def(table).partitions_def
        assert isinstance(partitions, dg.DailyPartitionsDefinition)
        assert partitions.timezone == "America/New_York"
        assert partitions.start.date() == dt.date(2026, 9, 1)
        assert partitions.get_first_partition_key() == "2026-09-01"
        assert defs.resolve_assets_def(table).backfill_policy == dg.BackfillPolicy.single_run()
    publish = defs.resolve_job_def("publish_job").partitions_def
    assert isinstance(publish, dg.DailyPartitionsDefinition)
    assert publish.timezone == "America/New_York"
    assert defs.resolve_assets_def("landing_intake").partitions_def is None


def test_partitions_follow_an_environment_override(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LASTMILE_NETWORK_TIMEZONE", "Asia/Tokyo")
    partitions = load_definitions().resolve_assets_def("events").partitions_def
    assert isinstance(partitions, dg.DailyPartitionsDefinition)
    assert partitions.timezone == "Asia/Tokyo"


def _landing_sensor(defs: dg.Definitions) -> dg.SensorDefinition:
    return defs.resolve_sensor_def("landing_files_sensor")


def test_landing_sensor_requests_a_run_for_new_and_changed_files(home: Path) -> None:
    landing = home / "landing"
    (landing / "orders").mkdir(parents=True)
    sensor = _landing_sensor(load_definitions())

    result = sensor(dg.build_sensor_context())
    assert isinstance(result, dg.SkipReason)  # an empty landing folder: nothing to do

    (landing / "orders" / "a.csv").write_text("order_id\n1\n", encoding="utf-8")
    result = sensor(dg.build_sensor_context())
    assert isinstance(result, dg.SensorResult)
    assert result.run_requests is not None and len(result.run_requests) == 1
    request = result.run_requests[0]
    assert request.run_config == {"ops": {"landing_intake": {"config": {"landing": str(landing)}}}}
    assert result.cursor is not None
    assert set(json.loads(result.cursor)) == {"orders/a.csv"}

    again = sensor(dg.build_sensor_context(cursor=result.cursor))
    assert isinstance(again, dg.SkipReason)

    (landing / "orders" / "a.csv").write_text("order_id\n1\n2\n", encoding="utf-8")
    changed = sensor(dg.build_sensor_context(cursor=result.cursor))
    assert isinstance(changed, dg.SensorResult)
    assert changed.run_requests and changed.run_requests[0].run_key != request.run_key


def test_landing_sensor_skips_a_missing_landing_folder(home: Path) -> None:
    result = _landing_sensor(load_definitions())(dg.build_sensor_context())
    assert isinstance(result, dg.SkipReason)
    assert "does not exist" in (result.skip_message or "")


def test_landing_sensor_watches_the_landing_dir_setting(home: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "events").mkdir(parents=True)
    (elsewhere / "events" / "e.jsonl").write_text("{}\n", encoding="utf-8")
    write_settings(home, landing_dir=str(elsewhere))
    result = _landing_sensor(load_definitions())(dg.build_sensor_context())
    assert isinstance(result, dg.SensorResult)
    assert result.run_requests
    assert result.run_requests[0].run_config["ops"]["landing_intake"]["config"]["landing"] == str(elsewhere)


def _evaluate_publish_sensor(defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None = None) -> Any:
    """The one run request of an evaluation, or its SkipReason."""
    sensor = defs.resolve_sensor_def("intake_publish_sensor")
    result = sensor(dg.build_sensor_context(instance=instance, definitions=defs, cursor=cursor))
    assert isinstance(result, dg.SensorResult)
    if result.run_requests:
        assert len(result.run_requests) == 1
        return result.run_requests[0]
    assert isinstance(result.skip_reason, dg.SkipReason)
    return result.skip_reason


def test_publish_sensor_requests_one_run_over_the_touched_range(home: Path) -> None:
    defs = load_definitions()
    with dg.DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                "landing_intake",
                metadata={"touched_start": "2026-10-05", "touched_end": "2026-10-07"},
            )
        )
        request = _evaluate_publish_sensor(defs, instance)
    assert isinstance(request, dg.RunRequest)
    assert request.tags[RANGE_START] == "2026-10-05"
    assert request.tags[RANGE_END] == "2026-10-07"


def test_publish_sensor_clips_the_range_to_existing_partitions(home: Path) -> None:
    write_settings(home, partition_start_date="2026-10-06")
    defs = load_definitions()
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    with dg.DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(
            dg.AssetMaterialization("landing_intake", metadata={"touched_start": "2026-10-01", "touched_end": future})
        )
        request = _evaluate_publish_sensor(defs, instance)
    assert isinstance(request, dg.RunRequest)
    assert request.tags[RANGE_START] == "2026-10-06"
    assert dt.date.fromisoformat(request.tags[RANGE_END]) <= dt.date.today() + dt.timedelta(days=2)


def test_publish_sensor_skips_an_intake_that_touched_nothing(home: Path) -> None:
    defs = load_definitions()
    with dg.DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                "landing_intake",
                metadata={"touched_start": dg.MetadataValue.null(), "touched_end": dg.MetadataValue.null()},
            )
        )
        skip = _evaluate_publish_sensor(defs, instance)
    assert isinstance(skip, dg.SkipReason)
    assert "touched no partitions" in (skip.skip_message or "")


@dg.asset(name="landing_intake")
def stand_in_intake() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"touched_start": "2026-10-05", "touched_end": "2026-10-06"})


@pytest.mark.parametrize("command_run", [True, False])
def test_publish_sensor_leaves_command_runs_alone(home: Path, command_run: bool) -> None:
    """The `lastmile` command publishes its own intakes; the sensor publishes only the others."""
    defs = load_definitions()
    tags = {"lastmile/command": "ingest"} if command_run else {}
    with dg.DagsterInstance.ephemeral() as instance:
        assert dg.materialize([stand_in_intake], instance=instance, tags=tags).success
        result = _evaluate_publish_sensor(defs, instance)
    if command_run:
        assert isinstance(result, dg.SkipReason)
        assert "lastmile command" in (result.skip_message or "")
    else:
        assert isinstance(result, dg.RunRequest)
        assert (result.tags[RANGE_START], result.tags[RANGE_END]) == ("2026-10-05", "2026-10-06")


def test_publish_sensor_completes_what_a_killed_run_left_unpublished(home: Path) -> None:
    """No new intake, but unpublished_partitions lists days a killed ingest or publish left: the sensor
    requests a publish_job run over them once no run is in flight, and says why it waits otherwise."""
    from lastmile.warehouse import connect

    write_settings(home, partition_start_date="2026-10-01")
    conn = connect(home / "warehouse.duckdb")
    conn.execute(
        "INSERT INTO unpublished_partitions VALUES ('events', '2026-10-06', 'r1', now()),"
        " ('proofs', '2026-10-08', 'r1', now()), ('orders', '2019-01-01', 'r0', now())"
    )
    conn.close()
    defs = load_definitions()
    with dg.DagsterInstance.ephemeral() as instance:
        request = _evaluate_publish_sensor(defs, instance)
        assert isinstance(request, dg.RunRequest)
        assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("2026-10-01", "2026-10-08")
        # a run in flight (it may be the very ingest that is writing these rows): wait for it
        run = instance.create_run_for_job(defs.resolve_job_def("publish_job"), run_config={}, tags=request.tags)
        waiting = _evaluate_publish_sensor(defs, instance)
        assert isinstance(waiting, dg.SkipReason)
        assert run.run_id in (waiting.skip_message or "")


def test_publish_sensor_skips_when_nothing_is_unpublished(home: Path) -> None:
    defs = load_definitions()
    with dg.DagsterInstance.ephemeral() as instance:
        skip = _evaluate_publish_sensor(defs, instance)  # no warehouse yet
        assert isinstance(skip, dg.SkipReason)
        assert "no unpublished partitions" in (skip.skip_message or "")
