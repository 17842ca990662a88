"""The warehouse on DuckLake (a PostgreSQL catalog that the test setup starts, Parquet files under tmp_path)
gives exactly what the embedded DuckDB file gives on the same landing folder; several worker processes can
publish and check different days at once; a worker killed in the middle of a partition leaves nothing
half-written, and the next run completes it."""

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lastmile.errors import SettingsError
from lastmile.faults import CRASH_EXIT
from lastmile.generator import generate
from lastmile.settings import Home, load_settings
from lastmile.warehouse import Lake, connect, is_lake, keyless, warehouse_target
from tests.crash_kit import (
    INGEST_TABLES,
    REPO,
    audit_ok,
    command,
    env,
    home_like,
    lastmile,
    open_home,
    rows,
    vault_contents,
)

WEEK = "2026-W41"
RETENTION_AS_OF = "2027-12-01T00:00:00Z"
# Everything a user of either store reads: the ingest tables, findings and their history, the week's KPIs,
# the retention decisions.
RESULT_TABLES = (*INGEST_TABLES, "dq_findings", "dq_check_runs", "kpi_weekly", "legal_holds")
# A partner payload's retention clock starts when it was ingested (a wall-clock time): the decisions are
# compared without the clock; every other artifact's clock comes from the data.
LEDGER_CLOCK = frozenset({"reason", "clock_start", "due_at"})
WALL_CLOCK = frozenset({"placed_at", "released_at"})  # when a user placed a hold: now, on each run


def held_order(landing: Path) -> str:
    """The landing's first order: held before the retention run, so the decisions include a held one."""
    first_file = sorted((landing / "orders").glob("orders-*.csv"))[0]
    return first_file.read_text(encoding="utf-8").splitlines()[1].split(",")[0]


def one_value(home: Path, store: dict[str, str] | None, sql: str) -> str:
    conn = open_home(home, store)
    try:
        row = conn.execute(sql).fetchone()
    finally:
        conn.close()
    assert row is not None
    return str(row[0])


# -- settings and dialect --------------------------------------------------------------------------------


def test_ducklake_needs_a_catalog(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="ducklake_catalog") as err:
        load_settings(tmp_path, environ={"LASTMILE_WAREHOUSE": "ducklake"})
    assert "\n" not in str(err.value)


def test_an_unknown_warehouse_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="LASTMILE_WAREHOUSE") as err:
        load_settings(tmp_path, environ={"LASTMILE_WAREHOUSE": "sqlite"})
    assert "\n" not in str(err.value)


def test_the_pool_limit_follows_the_store(tmp_path: Path) -> None:
    assert load_settings(tmp_path, environ={}).pool_limit == 1
    lake = {"LASTMILE_WAREHOUSE": "ducklake", "LASTMILE_DUCKLAKE_CATALOG": "dbname=x"}
    assert load_settings(tmp_path, environ=lake).pool_limit == 4
    assert load_settings(tmp_path, environ={**lake, "LASTMILE_WAREHOUSE_POOL_LIMIT": "8"}).pool_limit == 8
    with pytest.raises(SettingsError, match="one writer"):
        load_settings(tmp_path, environ={"LASTMILE_WAREHOUSE_POOL_LIMIT": "2"})


def test_shared_state_goes_under_the_data_path(tmp_path: Path) -> None:
    lake = {"LASTMILE_WAREHOUSE": "ducklake", "LASTMILE_DUCKLAKE_CATALOG": "dbname=x"}
    settings = load_settings(tmp_path, environ={**lake, "LASTMILE_DUCKLAKE_DATA_PATH": "shared"})
    home = Home(tmp_path).for_settings(settings)
    assert home.vault_dir == tmp_path / "shared" / "vault"
    assert home.reports_dir == tmp_path / "shared" / "reports"
    assert home.keys_dir == tmp_path / "keys"  # keys come through the KeyProvider, never from the data path
    assert warehouse_target(home, settings) == Lake("dbname=x", str(tmp_path / "shared"))
    embedded = load_settings(tmp_path / "e", environ={})
    assert (
        warehouse_target(Home(tmp_path / "e").for_settings(embedded), embedded) == tmp_path / "e" / "warehouse.duckdb"
    )


