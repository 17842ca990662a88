"""`lastmile ingest` killed at every commit that matters (a real process: injected os._exit points, and SIGKILL
to its process group at several moments) is completed by the next run: every table, the vault and the audit
trail end equal to (or, for the audit trail, as valid as) a clean run's on the same landing."""

import datetime as dt
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from lastmile.faults import CRASH_EXIT
from lastmile.generator import generate
from lastmile.warehouse import connect
from tests.crash_kit import (
    INGEST_TABLES,
    audit_ok,
    home_like,
    killed_after,
    lastmile,
    rows,
    timed,
    vault_contents,
)

# An event whose day lies outside every daily partition (the hand-made row): quarantined, not loaded.
OUTSIDE = (
    "event_id,order_id,status,exception_code,occurred_at,recorded_at,courier_id,source,lat,lon\n"
    "ev-outside-1,LM-none,in_transit,,9999-12-31T23:59:59Z,0001-01-01T00:00:00Z,,dispatch,,\n"
)


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("crash-landing") / "landing"
    generate(out, days=2, orders_per_day=24, seed=3)
    (out / "events" / "zz-outside.csv").write_text(OUTSIDE, encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def clean(landing: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One uninterrupted ingest of the landing: its tables, vault and duration."""
    home = tmp_path_factory.mktemp("crash-clean") / "home"
    seconds = timed(home, "ingest", str(landing))
    return {"home": home, "seconds": seconds, "tables": rows(home, INGEST_TABLES), "vault": vault_contents(home)}


def assert_like_clean(home: Path, clean: dict[str, Any]) -> None:
    got = rows(home, INGEST_TABLES)
    for table in INGEST_TABLES:
        assert got[table] == clean["tables"][table], f"{table} differs from a clean run's"
    assert got["unpublished_partitions"] == []
    assert vault_contents(home) == clean["vault"]
    audit_ok(home)


def unpublished(home: Path) -> list[tuple[str, dt.date]]:
    conn = connect(home / "warehouse.duckdb")
    try:
        return conn.execute("SELECT table_name, partition_date FROM unpublished_partitions ORDER BY ALL").fetchall()
    finally:
        conn.close()


def test_the_clean_run_loads_every_counted_row_and_quarantines_the_out_of_range_day(clean: dict[str, Any]) -> None:
    tables = clean["tables"]
    assert tables["unpublished_partitions"] == []
    home = clean["home"]
    conn = connect(home / "warehouse.duckdb")
    try:
        reason = conn.execute(
            "SELECT reason, entity_id FROM quarantine WHERE path = 'events/zz-outside.csv'"
        ).fetchall()
        loaded = conn.execute(
            "SELECT sum(rows_loaded) FROM ingest_files WHERE entity IN ('events', 'partners')"
        ).fetchone()
        in_events = conn.execute("SELECT count(*) FROM events").fetchone()
        intake = conn.execute("SELECT count(*) FROM intake_events").fetchone()
    finally:
        conn.close()
    assert reason == [("outside_partitions", "ev-outside-1")]
    # every event counted as loaded is in its published table (partner events land in events too)
    assert loaded is not None and in_events is not None and intake is not None
    assert in_events[0] == intake[0]
    assert_like_clean(home, clean)


POINTS = [
    # (crash point[:n-th arrival], the partitions are left read but unpublished)
    ("ingest.after_seal:2", False),  # artifacts sealed in the file's open transaction, nothing committed (consents)
    ("ingest.after_file:3", True),  # first events file committed with its unpublished_partitions rows
    ("ingest.after_file:9", True),  # mid-landing
    ("ingest.before_checkpoint", True),  # every file read, nothing published
    ("ingest.after_run", True),  # ingest_runs closed, not yet in the audit trail
    ("ingest.after_audit", True),  # logged, publish not started
    ("publish.before_commit:2", True),  # orders published, events' transaction open
    ("publish.after_commit:1", True),  # orders published, events and proofs not (the failure)
    ("publish.after_commit:3", True),  # three of the four daily tables published
    ("publish.after_commit:4", False),  # all four published, the command not finished
]


@pytest.mark.parametrize(("point", "left_unpublished"), POINTS)
def test_a_killed_ingest_is_completed_by_the_next(
    landing: Path, clean: dict[str, Any], tmp_path: Path, point: str, left_unpublished: bool
) -> None:
    home = home_like(tmp_path / "home", clean["home"])
    killed = lastmile(home, "ingest", str(landing), crash=point)
    assert killed.returncode == CRASH_EXIT, killed.stderr[-2000:]
    assert bool(unpublished(home)) == left_unpublished
    rerun = lastmile(home, "ingest", str(landing))
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert_like_clean(home, clean)


def test_sigkill_at_several_moments_then_rerun(landing: Path, clean: dict[str, Any], tmp_path: Path) -> None:
    """A real SIGKILL to the process group, at moments spread over a clean run's duration, then a rerun."""
    killed = 0
    for i, share in enumerate((0.35, 0.6, 0.85)):
        home = home_like(tmp_path / f"home{i}", clean["home"])
        status = killed_after(home, clean["seconds"] * share, "ingest", str(landing))
        killed += status is None
        rerun = lastmile(home, "ingest", str(landing))
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        assert_like_clean(home, clean)
    assert killed >= 1  # at least one run really died part-way


def test_check_and_report_publish_what_a_killed_ingest_left(
    landing: Path, clean: dict[str, Any], tmp_path: Path
) -> None:
    home = home_like(tmp_path / "home", clean["home"])
    killed = lastmile(home, "ingest", str(landing), crash="publish.after_commit:1")
    assert killed.returncode == CRASH_EXIT
    assert len({t for t, _ in unpublished(home)}) == 3  # one daily table published, three not
    checked = lastmile(home, "check", "--as-of", "2026-10-08T00:00:00Z")
    assert checked.returncode in (0, 1), checked.stderr[-2000:]
    assert unpublished(home) == []
    got = rows(home, INGEST_TABLES)
    assert {t: got[t] for t in INGEST_TABLES} == clean["tables"]

    other = home_like(tmp_path / "other", clean["home"])
    assert lastmile(other, "ingest", str(landing), crash="ingest.after_audit").returncode == CRASH_EXIT
    report = lastmile(other, "report", "kpi", "--week", "2026-W41")
    assert report.returncode == 0, report.stderr[-2000:]
    assert unpublished(other) == []
    assert rows(other, INGEST_TABLES) == clean["tables"]


def test_the_sensor_publishes_what_a_killed_ingest_left(landing: Path, tmp_path: Path) -> None:
    """dagster dev users heal too: with no run in flight, intake_publish_sensor reads unpublished_partitions
    and requests a publish_job run over them."""
    from tests.cli_kit import use_home

    home = tmp_path / "home"
    assert lastmile(home, "ingest", str(landing), crash="publish.after_commit:1").returncode == CRASH_EXIT
    days = sorted({d for _, d in unpublished(home)})
    mp = pytest.MonkeyPatch()
    try:
        use_home(home, mp)
        from pipelines.cli import release_dead_runs
        from pipelines.definitions import defs as load_definitions

        defs = load_definitions()
        sensor = defs.resolve_sensor_def("intake_publish_sensor")
        with dg.DagsterInstance.get() as instance:
            busy = sensor(dg.build_sensor_context(instance=instance, definitions=defs, cursor="999999999"))
            assert isinstance(busy, dg.SensorResult) and not busy.run_requests  # the killed run looks in flight
            assert release_dead_runs(instance) >= 1  # what the next command (or run monitoring) does
            result = sensor(dg.build_sensor_context(instance=instance, definitions=defs, cursor="999999999"))
    finally:
        mp.undo()
    assert isinstance(result, dg.SensorResult) and result.run_requests
    (request,) = result.run_requests
    assert request.tags["dagster/asset_partition_range_start"] == days[0].isoformat()
    assert request.tags["dagster/asset_partition_range_end"] == days[-1].isoformat()
