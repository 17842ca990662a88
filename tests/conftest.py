import datetime as dt
import os
from pathlib import Path

import pytest

from lastmile.settings import Home, Settings, load_settings
from lastmile.warehouse import connect

NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's LASTMILE_* variables; each gets its own home."""
    for name in list(os.environ):
        if name.startswith("LASTMILE_") or name == "DAGSTER_HOME":
            monkeypatch.delenv(name)
    monkeypatch.setenv("LASTMILE_HOME", str(tmp_path / "home"))


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home").ensure()


@pytest.fixture
def settings(home: Home) -> Settings:
    return load_settings(home.root, environ={})


@pytest.fixture
def warehouse(home: Home, settings: Settings):  # type: ignore[no-untyped-def]
    conn = connect(home.warehouse, settings.network_timezone)
    yield conn
    conn.close()


@pytest.fixture
def vault(home: Home, warehouse):  # type: ignore[no-untyped-def]
    from lastmile.vault import Vault
    from lastmile.vault.keyring import open_keyring

    return Vault(warehouse, home.vault_dir, open_keyring(home.keys_dir, environ={}))


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway LASTMILE_HOME for the command (it sets both variables itself; monkeypatch restores them)."""
    from tests.cli_kit import use_home

    return use_home(tmp_path / "cli-home", monkeypatch)


# --- A real PostgreSQL for the DuckLake warehouse and the Dagster instance (tests/pg_kit.py) ---------------


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One throwaway PostgreSQL cluster for the session: Unix socket in its folder plus a loopback port.

    Stopped at the session's end, whether the tests passed or not. Missing binaries fail with one line
    naming `make test` (which installs Debian's postgresql), never a skip.
    """
    from tests import pg_kit

    try:
        pg_kit.pg_bin()
    except pg_kit.PostgresMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    # As root the cluster belongs to the postgres user, which must reach it through pytest's 0700 folders:
    # pg_kit.grant_traverse adds search-only permission (o+x) from the cluster folder up to pytest-of-<user>
    # (or the base temp under --basetemp), and to nothing outside pytest's own temporary tree.
    basetemp = tmp_path_factory.getbasetemp()
    with pg_kit.running_server(tmp_path_factory.mktemp("pg"), traverse_upto=pg_kit.traverse_top(basetemp)) as server:
        yield server


@pytest.fixture
def ducklake_catalog(postgres_server, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """A fresh, empty PostgreSQL database for this test's DuckLake catalog; its libpq connection string."""
    import re
    import uuid

    name = ("t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()))[:40] + "_" + uuid.uuid4().hex[:8]
    dsn = postgres_server.create_database(name)
    yield dsn
    postgres_server.drop_database(name)


@pytest.fixture
def ducklake_env(ducklake_catalog: str, tmp_path: Path) -> dict[str, str]:
    """The environment that points the `lastmile` command at this test's DuckLake warehouse."""
    return {
        "LASTMILE_WAREHOUSE": "ducklake",
        "LASTMILE_DUCKLAKE_CATALOG": ducklake_catalog,
        "LASTMILE_DUCKLAKE_DATA_PATH": str(tmp_path / "lake"),
    }
