"""Run the checks over the warehouse: findings replace a partition's old ones; history is appended."""

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from lastmile.errors import LastmileError
from lastmile.settings import Settings
from lastmile.warehouse import PARAM, apply_schema_file, committed, run_sql, sql_text
from quality_checks.registry import BY_ID, CHECKS, Check

PKG = "quality_checks"


@dataclass(frozen=True)
class CheckResult:
    check_id: str
    severity: str
    evaluated: int
    failed: int
    partitions: int
    worst: list[str]  # a sample of failing entity ids

    @property
    def rate(self) -> float | None:
        return self.failed / self.evaluated if self.evaluated else None


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    apply_schema_file(conn, PKG, "schema.sql")
    run_sql(conn, PKG, "sql/macros.sql")


def evaluate(conn: duckdb.DuckDBPyConnection, sql_file: str, params: dict[str, Any]) -> None:
    """Materialize one check's query into the temp table _eval (see sql/materialize.sql).

    The check's own .sql file is composed into the wrapper as SQL text (both are files of this package);
    every value still travels as a bound parameter.
    """
    query = sql_text(PKG, sql_file).strip().rstrip(";")
    wrapper = sql_text(PKG, "sql/materialize.sql").replace("/* check */", query)
    used = {k: params[k] for k in dict.fromkeys(PARAM.findall(wrapper))}
    conn.execute(wrapper, used or None)


def default_as_of(conn: duckdb.DuckDBPyConnection) -> dt.datetime | None:
    """The largest recorded_at in the warehouse (events and proofs), or None when it is empty."""
    row = run_sql(conn, PKG, "sql/default_as_of.sql").fetchone()
    return row[0] if row else None


def data_dates(conn: duckdb.DuckDBPyConnection) -> list[dt.date]:
    """Every partition date that holds published orders, events or proofs."""
    return [d for (d,) in run_sql(conn, PKG, "sql/data_dates.sql").fetchall()]


def select_checks(ids: Iterable[str] | None) -> list[Check]:
    if ids is None:
        return list(CHECKS)
    unknown = [i for i in ids if i not in BY_ID]
    if unknown:
        raise LastmileError(f"unknown check {unknown[0]!r} (known: {', '.join(BY_ID)})")
    return [BY_ID[i] for i in ids]


def run_checks(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    *,
    run_id: str,
    now: dt.datetime,
    dates: Sequence[dt.date] | None = None,
    as_of: dt.datetime | None = None,
    checks: Iterable[str] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[CheckResult]:
    """Run the per-partition checks over `dates` (default: every date with data) and the window checks
    at `as_of` (default: the largest recorded_at). Returns one summary per check."""
    ensure_schema(conn)
    selected = select_checks(checks)
    if as_of is None:
        as_of = default_as_of(conn)
    elif as_of.tzinfo is None:
        raise LastmileError("as_of must carry a time zone")
    days = sorted(set(dates)) if dates is not None else data_dates(conn)
    results = []
    for i, check in enumerate(selected):
        if progress:
            progress(check.check_id, i, len(selected))
        if check.scope == "partition":
            if not days:
                continue
            results.append(_run_one(conn, settings, check, run_id, now, days, as_of, days[0], days[-1]))
        else:
            if as_of is None:
                continue
            as_of_day = conn.execute("SELECT ?::TIMESTAMPTZ::DATE", [as_of]).fetchone()[0]  # type: ignore[index]
            results.append(_run_one(conn, settings, check, run_id, now, [as_of_day], as_of, None, None))
    if progress:
        progress("checks", len(selected), len(selected))
    return results


def _run_one(
    conn: duckdb.DuckDBPyConnection, settings: Settings, check: Check, run_id: str, now: dt.datetime,
    days: list[dt.date], as_of: dt.datetime | None, start: dt.date | None, end: dt.date | None,
) -> CheckResult:  # fmt: skip
    started = now
    params = dict(check.params(settings))
    if check.scope == "partition":
        # A contiguous range is scanned once; dates outside `days` inside it are evaluated but not recorded.
        params.update(start=start, end=end, as_of=as_of)  # as_of: message.missing looks back from it
    else:
        params.update(as_of=as_of)
    for unit in committed(conn):
        with unit:
            evaluate(conn, check.sql_file, params)
            if start and end and len(days) != (end - start).days + 1:
                conn.execute("DELETE FROM _eval WHERE NOT list_contains(?::DATE[], partition_date)", [days])
            run_sql(conn, PKG, "sql/record.sql", {
                "check_id": check.check_id, "severity": check.severity, "entity_kind": check.entity_kind,
                "dates": days, "run_id": run_id, "now": now, "started_at": started, "as_of": as_of,
            })  # fmt: skip
            evaluated, failed = conn.execute("SELECT count(*), coalesce(count_if(failed), 0) FROM _eval").fetchone()  # type: ignore[misc]
            worst = [
                r[0]
                for r in conn.execute(
                    "SELECT entity_id FROM _eval WHERE failed ORDER BY partition_date DESC, entity_id LIMIT 5"
                ).fetchall()
            ]
            conn.execute("DROP TABLE _eval")
    return CheckResult(check.check_id, check.severity, evaluated, failed, len(days), worst)
