"""Which runs of checks finished: `dq_runs` (one row per run; see schema.sql).

Each check records its findings and its `dq_check_runs` history in one transaction (runner.py); a run is
several checks, so a run killed part-way leaves the history of some. `check_done` is called after each
check's commit, and marks the run finished once every check it asked for is done; history of a run that
never finished is partial and is not counted (`finished_runs_only` in a query's WHERE clause).
"""

import datetime as dt
from collections.abc import Iterable

import duckdb

from lastmile.warehouse import run_sql
from quality_checks.runner import PKG, ensure_schema

# A condition on dq_check_runs rows (alias-free): the row's run finished, or predates the ledger.
FINISHED_RUNS_ONLY = "run_id NOT IN (SELECT run_id FROM dq_runs WHERE finished_at IS NULL)"


def check_done(
    conn: duckdb.DuckDBPyConnection, run_id: str, check_id: str, expected: Iterable[str], *, now: dt.datetime
) -> bool:
    """Record that `check_id` of run `run_id` (which asked for `expected`) has committed; True once the
    run is finished."""
    ensure_schema(conn)
    wanted = sorted(set(expected) | {check_id})
    run_sql(conn, PKG, "sql/run_check_done.sql", {"run_id": run_id, "expected": wanted, "check_id": check_id,
                                                  "now": now})  # fmt: skip
    row = conn.execute("SELECT finished_at FROM dq_runs WHERE run_id = ?", [run_id]).fetchone()
    return row is not None and row[0] is not None
