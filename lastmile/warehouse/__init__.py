"""The one module that opens the warehouse. Everything else asks it for a connection.

Keeping every connection behind this module is what lets the store change in one place. Two stores are
supported, chosen by the `warehouse` setting:

- `duckdb` (the default): one embedded DuckDB file, `LASTMILE_HOME/warehouse.duckdb`, one writer at a time.
- `ducklake`: a DuckLake catalog in PostgreSQL (`ducklake_catalog`, a libpq connection string) with its
  Parquet files under `ducklake_data_path`, attached as `lake` and made the default catalog, so every SQL
  file runs unchanged. The extensions load from the duckdb-ext-* wheels installed beside duckdb; nothing is
  downloaded at run time.

Every difference between the two lives here: how a connection is opened, how a schema file is applied,
and the PostgreSQL advisory locks that serialise what must not interleave across processes (the audit
trail's appends, one landing folder's intake). Neither store enforces the PRIMARY KEY and UNIQUE
declarations of the schema files (`keyless`): DuckLake has no such constraints, and on the embedded file
maintaining their indexes at every commit was the largest single cost of an ingest (a million event ids,
as many vault artifact ids); the code never relied on them (writes are first-wins by classification,
MERGE, guarded inserts or delete-then-insert). They stay in the schema files as the tables' logical keys.
A warehouse file created before keeps its keys, which changes nothing but speed.
"""

import contextlib
import hashlib
import importlib.util
import random
import re
import site
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from lastmile.errors import LastmileError

if TYPE_CHECKING:
    from lastmile.settings import Home, Settings

LAKE_ALIAS = "lake"
SCHEMA_LOCK = "lastmile.schema"
EXTENSIONS = ("ducklake", "postgres")


@dataclass(frozen=True)
class Lake:
    """A DuckLake warehouse: the PostgreSQL catalog (libpq connection string) and the data path."""

    catalog: str
    data_path: str


Target = Path | str | Lake


def warehouse_target(home: "Home", settings: "Settings") -> Target:
    """Where `home`'s warehouse lives according to its settings: the embedded file, or a DuckLake."""
    if settings.warehouse == "ducklake":
        return Lake(settings.ducklake_catalog, str(lake_data_path(home, settings)))
    return home.warehouse


def lake_data_path(home: "Home", settings: "Settings") -> str | Path:
    """The DuckLake data path: the setting (a folder, relative to LASTMILE_HOME, or an s3:// style URL),
    else LASTMILE_HOME/lake."""
    raw = settings.ducklake_data_path
    if not raw:
        return home.root / "lake"
    if "://" in raw:
        return raw
    path = Path(raw).expanduser()
    return path if path.is_absolute() else home.root / path


