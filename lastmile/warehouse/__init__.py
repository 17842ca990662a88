"""The one module that opens the warehouse. Everything else asks it for a connection.

Keeping every connection behind this module is what lets the store change in one place (a DuckLake
catalog instead of one file, say) without the domain code assuming one process or one file.
"""

import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

from lastmile.errors import LastmileError


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
    for stmt in statements(sql_text("lastmile.warehouse", "schema.sql")):
        conn.execute(stmt)


def connect(path: Path | str, network_timezone: str = "UTC", *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse with the session time zone set to the network's (naive times read in it)."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(LOCK_RETRIES + 1):
        try:
            conn = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            first = str(exc).splitlines()[0]
            # Another process holding the file only briefly (the Dagster sensor reading which partitions are
            # unpublished) is waited for a moment; a lasting holder is one clear error.
            if "lock" not in first.lower() or attempt == LOCK_RETRIES:
                raise LastmileError(f"cannot open warehouse {path}: {first}") from None
            time.sleep(LOCK_WAIT_S)
    conn.execute("SET TimeZone = ?", [network_timezone])
    # Batch writes commit once per landing file; checkpointing the WAL into the file every 16 MB (DuckDB's
    # default) made commits the largest single cost of an ingest. Callers checkpoint at the end of a job.
    conn.execute("SET checkpoint_threshold = '256MB'")
    if not read_only:
        apply_schema(conn)
    return conn


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run a block in one transaction: committed on success, rolled back on any error."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
