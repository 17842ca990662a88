"""The retention plan: every live vault artifact with its clock start, due time and action at as_of."""

import datetime as dt
from dataclasses import dataclass, field

import duckdb

from lastmile.codes import TERMINAL_STATUSES
from lastmile.settings import Settings
from lastmile.warehouse import begin, commit, rollback, run_sql
from retention.policy import Policy
from retention.store import PACKAGE, ensure_schema


@dataclass
class PlanSummary:
    as_of: dt.datetime
    policy_version: str
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # action -> kind -> n
    held: list[tuple[str, str, str | None, str, str, dt.datetime]] = field(default_factory=list)
    overdue: list[tuple[str, str, str | None, dt.datetime]] = field(default_factory=list)
    overdue_total: int = 0

    def total(self, action: str) -> int:
        return sum(self.counts.get(action, {}).values())


def build_plan(conn: duckdb.DuckDBPyConnection, policy: Policy, settings: Settings, as_of: dt.datetime) -> None:
    """(Re)build the temp table `_retention_plan` for as_of (one row per live artifact)."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    ensure_schema(conn)
    run_sql(
        conn,
        PACKAGE,
        "sql/plan.sql",
        {
            **policy.params(),
            "as_of": as_of,
            "no_terminal_days": settings.retention_no_terminal_days,
            "terminal": list(TERMINAL_STATUSES),
        },
    )


def summarize(conn: duckdb.DuckDBPyConnection, policy: Policy, as_of: dt.datetime, *, limit: int = 50) -> PlanSummary:
    """Counts per action and kind, held artifacts with their hold, the most overdue artifacts (from
    `_retention_plan`). Overdue: past retention, not held, still present: what the run will purge."""
    summary = PlanSummary(as_of, policy.version)
    for action, kind, n in conn.execute(
        "SELECT action, artifact_kind, count(*) FROM _retention_plan GROUP BY ALL ORDER BY ALL"
    ).fetchall():
        summary.counts.setdefault(str(action), {})[str(kind)] = int(n)
    summary.held = [
        (str(a), str(k), o, str(h), str(r), d)
        for a, k, o, h, r, d in conn.execute(
            "SELECT p.artifact_id, p.artifact_kind, p.order_id, p.hold_id, p.hold_reason, p.due_at"
            " FROM _retention_plan p WHERE p.action = 'held' ORDER BY p.due_at, p.artifact_id LIMIT ?",
            [limit],
        ).fetchall()
    ]
    summary.overdue = [
        (str(a), str(k), o, d)
        for a, k, o, d in conn.execute(
            "SELECT artifact_id, artifact_kind, order_id, due_at FROM _retention_plan WHERE action = 'purged'"
            " ORDER BY due_at, artifact_id LIMIT ?",
            [limit],
        ).fetchall()
    ]
    summary.overdue_total = summary.total("purged")
    return summary


def save_plan(conn: duckdb.DuckDBPyConnection, policy: Policy, as_of: dt.datetime, now: dt.datetime) -> int:
    """Replace the `retention_plan` table with the current `_retention_plan` (for people to inspect)."""
    begin(conn)
    try:
        conn.execute("DELETE FROM retention_plan")
        conn.execute(
            "INSERT INTO retention_plan SELECT artifact_id, artifact_kind, order_id, action,"
            " CASE action WHEN 'held' THEN 'under legal hold ' || hold_id || ': ' || hold_reason"
            " WHEN 'purged' THEN 'past retention (' || clock_basis || ')' ELSE 'not yet due' END,"
            " clock_start, due_at, hold_id, ?, ?, ? FROM _retention_plan",
            [as_of, policy.version, now],
        )
        (n,) = conn.execute("SELECT count(*) FROM retention_plan").fetchone() or (0,)
        commit(conn)
    except BaseException:
        rollback(conn)
        raise
    return int(n)


def overdue_count(conn: duckdb.DuckDBPyConnection, policy: Policy, settings: Settings, at: dt.datetime) -> int:
    """Artifacts past retention at `at`, not held and still present (the `retention.overdue` check)."""
    build_plan(conn, policy, settings, at)
    (n,) = conn.execute("SELECT count(*) FROM _retention_plan WHERE action = 'purged'").fetchone() or (0,)
    return int(n)
