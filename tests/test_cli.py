"""The `lastmile` command: help on every verb, one-line errors, generate + ingest end to end."""

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from click.testing import Result

from lastmile.warehouse import connect
from pipelines.cli import cli
from tests.cli_kit import lm, one_line_error, run

ORDERS_CSV = """\
order_id,created_at,service_type,depot_id,zone_id,address_line,postcode,city,country,address_lat,address_lon
o1,2026-10-05T08:00:00Z,standard,d1,z1,1 Main St,AB1 2CD,Town,GB,51.5,-0.1
o2,2026-10-06T08:00:00Z,not_a_service,d1,z1,1 Main St,AB1 2CD,Town,GB,51.5,-0.1
"""
EVENTS_CSV = """\
event_id,order_id,status,exception_code,occurred_at,recorded_at,courier_id,source,lat,lon
e1,o1,out_for_delivery,,2026-10-05T09:00:00Z,2026-10-05T09:01:00Z,c1,driver_app,,
e2,o1,delivered,,2026-10-05T10:00:00Z,2026-10-05T10:01:00Z,c1,driver_app,51.5,-0.1
e2,o1,delivered,,2026-10-05T10:00:00Z,2026-10-05T10:01:00Z,c1,driver_app,51.5,-0.1
"""


@pytest.fixture
def home(cli_home: Path) -> Path:
    return cli_home


def assert_one_line_error(result: Result, code: int, *fragments: str) -> None:
    one_line_error(result, *fragments, code=code)


def table_counts(home: Path) -> dict[str, int]:
    conn = connect(home / "warehouse.duckdb", read_only=True)
    try:
        counts = {}
        for table in ("orders", "events", "proofs", "quarantine", "ingest_files"):
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            counts[table] = row[0] if row else 0
        return counts
    finally:
        conn.close()


def recorded_runs(home: Path) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        return list(instance.get_runs())


# ----------------------------------------------------------------------------------------------- help


def test_help_on_the_command_and_every_verb(home: Path) -> None:
    top = run("--help")
    assert top.exit_code == 0
    assert "LASTMILE_HOME" in top.output
    assert set(cli.commands) >= {"generate", "ingest", "demo"}
    for verb, command in cli.commands.items():
        result = run(verb, "--help")
        assert result.exit_code == 0, verb
        assert f"Usage: lastmile {verb}" in result.output
        assert command.help
        summary = " ".join(command.help.split())[:40]
        assert summary in " ".join(result.output.split()), verb


# --------------------------------------------------------------------------------------------- errors


def test_missing_landing_folder_is_one_line(home: Path, tmp_path: Path) -> None:
    assert_one_line_error(run("ingest", str(tmp_path / "nowhere")), 1, "does not exist")


def test_bad_timezone_setting_is_one_line(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "landing").mkdir()
    monkeypatch.setenv("LASTMILE_NETWORK_TIMEZONE", "Mars/Olympus_Mons")
    assert_one_line_error(run("ingest", str(tmp_path / "landing")), 1, "network_timezone", "LASTMILE_NETWORK_TIMEZONE")


def test_malformed_fault_rate_is_a_usage_error(home: Path, tmp_path: Path) -> None:
    args = ["--days", "1", "--orders-per-day", "1", "--seed", "1", "--fault-rate", "no-equals-sign"]
    result = run("generate", str(tmp_path / "out"), *args)
    assert_one_line_error(result, 2, "--fault-rate")


def test_unknown_fault_is_a_usage_error(home: Path, tmp_path: Path) -> None:
    args = ["--days", "1", "--orders-per-day", "1", "--seed", "1", "--fault-rate", "no_such_fault=0.1"]
    result = run("generate", str(tmp_path / "out"), *args)
    assert_one_line_error(result, 2, "--fault-rate", "no_such_fault")


def test_usage_errors_are_one_line(home: Path) -> None:
    assert_one_line_error(run("no-such-verb"), 2, "no-such-verb")
    assert_one_line_error(run("ingest"), 2, "LANDING")


