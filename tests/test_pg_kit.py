"""The test PostgreSQL server and DuckLake on it: reachable, offline, and safe for concurrent writers."""

import contextlib
import multiprocessing
import stat
from pathlib import Path

import duckdb
import pytest

from tests import pg_kit


def test_the_server_answers_on_its_socket_and_its_loopback_port(postgres_server: pg_kit.PgServer) -> None:
    import psycopg2

    for dsn in (postgres_server.dsn(), postgres_server.tcp_dsn()):
        with contextlib.closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
            cur.execute("SELECT current_setting('server_version_num')::int, current_setting('fsync')")
            version, fsync = cur.fetchone()
            assert version >= 150000
            assert fsync == "off"
    assert any(postgres_server.socket_dir.glob(".s.PGSQL.*")), "the Unix socket lives in the server's own folder"


def test_each_test_gets_a_fresh_empty_catalog_database(
    postgres_server: pg_kit.PgServer, ducklake_catalog: str, ducklake_env: dict[str, str], tmp_path: Path
) -> None:
    import psycopg2

    with contextlib.closing(psycopg2.connect(ducklake_catalog)) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_database(), count(*) FROM information_schema.tables WHERE table_schema = 'public'")
        name, tables = cur.fetchone()
    assert tables == 0
    assert f"dbname={name} " in ducklake_catalog + " "
    assert ducklake_env == {
        "LASTMILE_WAREHOUSE": "ducklake",
        "LASTMILE_DUCKLAKE_CATALOG": ducklake_catalog,
        "LASTMILE_DUCKLAKE_DATA_PATH": str(tmp_path / "lake"),
    }


def test_ducklake_on_the_server_round_trips_between_connections_with_no_download(
    ducklake_catalog: str, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    writer = pg_kit.open_ducklake(ducklake_catalog, lake)
    # Any extension not loaded from the wheels would have to come from this repository: it does not exist.
    writer.execute("SET custom_extension_repository = 'http://127.0.0.1:9/no-downloads'")
    writer.execute("CREATE TABLE parcels (id BIGINT, status VARCHAR)")
    writer.execute("INSERT INTO parcels SELECT range, 'delivered' FROM range(1000)")
    writer.execute("INSERT INTO parcels VALUES (1000, 'failed')")

    reader = pg_kit.open_ducklake(ducklake_catalog, lake)
    assert reader.execute("SELECT count(*), count_if(status = 'failed'), max(id) FROM parcels").fetchone() == (
        1001,
        1,
        1000,
    )
    assert sorted(p.suffix for p in lake.rglob("*") if p.is_file()) == [".parquet", ".parquet"]

    for conn in (writer, reader):
        settings = dict(
            conn.execute(
                "SELECT name, value FROM duckdb_settings() "
                "WHERE name IN ('autoinstall_known_extensions', 'autoload_known_extensions')"
            ).fetchall()
        )
        assert settings == {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
        loaded = conn.execute(
            "SELECT extension_name, install_path FROM duckdb_extensions() "
            "WHERE loaded AND install_mode <> 'STATICALLY_LINKED'"
        ).fetchall()
        assert {name for name, _ in loaded} == {"ducklake", "postgres_scanner"}
        for name, path in loaded:
            assert Path(path) == pg_kit.extension_file(name), f"{name} was loaded from {path}, not the wheel"
        assert not (tmp_path / ".duckdb").exists()
    writer.close()
    reader.close()


def test_an_extension_that_is_not_loaded_fails_instead_of_downloading(ducklake_catalog: str, tmp_path: Path) -> None:
    conn = pg_kit.open_ducklake(ducklake_catalog, tmp_path / "lake")
    conn.execute("SET custom_extension_repository = 'http://127.0.0.1:9/no-downloads'")
    with pytest.raises(duckdb.Error) as failed:
        conn.execute("SELECT * FROM read_csv('s3://bucket/file.csv')").fetchall()  # needs httpfs: not loaded
    assert "127.0.0.1:9" not in str(failed.value)  # no attempt to fetch it
    conn.close()


def test_four_processes_commit_into_one_ducklake_table_at_once(ducklake_catalog: str, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    setup = pg_kit.open_ducklake(ducklake_catalog, lake)
    setup.execute("CREATE TABLE hits (id BIGINT, worker VARCHAR)")
    setup.close()
    per_worker = 25_000
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)  # every worker has inserted before any commits: the commits race
    workers = [
        ctx.Process(
            target=pg_kit.insert_worker, args=(ducklake_catalog, str(lake), "hits", w * per_worker, per_worker, barrier)
        )
        for w in range(4)
    ]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            worker.join(timeout=180)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
                worker.join()
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    check = pg_kit.open_ducklake(ducklake_catalog, lake)
    assert check.execute(
        "SELECT count(*), count(DISTINCT id), min(id), max(id), count(DISTINCT worker) FROM hits"
    ).fetchone() == (
        4 * per_worker,
        4 * per_worker,
        0,
        4 * per_worker - 1,
        4,
    )
    snapshots = check.execute(
        "SELECT count(*) FROM ducklake_snapshots('lake') WHERE changes::VARCHAR LIKE '%inserted%'"
    ).fetchone()
    assert snapshots is not None and snapshots[0] == 4, "each worker's insert is its own committed snapshot"
    check.close()


def test_missing_server_binaries_are_one_line_naming_make_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_kit, "PG_ROOT", tmp_path / "no-postgresql")
    with pytest.raises(pg_kit.PostgresMissing) as missing:
        pg_kit.start_server(tmp_path / "pg")
    assert "\n" not in str(missing.value)
    assert "`make test` installs postgresql" in str(missing.value)


def test_grant_traverse_opens_search_only_and_only_up_to_the_given_folder(tmp_path: Path) -> None:
    top = tmp_path / "top"
    inner = top / "a" / "b"
    inner.mkdir(parents=True)
    for path in (tmp_path, top, top / "a", inner):
        path.chmod(0o700)
    pg_kit.grant_traverse(inner, top)
    assert [stat.S_IMODE(p.stat().st_mode) for p in (inner, top / "a", top)] == [0o701, 0o701, 0o701]
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700, "nothing above the given folder is changed"
    with pytest.raises(ValueError):
        pg_kit.grant_traverse(top, inner)


def test_a_cluster_inside_a_folder_only_root_may_enter_still_starts(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A TMPDIR made by `mktemp -d` is 0700: as root the cluster's user cannot search it, and the folders
    above pytest's tree are never opened up, so the server runs with the one capability to search them."""
    import psycopg2

    locked = tmp_path_factory.mktemp("l")  # a short path: the server's socket path has a length limit
    top = locked / "t"
    top.mkdir(parents=True)
    locked.chmod(0o700)
    runner = pg_kit._runner(top)
    if pg_kit._as_root():
        assert Path(runner[0]).name == "setpriv" and "--ambient-caps=+dac_read_search" in runner
    else:
        assert runner == []
    with (
        pg_kit.running_server(top / "p", traverse_upto=top) as server,
        contextlib.closing(psycopg2.connect(server.dsn())) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
    assert stat.S_IMODE(locked.stat().st_mode) == 0o700, "the folder above the cluster's tree is left as it was"
