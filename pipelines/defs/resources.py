"""The project's one resource: LASTMILE_HOME opened for a run (settings, warehouse, vault).

Nothing here reads the environment or opens anything at import time: the home is resolved and the
warehouse opened in `setup_for_execution`, and closed again in `teardown_after_execution`.
"""

import datetime as dt
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from pydantic import Field, PrivateAttr

from lastmile.settings import Home, Settings, load_settings

Progress = Callable[[str, int, int], None]  # (label, done, total)

# The `lastmile` command runs jobs in-process and shows a progress display; assets report to it
# through this hook. Unset (None) when Dagster runs the job itself.
_PROGRESS: ContextVar[Progress | None] = ContextVar("lastmile_progress", default=None)


@contextmanager
def reporting_progress(callback: Progress) -> Iterator[None]:
    """Within this block, in-process runs report long steps to `callback`."""
    token = _PROGRESS.set(callback)
    try:
        yield
    finally:
        _PROGRESS.reset(token)


def resolve_home(explicit: str | None = None) -> Home:
    """LASTMILE_HOME: `explicit` if given, else the environment variable, else ./lastmile-home."""
    return Home.resolve(explicit or None)


def home_settings(home: Home) -> Settings:
    """The settings of `home` (its settings file, written with the defaults on first use, plus overrides)."""
    return load_settings(home.root)


def landing_dir(home: Home, settings: Settings) -> Path:
    """The landing folder the sensor watches: setting landing_dir (relative to the home), or home/landing."""
    if not settings.landing_dir:
        return home.root / "landing"
    path = Path(settings.landing_dir).expanduser()
    return path if path.is_absolute() else home.root / path


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LastmileResource(dg.ConfigurableResource):
    """LASTMILE_HOME opened for one run: its settings, the warehouse connection and the vault."""

    home: str = Field(
        default="",
        description="LASTMILE_HOME folder; empty means the LASTMILE_HOME environment variable, else ./lastmile-home.",
    )

    _home: Home | None = PrivateAttr(default=None)
    _settings: Settings | None = PrivateAttr(default=None)
    _conn: duckdb.DuckDBPyConnection | None = PrivateAttr(default=None)
    _vault: Any = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        from lastmile.warehouse import open_warehouse

        home = resolve_home(self.home)
        settings = home_settings(home)
        home.ensure()
        conn = open_warehouse(home, settings)
        try:
            vault = self._open_vault(home, conn)
        except BaseException:
            conn.close()
            raise
        self._home, self._settings, self._conn, self._vault = home, settings, conn, vault

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self._vault = None

    @staticmethod
    def _open_vault(home: Home, conn: duckdb.DuckDBPyConnection) -> Any:
        from lastmile.vault import Vault
        from lastmile.vault.keyring import open_keyring

        keys = open_keyring(home.keys_dir, environ=os.environ)
        return Vault(conn, home.vault_dir, keys)

    @property
    def paths(self) -> Home:
        if self._home is None:
            raise RuntimeError("LastmileResource used outside a run")
        return self._home

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            raise RuntimeError("LastmileResource used outside a run")
        return self._settings

    @property
    def conn(self) -> duckdb.DuckDBPyConnection:
        if self._conn is None:
            raise RuntimeError("LastmileResource used outside a run")
        return self._conn

    @property
    def vault(self) -> Any:
        return self._vault

    @property
    def landing(self) -> Path:
        return landing_dir(self.paths, self.settings)

    @property
    def progress(self) -> Progress | None:
        return _PROGRESS.get()
