"""Small helpers of the retention package: its schema and its named queries."""

import re
from functools import cache
from typing import Any

import duckdb

from lastmile.warehouse import apply_schema_file, sql_text

PACKAGE = "retention"


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the retention tables if missing (legal_holds, retention_runs, retention_ledger, ...)."""
    apply_schema_file(conn, PACKAGE, "sql/schema.sql")


@cache
def _queries() -> dict[str, str]:
    parts = re.split(r"^-- name: (\w+)[ \t]*$", sql_text(PACKAGE, "sql/queries.sql"), flags=re.M)
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts), 2)}


_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def q(conn: duckdb.DuckDBPyConnection, name: str, **params: Any) -> duckdb.DuckDBPyConnection:
    """Run one named query of sql/queries.sql with the $named parameters it uses."""
    text = _queries()[name]
    used = {k: params[k] for k in dict.fromkeys(_PARAM.findall(text))}
    return conn.execute(text, used or None)