def test_locked_warehouse_is_one_line(home: Path, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    (landing / "orders").mkdir(parents=True)
    (landing / "orders" / "o.csv").write_text(ORDERS_CSV, encoding="utf-8")
    home.mkdir(parents=True, exist_ok=True)
    hold = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print(1, flush=True); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", hold, str(home / "warehouse.duckdb")], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"1"
        assert_one_line_error(run("ingest", str(landing)), 1, "cannot open warehouse")
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


# ---------------------------------------------------------------------------------------- end to end


def test_ingest_a_small_landing_folder_twice(home: Path, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    (landing / "orders").mkdir(parents=True)
    (landing / "events").mkdir()
    (landing / "orders" / "o.csv").write_text(ORDERS_CSV, encoding="utf-8")
    (landing / "events" / "e.csv").write_text(EVENTS_CSV, encoding="utf-8")

    first = run("ingest", str(landing))
    assert first.exit_code == 0, first.output + first.stderr
    assert "rows quarantined" in first.output
    counts = table_counts(home)
    assert counts["orders"] == 1 and counts["events"] == 2 and counts["quarantine"] == 1

    runs = recorded_runs(home)
    assert {r.job_name for r in runs} == {"ingest_job", "publish_job"}
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    publish = next(r for r in runs if r.job_name == "publish_job")
    assert publish.tags["dagster/asset_partition_range_start"] == "2026-10-05"
    assert publish.tags["dagster/asset_partition_range_end"] == "2026-10-05"

    second = run("ingest", str(landing))
    assert second.exit_code == 0, second.output + second.stderr
    assert "Nothing new" in second.output
    assert table_counts(home) == counts
    assert [r.job_name for r in recorded_runs(home)].count("publish_job") == 1


def test_generate_then_ingest_end_to_end(home: Path, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    generated = run("generate", str(landing), "--days", "3", "--orders-per-day", "30", "--seed", "11")
    assert generated.exit_code == 0, generated.output + generated.stderr
    assert "orders" in generated.output
    assert (landing / "orders").is_dir()

    first = run("ingest", str(landing))
    assert first.exit_code == 0, first.output + first.stderr
    for label in ("files read", "rows loaded", "rows quarantined", "orders", "events", "proofs"):
        assert label in first.output
    counts = table_counts(home)
    assert counts["orders"] > 0 and counts["events"] > 0
    assert recorded_runs(home)

    second = run("ingest", str(landing))
    assert second.exit_code == 0, second.output + second.stderr
    assert "Nothing new" in second.output
    assert table_counts(home) == counts


def test_demo_twice(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pipelines.cli.DEMO_DAYS", 2)
    monkeypatch.setattr("pipelines.cli.DEMO_ORDERS_PER_DAY", 15)
    first = run("demo")
    assert first.exit_code == 0, first.output + first.stderr
    assert str(home / "warehouse.duckdb") in first.output
    assert "dagster dev" in first.output
    counts = table_counts(home)
    assert counts["orders"] > 0

    second = run("demo")
    assert second.exit_code == 0, second.output + second.stderr
    assert "not regenerated" in second.output
    assert "Nothing new" in second.output
    assert table_counts(home) == counts


def test_check_a_range_of_days_without_the_window_checks(tmp_path: Path) -> None:
    """`check --date D1 --to D2 --partitions-only`: a worker's share of the days, no window checks."""
    from quality_checks import CHECKS
    from tests.cli_kit import build_home
    from tests.crash_kit import open_home

    home = build_home(tmp_path, check=False) / "home"
    conn = open_home(home)
    try:
        days = [d for (d,) in conn.execute("SELECT DISTINCT partition_date FROM events ORDER BY 1").fetchall()]
    finally:
        conn.close()
    first, last = days[0], days[1]
    done = lm(home, "check", "--date", f"{first:%Y-%m-%d}", "--to", f"{last:%Y-%m-%d}", "--partitions-only")
    assert done.exit_code in (0, 1), done.output
    conn = open_home(home)
    try:
        history = conn.execute("SELECT DISTINCT check_id, partition_date FROM dq_check_runs").fetchall()
    finally:
        conn.close()
    window = {c.check_id for c in CHECKS if c.scope == "window"}
    assert history and not {c for c, _ in history} & window
    assert {d for _, d in history} <= {first, last}
    assert one_line_error(lm(home, "check", "--to", "2026-10-06"), "--to needs --date", code=2)
    assert one_line_error(lm(home, "check", "--date", "2026-10-06", "--to", "2026-10-05"), "is before --date", code=2)