def test_schema_statements_lose_their_keys_only() -> None:
    stmt = (
        "CREATE TABLE IF NOT EXISTS t (\n    id VARCHAR PRIMARY KEY,\n    a INT NOT NULL DEFAULT 1,\n"
        "    b INT,\n    UNIQUE (a, b)\n)"
    )
    assert keyless(stmt) == (
        "CREATE TABLE IF NOT EXISTS t (\n    id VARCHAR NOT NULL,\n    a INT NOT NULL DEFAULT 1,\n    b INT\n)"
    )
    assert keyless("CREATE TABLE p (a INT, b INT, PRIMARY KEY (a, b))") == "CREATE TABLE p (a INT, b INT)"


def test_a_wrong_catalog_is_one_line(tmp_path: Path) -> None:
    from lastmile.errors import LastmileError

    with pytest.raises(LastmileError, match="cannot open the DuckLake warehouse") as err:
        connect(Lake(f"dbname=nope host={tmp_path} port=1", str(tmp_path / "lake")))
    assert "\n" not in str(err.value)


def test_a_wrong_catalog_through_the_command_is_one_line(tmp_path: Path) -> None:
    store = {
        "LASTMILE_WAREHOUSE": "ducklake",
        "LASTMILE_DUCKLAKE_CATALOG": f"dbname=nope host={tmp_path} port=1",
    }
    done = lastmile(tmp_path / "home", "check", store=store)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "cannot open the DuckLake warehouse" in done.stderr
    assert "Traceback" not in done.stderr


# -- the same results on both stores ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lake-landing") / "landing"
    generate(out, days=2, orders_per_day=24, seed=11)
    return out


def scenario(home: Path, landing: Path, store: dict[str, str] | None) -> dict[str, bytes]:
    """Every verb a user runs, in order, on one store; returns the files the verbs wrote that must match."""
    held = held_order(landing)

    def run(*args: str) -> str:
        done = lastmile(home, *args, store=store)
        assert done.returncode in (0, 1), (args, done.stderr[-3000:])
        assert "Traceback" not in done.stderr, (args, done.stderr[-3000:])
        return done.stdout

    run("ingest", str(landing))
    (home / "access.yaml").write_text("auditor:\n  - crash-test\n", encoding="utf-8")
    proof = one_value(home, store, "SELECT min(proof_id) FROM proofs WHERE kind = 'photo'")
    run("check")
    run("report", "kpi", "--week", WEEK)
    run("report", "messaging", "--week", WEEK)
    run("proofs", "open", proof, "--reason", "dispute 7", "--out", str(home / "opened.bin"))
    run("audit", "trace", held)
    run("keys", "status")
    run("holds", "add", held, "--reason", "dispute 7")
    run("retention", "run", "--as-of", RETENTION_AS_OF)
    retention_run = one_value(home, store, "SELECT run_id FROM retention_runs")
    run("report", "retention", "--run", retention_run)
    run("audit", "verify")
    return {"opened proof": (home / "opened.bin").read_bytes()}


