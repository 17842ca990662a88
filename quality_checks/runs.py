"""Which runs of checks finished: `dq_runs` (one row per run; see schema.sql).

Each check records its findings and its `dq_check_runs` history in one transaction (runner.py); a run is
several checks, so a run killed part-way leaves the history of some. `run_started` is called before each
check writes (so no history row exists without its run's row), `check_done` after its commit; the run is
finished once every check it asked for is done. History of a run that never finished is partial and is
not counted (`FINISHED_RUNS_ONLY` in a query's WHERE clause).
"""

import datetime as dt
from collections.abc import Iterable

import duckdb

from lastmile.warehouse import run_sql
from quality_checks.runner import PKG, ensure_schema

# A condition on dq_check_runs rows (alias-free): the row's run finished, or predates the ledger (every run
# since has its dq_runs row before it writes a history row).
FINISHED_RUNS_ONLY = "run_id NOT IN (SELECT run_id FROM dq_runs WHERE finished_at IS NULL)"


def run_started(conn: duckdb.DuckDBPyConnection, run_id: str, expected: Iterable[str], *, now: dt.datetime) -> None:
    """Record run `run_id` (asking for the checks `expected`) as started, unless it already is. Called before
    each check writes anything, so no history row exists without its run's row."""
    ensure_schema(conn)
    run_sql(conn, PKG, "sql/run_started.sql", {"run_id": run_id, "expected": sorted(set(expected)), "now": now})


def check_done(
    conn: duckdb.DuckDBPyConnection, run_id: str, check_id: str, expected: Iterable[str], *, now: dt.datetime
) -> bool:
    """Record that `check_id` of run `run_id` (which asked for `expected`) has committed; True once the
    run is finished."""
    run_started(conn, run_id, set(expected) | {check_id}, now=now)
    run_sql(conn, PKG, "sql/run_check_done.sql", {"run_id": run_id, "check_id": check_id, "now": now})
    row = conn.execute("SELECT finished_at FROM dq_runs WHERE run_id = ?", [run_id]).fetchone()
    return row is not None and row[0] is not None