def open_warehouse(home: "Home", settings: "Settings", *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """The warehouse of `home` as its settings say, with the session time zone of the network."""
    return connect(warehouse_target(home, settings), settings.network_timezone, read_only=read_only)


@cache
def sql_text(package: str, name: str) -> str:
    """The text of a `.sql` file shipped beside the code of `package`."""
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


LOCK_RETRIES = 10  # a warehouse locked by another process is tried again this many times,
LOCK_WAIT_S = 0.2  # this far apart
PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def statements(text: str) -> list[str]:
    """Split a .sql file into statements (on a ';' that ends a line; our files keep to that)."""
    parts = re.split(r";[ \t]*(?:--[^\n]*)?\n", text + "\n")
    return [
        p.strip()
        for p in parts
        if p.strip() and not all(line.strip().startswith("--") or not line.strip() for line in p.splitlines())
    ]


def run_sql(
    conn: duckdb.DuckDBPyConnection, package: str, name: str, params: Mapping[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """Run every statement of a shipped .sql file, each with the named parameters it uses.

    Values are always bound as DuckDB parameters (`$name`), never formatted into the SQL text.
    Returns the connection after the last statement, so a final SELECT can be fetched.
    """
    params = params or {}
    for stmt in statements(sql_text(package, name)):
        used = {k: params[k] for k in dict.fromkeys(PARAM.findall(stmt))}
        conn.execute(stmt, used or None)
    return conn


def apply_schema(conn: duckdb.DuckDBPyConnection) -> None:
    apply_schema_file(conn, "lastmile.warehouse", "schema.sql")


_TABLE_KEY = re.compile(r",\s*(?:PRIMARY KEY|UNIQUE)\s*\([^)]*\)")
_COLUMN_KEY = re.compile(r"\bPRIMARY KEY\b")


def keyless(stmt: str) -> str:
    """A schema statement as both stores take it: no PRIMARY KEY or UNIQUE (a key column stays NOT NULL).
    Nothing relies on them for correctness: writes are delete-then-insert, MERGE, or guarded inserts."""
    return _COLUMN_KEY.sub("NOT NULL", _TABLE_KEY.sub("", stmt))


def apply_schema_file(conn: duckdb.DuckDBPyConnection, package: str, name: str) -> None:
    """Apply a shipped schema file (idempotent statements), its keys dropped (`keyless`)."""
    if not is_lake(conn):
        for stmt in statements(sql_text(package, name)):
            conn.execute(keyless(stmt))
        return
    # Two DuckLake workers creating the same table at once conflict at commit (and DuckLake 0.3 then fails
    # to parse the other's change): schema statements take turns, each committed before the next worker
    # looks, so `IF NOT EXISTS` sees the other's table.
    with exclusive(conn, SCHEMA_LOCK):
        for stmt in statements(sql_text(package, name)):
            conn.execute(keyless(stmt))


def connect(target: Target, network_timezone: str = "UTC", *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse with the session time zone set to the network's (naive times read in it).

    `target` is an embedded DuckDB file (a path, or ":memory:") or a `Lake`."""
    if isinstance(target, Lake):
        conn = _connect_lake(target, read_only=read_only)
    else:
        conn = _connect_file(target, read_only=read_only)
    conn.execute("SET TimeZone = ?", [network_timezone])
    # Batch writes commit once per landing file; checkpointing the WAL into the file every 16 MB (DuckDB's
    # default) made commits the largest single cost of an ingest. Callers checkpoint at the end of a job.
    conn.execute("SET checkpoint_threshold = '256MB'")
    if not read_only:
        apply_schema(conn)
        if isinstance(target, Lake):
            create_every_table(conn)
    return conn


def session_cursor(conn: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A cursor of `conn` (for another thread) in the same session time zone: a DuckDB cursor starts in the
    process's default zone, not its connection's, and would date TIMESTAMPTZ values differently."""
    cursor = conn.cursor()
    zone = conn.execute("SELECT current_setting('TimeZone')").fetchone()[0]  # type: ignore[index]
    cursor.execute("SET TimeZone = ?", [zone])
    return cursor


# Every schema file of the product. On DuckLake they are all applied when a writer connects, so that no table
# is ever created while another worker commits: DuckLake 0.3 refuses a commit that races a concurrent CREATE
# TABLE (it fails to parse the other's change record). On the embedded file each domain applies its own when
# it first needs it, as before.
SCHEMA_FILES = (
    ("lastmile.warehouse", "schema.sql"),
    ("lastmile.vault", "schema.sql"),
    ("lastmile.audit", "sql/schema.sql"),
    ("quality_checks", "schema.sql"),
    ("retention", "sql/schema.sql"),
    ("reports", "sql/kpi_schema.sql"),
)


def _schema_text(package: str, name: str) -> str:
    """A schema file's text, found without importing its (domain) package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise LastmileError(f"schema of {package} not found")
    return (Path(next(iter(spec.submodule_search_locations))) / name).read_text(encoding="utf-8")


def create_every_table(conn: duckdb.DuckDBPyConnection) -> None:
    """Apply every schema file (DuckLake), one writer at a time."""
    with exclusive(conn, SCHEMA_LOCK):
        for package, name in SCHEMA_FILES:
            for stmt in statements(_schema_text(package, name)):
                conn.execute(keyless(stmt))


def _connect_file(path: Path | str, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(LOCK_RETRIES + 1):
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            first = str(exc).splitlines()[0]
            # Another process holding the file only briefly (the Dagster sensor reading which partitions are
            # unpublished) is waited for a moment; a lasting holder is one clear error.
            if "lock" not in first.lower() or attempt == LOCK_RETRIES:
                raise LastmileError(f"cannot open warehouse {path}: {first}") from None
            time.sleep(LOCK_WAIT_S)
    raise AssertionError("unreachable")


def extension_directory() -> Path | None:
    """Where the duckdb-ext-* wheels put their extension files (site-packages/duckdb_ext/extensions)."""
    for root in [*site.getsitepackages(), site.getusersitepackages()]:
        candidate = Path(root) / "duckdb_ext" / "extensions"
        if candidate.is_dir():
            return candidate
    return None


def _literal(value: str) -> str:
    """A SQL string literal. Only ATTACH needs one: DuckDB binds no parameters in ATTACH, so the catalog
    string and the data path are quoted here (quotes doubled, NUL refused), never formatted raw."""
    if "\0" in value:
        raise LastmileError("a DuckLake catalog string or data path cannot contain a NUL character")
    return "'" + value.replace("'", "''") + "'"


def _connect_lake(lake: Lake, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    if not lake.catalog.strip():
        raise LastmileError("warehouse is ducklake but ducklake_catalog is empty (a libpq connection string)")
    ext_dir = extension_directory()
    if ext_dir is None:
        raise LastmileError("the DuckLake extensions are not installed (pip install the duckdb-ext-* wheels)")
    conn = duckdb.connect(
        ":memory:",
        config={
            "extension_directory": str(ext_dir),
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        },
    )
    try:
        for name in EXTENSIONS + (("httpfs",) if "://" in lake.data_path else ()):
            conn.execute(f"LOAD {name}")
        if "://" not in lake.data_path and not read_only:
            Path(lake.data_path).mkdir(parents=True, exist_ok=True)
        options = [f"DATA_PATH {_literal(lake.data_path)}"] + (["READ_ONLY"] if read_only else [])
        attach = f"ATTACH {_literal('ducklake:postgres:' + lake.catalog)} AS {LAKE_ALIAS} ({', '.join(options)})"
        for attempt in range(LOCK_RETRIES + 1):
            try:
                conn.execute(attach)
                break
            except duckdb.Error as exc:
                # Two workers attaching an empty catalog at once both create DuckLake's metadata tables; the
                # loser's PostgreSQL refuses a duplicate. Attaching again finds the winner's tables.
                text = str(exc)
                if ("duplicate key" not in text and "already exists" not in text) or attempt == LOCK_RETRIES:
                    raise
                time.sleep(LOCK_WAIT_S * (1 + random.random()))
        conn.execute(f"USE {LAKE_ALIAS}")
    except duckdb.Error as exc:
        conn.close()
        first = str(exc).splitlines()[0]
        raise LastmileError(f"cannot open the DuckLake warehouse (catalog {lake.catalog!r}): {first}") from None
    return conn


def is_lake(conn: duckdb.DuckDBPyConnection) -> bool:
    """Whether this connection's default catalog is a DuckLake."""
    row = conn.execute("SELECT type FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    return row is not None and row[0] == "ducklake"


def _lake_catalog(conn: duckdb.DuckDBPyConnection) -> str:
    row = conn.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    assert row is not None
    return str(row[0]).removeprefix("postgres:")


# -- transactions --------------------------------------------------------------------------------------

_OPEN: set[int] = set()  # connections inside a transaction begun through begin()
_LOCKS: dict[int, tuple[Any, set[str]]] = {}  # connection -> the PostgreSQL session holding its advisory locks


def begin(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("BEGIN TRANSACTION")
    _OPEN.add(id(conn))


def commit(conn: duckdb.DuckDBPyConnection) -> None:
    try:
        conn.execute("COMMIT")
    finally:
        _OPEN.discard(id(conn))
        release_locks(conn)


def rollback(conn: duckdb.DuckDBPyConnection) -> None:
    try:
        conn.execute("ROLLBACK")
    finally:
        _OPEN.discard(id(conn))
        release_locks(conn)


def in_transaction(conn: duckdb.DuckDBPyConnection) -> bool:
    """Whether a transaction is open on `conn`. One begun through begin() is known; on the embedded file
    one begun otherwise is found by its transaction id (in autocommit mode two statements have two ids;
    a failed BEGIN would abort the caller's transaction, so it cannot be the probe)."""
    if id(conn) in _OPEN:
        return True
    if is_lake(conn):
        return False
    first, second = (conn.execute("SELECT txid_current()").fetchone() for _ in range(2))
    return first == second


def hold_lock(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    """On DuckLake, take the PostgreSQL advisory lock `name` for this connection (waiting for another
    process that holds it) until release_locks(): commit() and rollback() release it. Returns whether it
    was newly taken. On the embedded file there is one writer already; nothing to take."""
    if not is_lake(conn):
        return False
    held = _LOCKS.get(id(conn))
    if held is not None and name in held[1]:
        return False
    if held is None:
        held = _LOCKS[id(conn)] = (_pg_lock_session(conn, name), {name})
        return True
    with held[0].cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", [_lock_key(name)])
    held[1].add(name)
    return True


def _pg_lock_session(conn: duckdb.DuckDBPyConnection, name: str) -> Any:
    """A new PostgreSQL session on the catalog holding the advisory lock `name` (waits for it)."""
    import psycopg2  # only DuckLake needs it

    try:
        pg = psycopg2.connect(_lake_catalog(conn))
    except psycopg2.Error as exc:
        raise LastmileError(f"cannot reach the DuckLake catalog for a lock: {str(exc).splitlines()[0]}") from None
    pg.autocommit = True
    with pg.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", [_lock_key(name)])
    return pg


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def exclusive(conn: duckdb.DuckDBPyConnection, name: str) -> Iterator[None]:
    """Run a block while no other process runs a block of the same `name` (on DuckLake, a PostgreSQL
    advisory lock in a session of its own, across transactions; on the embedded file there is one writer
    process already). Used so that two workers reading one landing folder read each file once."""
    if not is_lake(conn):
        yield
        return
    pg = _pg_lock_session(conn, name)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            pg.close()


def checkpoint(conn: duckdb.DuckDBPyConnection) -> None:
    """Fold written data into its store: the WAL into the embedded file; on DuckLake, DuckLake's own
    CHECKPOINT (flush inlined data, merge small files). On DuckLake it is maintenance only: when another
    worker's commit wins the race, it is left for the next job's checkpoint."""
    try:
        conn.execute("CHECKPOINT")
    except duckdb.TransactionException as exc:
        if not (is_lake(conn) and lost_race(exc)):
            raise
        with contextlib.suppress(duckdb.Error):
            conn.execute("ROLLBACK")


def release_locks(conn: duckdb.DuckDBPyConnection) -> None:
    held = _LOCKS.pop(id(conn), None)
    if held is not None:
        with contextlib.suppress(Exception):
            held[0].close()  # a session's advisory locks end with it


CONFLICT_RETRIES = 12  # a DuckLake commit that lost a race is run again this many times at most


def lost_race(error: duckdb.Error) -> bool:
    """Whether a DuckLake commit failed only because another process committed first: a conflict, or
    (DuckLake 0.3) its failure to parse the other's change record of a table created meanwhile. Either way
    the same work on the newer snapshot succeeds."""
    text = str(error).lower()
    return "conflict" in text or "failed to parse catalog entry" in text


class Unit:
    """One attempt at a unit of work in one transaction (see `committed`)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, *, last: bool) -> None:
        self.conn, self.last, self.done = conn, last, False

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        begin(self.conn)
        return self.conn

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        if kind is not None:
            rollback(self.conn)
            return
        try:
            commit(self.conn)
        except duckdb.TransactionException as error:
            if self.last or not lost_race(error):
                raise
            with contextlib.suppress(duckdb.Error):
                self.conn.execute("ROLLBACK")
            return
        self.done = True


def committed(conn: duckdb.DuckDBPyConnection) -> Iterator[Unit]:
    """A unit of work that commits whole, run again if its commit loses a race:

        for unit in committed(conn):
            with unit:
                ...  # the work, in one transaction

    On DuckLake two processes that delete from the same Parquet file (publishing two days of one table,
    say) conflict at commit, and the later one is rolled back: its work is simply done again on the new
    snapshot, after a short random pause. On the embedded file (one writer) the first attempt is the only.
    """
    for attempt in range(CONFLICT_RETRIES + 1):
        unit = Unit(conn, last=attempt == CONFLICT_RETRIES)
        yield unit
        if unit.done:
            return
        time.sleep(random.uniform(0.01, 0.05 * 2 ** min(attempt, 5)))


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run a block in one transaction: committed on success, rolled back on any error."""
    begin(conn)
    try:
        yield conn
    except BaseException:
        rollback(conn)
        raise
    commit(conn)
