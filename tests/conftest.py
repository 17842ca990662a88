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
