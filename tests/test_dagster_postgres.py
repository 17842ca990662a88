"""The Dagster instance of docs/dagster-postgres.yaml runs jobs with its runs, events and pools in PostgreSQL.

The test server's database is substituted through LASTMILE_DAGSTER_PG_URL, as a deployment substitutes its own.
The jobs here are trivial on purpose: what is under test is the instance (storage, queue, pools, executors).
"""

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

DOCS = Path(__file__).resolve().parent.parent / "docs"
INSTANCE_YAML = DOCS / "dagster-postgres.yaml"
URL_ENV = "LASTMILE_DAGSTER_PG_URL"


@dg.op(pool="warehouse")
def publish_day(context: dg.OpExecutionContext) -> int:
    context.log.info("publishing")
    return os.getpid()


@dg.op(pool="warehouse")
def check_day(context: dg.OpExecutionContext) -> int:
    context.log.info("checking")
    return os.getpid()


@dg.job
def trivial_job() -> None:
    publish_day()


@dg.job(executor_def=dg.multiprocess_executor)
def parallel_job() -> None:
    publish_day()
    check_day()


@pytest.fixture
def pg_instance(postgres_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    """A DagsterInstance from docs/dagster-postgres.yaml on a fresh database of the test server."""
    postgres_server.create_database("dagster")
    monkeypatch.setenv(URL_ENV, postgres_server.url("dagster"))
    home = tmp_path / "dagster-home"
    home.mkdir()
    shutil.copy(INSTANCE_YAML, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance
    postgres_server.drop_database("dagster")


def _query(postgres_server: Any, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with contextlib.closing(postgres_server.connect("dagster")) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


def test_the_yaml_keeps_the_database_address_out_of_the_file() -> None:
    config = yaml.safe_load(INSTANCE_YAML.read_text(encoding="utf-8"))
    for storage in ("run_storage", "event_log_storage", "schedule_storage"):
        assert config[storage]["module"].startswith("dagster_postgres.")
        assert config[storage]["config"] == {"postgres_url": {"env": URL_ENV}}
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["concurrency"]["pools"]["granularity"] == "op"
    assert "postgresql" + "+psycopg2://" not in INSTANCE_YAML.read_text(encoding="utf-8").replace(
        "postgresql+psycopg2://dagster:<", ""
    )


def test_a_run_through_the_postgres_instance_is_stored_in_postgresql(pg_instance: Any, postgres_server: Any) -> None:
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    assert isinstance(pg_instance.run_storage, PostgresRunStorage)
    assert isinstance(pg_instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(pg_instance.schedule_storage, PostgresScheduleStorage)
    assert type(pg_instance.run_coordinator).__name__ == "QueuedRunCoordinator"

    result = trivial_job.execute_in_process(instance=pg_instance, tags={"lastmile/command": "test"})
    assert result.success

    runs = _query(postgres_server, "SELECT run_id, pipeline_name, status FROM runs")
    assert runs == [(result.run_id, "trivial_job", "SUCCESS")]
    events = {
        row[0]
        for row in _query(
            postgres_server, "SELECT dagster_event_type FROM event_logs WHERE run_id = %s", (result.run_id,)
        )
    }
    # Run-level events keep their historical names (PIPELINE_*) in the event log table.
    assert {"PIPELINE_START", "STEP_START", "STEP_SUCCESS", "PIPELINE_SUCCESS"} <= events, events
    tags = _query(postgres_server, "SELECT key, value FROM run_tags WHERE run_id = %s", (result.run_id,))
    assert ("lastmile/command", "test") in tags
    # The step took a slot of the `warehouse` pool, created with the yaml's default limit, and gave it back.
    limits = _query(postgres_server, 'SELECT concurrency_key, "limit", using_default_limit FROM concurrency_limits')
    assert limits == [("warehouse", 4, True)]
    slots = _query(
        postgres_server,
        "SELECT count(*), count(run_id) FROM concurrency_slots WHERE concurrency_key = 'warehouse' AND NOT deleted",
    )
    assert slots == [(4, 0)]
    # Schedule storage is PostgreSQL too: its tables are in the same database.
    tables = {row[0] for row in _query(postgres_server, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"runs", "event_logs", "jobs", "job_ticks", "instigators"} <= tables


def test_the_multiprocess_executor_runs_steps_in_their_own_processes_on_the_postgres_instance(
    pg_instance: Any, postgres_server: Any
) -> None:
    with dg.execute_job(dg.reconstructable(parallel_job), instance=pg_instance) as result:
        assert result.success
        pids = {result.output_for_node("publish_day"), result.output_for_node("check_day")}
        run_id = result.run_id
    assert os.getpid() not in pids, "each step ran in a worker process"
    rows = _query(
        postgres_server,
        "SELECT step_key, dagster_event_type FROM event_logs WHERE run_id = %s AND dagster_event_type IS NOT NULL",
        (run_id,),
    )
    assert {step for step, kind in rows if kind == "STEP_WORKER_STARTED"} == {"publish_day", "check_day"}
    assert {step for step, kind in rows if kind == "STEP_SUCCESS"} == {"publish_day", "check_day"}
    assert _query(postgres_server, "SELECT status FROM runs WHERE run_id = %s", (run_id,)) == [("SUCCESS",)]