@pytest.fixture(scope="module")
def embedded(landing: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("lake-embedded") / "home"
    files = scenario(home, landing, None)
    return {
        "home": home,
        "files": files,
        "tables": rows(home, RESULT_TABLES, drop=WALL_CLOCK),
        "ledger": rows(home, ("retention_ledger",), drop=LEDGER_CLOCK)["retention_ledger"],
        "vault": vault_contents(home),
    }


@pytest.fixture(scope="module")
def module_lake(postgres_server: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    import uuid

    name = "m_" + uuid.uuid4().hex[:12]
    dsn = postgres_server.create_database(name)
    return {
        "LASTMILE_WAREHOUSE": "ducklake",
        "LASTMILE_DUCKLAKE_CATALOG": dsn,
        "LASTMILE_DUCKLAKE_DATA_PATH": str(tmp_path_factory.mktemp("lake-data") / "lake"),
    }


@pytest.fixture(scope="module")
def on_lake(
    landing: Path, embedded: dict[str, Any], module_lake: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    home = home_like(tmp_path_factory.mktemp("lake-home") / "home", embedded["home"])
    files = scenario(home, landing, module_lake)
    return {"home": home, "store": module_lake, "files": files}


def test_the_lake_is_really_a_lake(on_lake: dict[str, Any]) -> None:
    home: Path = on_lake["home"]
    assert not (home / "warehouse.duckdb").exists()
    conn = open_home(home, on_lake["store"])
    try:
        assert is_lake(conn)
        files = conn.execute("SELECT count(*) FROM ducklake_list_files('lake', 'events')").fetchone()
    finally:
        conn.close()
    assert files is not None and files[0] >= 1
    assert list(Path(on_lake["store"]["LASTMILE_DUCKLAKE_DATA_PATH"]).rglob("*.parquet"))
    # vault packs and the purge certificate live under the data path, beside the Parquet files
    shared = Path(on_lake["store"]["LASTMILE_DUCKLAKE_DATA_PATH"])
    assert list((shared / "vault").rglob("*")), "vault packs under the data path"
    assert list((shared / "reports" / "retention").glob("*.certificate.json"))


def test_every_result_equals_the_embedded_files(embedded: dict[str, Any], on_lake: dict[str, Any]) -> None:
    got = rows(on_lake["home"], RESULT_TABLES, drop=WALL_CLOCK, store=on_lake["store"])
    for table in RESULT_TABLES:
        assert got[table] == embedded["tables"][table], f"{table} differs between DuckLake and the embedded file"
    assert got["dq_findings"], "the scenario found something to compare"
    assert got["kpi_weekly"] and got["legal_holds"]
    ledger = rows(on_lake["home"], ("retention_ledger",), drop=LEDGER_CLOCK, store=on_lake["store"])
    assert ledger["retention_ledger"] == embedded["ledger"]
    actions = {row[3] for row in embedded["ledger"]}
    assert {"purged", "held"} <= actions, actions
    assert vault_contents(on_lake["home"], on_lake["store"]) == embedded["vault"]
    assert on_lake["files"] == embedded["files"]  # the proof opened before the purge: the same bytes
    shared = Path(on_lake["store"]["LASTMILE_DUCKLAKE_DATA_PATH"]) / "reports"
    for report in (f"kpi-{WEEK}.html", f"messaging-{WEEK}.html"):
        assert (shared / report).is_file(), report
    assert list((shared / "retention").glob("*.html")), "the retention report"


def test_the_certificate_and_the_audit_trail_verify_on_the_lake(on_lake: dict[str, Any]) -> None:
    home, store = on_lake["home"], on_lake["store"]
    certificate = next((Path(store["LASTMILE_DUCKLAKE_DATA_PATH"]) / "reports" / "retention").glob("*.json"))
    done = lastmile(home, "retention", "verify", str(certificate), store=store)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Certificate verified" in done.stdout
    verify = lastmile(home, "audit", "verify", store=store)
    assert verify.returncode == 0, verify.stderr[-2000:]
    audit_ok(home, store)


def test_any_duckdb_client_reads_the_contract_tables(on_lake: dict[str, Any]) -> None:
    """The issue's promise: ATTACH the catalog, USE it, and query the tables by their contract names."""
    import duckdb

    from lastmile.warehouse import extension_directory

    store = on_lake["store"]
    conn = duckdb.connect(
        config={"extension_directory": str(extension_directory()), "autoinstall_known_extensions": False}
    )
    try:
        conn.execute("LOAD ducklake")
        conn.execute("LOAD postgres")
        catalog = store["LASTMILE_DUCKLAKE_CATALOG"].replace("'", "''")
        conn.execute(f"ATTACH 'ducklake:postgres:{catalog}' AS lake (READ_ONLY)")
        conn.execute("USE lake")
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone() for t in ("orders", "events", "dq_findings")}
    finally:
        conn.close()
    assert all(c is not None and c[0] > 0 for c in counts.values())


# -- a killed worker, and several at once ------------------------------------------------------------------

KILL_POINTS = ("ingest.after_file:5", "publish.before_commit:2", "publish.after_commit:1")


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_killed_lake_ingest_is_completed_by_the_next(
    landing: Path, embedded: dict[str, Any], ducklake_env: dict[str, str], tmp_path: Path, point: str
) -> None:
    home = home_like(tmp_path / "home", embedded["home"])
    killed = lastmile(home, "ingest", str(landing), crash=point, store=ducklake_env)
    assert killed.returncode == CRASH_EXIT, killed.stderr[-2000:]
    rerun = lastmile(home, "ingest", str(landing), store=ducklake_env)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    got = rows(home, INGEST_TABLES, store=ducklake_env)
    for table in INGEST_TABLES:
        assert got[table] == embedded["tables"][table], f"{table} differs from a clean run's after {point}"
    audit_ok(home, ducklake_env)


WORKER = """
import sys
import dagster as dg
from pipelines.definitions import defs as load
from pipelines.defs.ingest.partitions import range_tags
mode, arg = sys.argv[1], sys.argv[2]
defs = load()
with dg.DagsterInstance.ephemeral() as instance:
    if mode == "intake":
        config = {"ops": {"landing_intake": {"config": {"landing": arg}}}}
        defs.resolve_job_def("ingest_job").execute_in_process(instance=instance, run_config=config)
    else:
        tags = range_tags(dg.PartitionKeyRange(arg, arg))
        defs.resolve_job_def("publish_job").execute_in_process(instance=instance, tags=tags)
        checks = defs.resolve_job_def("quality_partition_job")
        checks.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
"""


def worker(home: Path, store: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, *args], cwd=REPO, env=env(home, None, store),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_four_workers_publish_and_check_different_days_at_once(
    tmp_path: Path, ducklake_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    landing = tmp_path / "landing"
    generate(landing, days=4, orders_per_day=16, seed=5)
    home = tmp_path / "home"
    intake = worker(home, ducklake_env, "intake", str(landing))
    _, err = intake.communicate(timeout=900)
    assert intake.returncode == 0, err[-3000:]
    days = ["2026-10-05", "2026-10-06", "2026-10-07", "2026-10-08"]
    procs = [worker(home, ducklake_env, "day", day) for day in days]
    for proc in procs:
        _, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err[-3000:]
    conn = open_home(home, ducklake_env)
    try:
        one = conn.execute
        for table, key in (("events", "event_id"), ("proofs", "proof_id"), ("messages", "message_id")):
            published = one(
                f"SELECT count(*), count(DISTINCT {key}) FROM {table} WHERE partition_date BETWEEN ? AND ?",
                [days[0], days[-1]],
            ).fetchone()
            intake_rows = one(
                f"SELECT count(*) FROM intake_{table} WHERE partition_date BETWEEN ? AND ?", [days[0], days[-1]]
            ).fetchone()
            assert published is not None and intake_rows is not None
            assert published[0] == published[1] == intake_rows[0] > 0, table
        partitions = one(
            "SELECT table_name, partition_date, count(*) FROM published_partitions"
            " WHERE partition_date BETWEEN ? AND ? GROUP BY ALL ORDER BY ALL",
            [days[0], days[-1]],
        ).fetchall()
        assert len(partitions) == 4 * 4 and all(n == 1 for *_, n in partitions)
        recorded = one(
            "SELECT p.table_name, p.partition_date, p.row_count FROM published_partitions AS p"
            " WHERE p.table_name = 'events' AND p.partition_date BETWEEN ? AND ? ORDER BY ALL",
            [days[0], days[-1]],
        ).fetchall()
        for _, day, count in recorded:
            actual = one("SELECT count(*) FROM events WHERE partition_date = ?", [day]).fetchone()
            assert actual is not None and actual[0] == count
        accounted = one(
            "SELECT sum(rows_read), sum(rows_loaded + rows_duplicate + rows_revised + rows_quarantined)"
            " FROM ingest_files WHERE entity <> 'partners'"
        ).fetchone()
        assert accounted is not None and accounted[0] == accounted[1]
        history = one(
            "SELECT partition_date, count(*), count(DISTINCT check_id) FROM dq_check_runs GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    finally:
        conn.close()
    assert [str(d) for d, *_ in history] == days
    assert all(n == distinct > 0 for _, n, distinct in history)
    audit_ok(home, ducklake_env)


def test_two_ingests_of_one_landing_at_once_read_each_file_once(
    landing: Path, embedded: dict[str, Any], ducklake_env: dict[str, str], tmp_path: Path
) -> None:
    """Two workers (two homes sharing the keys, the audit signing key and the DuckLake) start an ingest of
    the same landing folder on an empty catalog at the same moment: the warehouse ends as one clean
    ingest's (no file read twice, no row loaded twice, quarantine exact) and the audit trail verifies."""
    import shutil

    homes = [home_like(tmp_path / name, embedded["home"]) for name in ("one", "two")]
    for home in homes:
        shutil.copytree(Home(embedded["home"]).audit_dir, Home(home).audit_dir)
    procs = [
        subprocess.Popen(
            command(home, "ingest", str(landing)), cwd=REPO, env=env(home, None, ducklake_env),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for home in homes
    ]  # fmt: skip
    for proc in procs:
        _, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err[-2000:]
    got = rows(homes[0], INGEST_TABLES, store=ducklake_env)
    for table in INGEST_TABLES:
        assert got[table] == embedded["tables"][table], f"{table} differs from one clean ingest's"
    audit_ok(homes[0], ducklake_env)
