"""Weekly KPIs of CONTRACT §5 into `kpi_weekly`, computed in DuckDB SQL (reports/sql/kpi_*.sql).

Weeks are ISO weeks (Monday start) counted in the network timezone. An order belongs to the week of the
event a KPI names (its first attempt, first delivery, first failure; its creation for orders_created);
zone comes from the order, courier from that event. Apart from event latency only orders present in
`orders` count, and the six delivery rates count only `delivery` orders; return pickups have their own
three KPIs (CONTRACT §9). `definition_version` is a hash of everything that defines a number: the SQL files, the
definitions below, the canonical codes and the thresholds, so it changes whenever a definition does.

No Dagster here, and no clock: the caller passes the weeks to compute.
"""

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from lastmile.codes import (
    ATTEMPT_STATUSES,
    DELIVERY,
    EXCEPTION_CODES,
    NOTIFYING_STATUSES,
    REQUIRED_PROOFS,
    RETURN_ACCEPTANCE_KIND,
    RETURN_PICKUP,
    TERMINAL_STATUSES,
)
from lastmile.errors import LastmileError
from lastmile.settings import Settings
from lastmile.warehouse import apply_schema_file, committed, run_sql, sql_text
from quality_checks import ensure_schema as ensure_quality_schema

PKG = "reports"
SQL_FILES = ("sql/kpi_macros.sql", "sql/kpi_orders.sql", "sql/kpi_compute.sql", "sql/kpi_weeks_with_data.sql",
             "sql/kpi_messages.sql")  # fmt: skip
FAILURE_STATUSES = ("delivery_attempted", "exception")
TREND_WEEKS = 8


@dataclass(frozen=True)
class Kpi:
    kpi_id: str
    label: str
    unit: str  # 'rate' | 'seconds' | 'hours' | 'count'
    higher_is_better: bool | None
    dimensions: tuple[str, ...]
    denominator: str
    numerator: str

    @property
    def is_rate(self) -> bool:
        return self.unit == "rate"


KPIS: tuple[Kpi, ...] = (
    Kpi("first_attempt_delivery_rate", "First-attempt delivery", "rate", True, ("all", "zone", "courier"),
        "delivery orders whose first attempt-status event (delivery_attempted, delivered or picked_up) falls "
        "in the week; courier from that event",
        "those whose first attempt-status event is delivered"),
    Kpi("on_time_rate", "On time", "rate", True, ("all", "zone"),
        "delivery orders with a promised window whose first delivered event falls in the week (orders "
        "without a window are not counted)",
        "those delivered within [window_start, window_end], both ends included"),
    Kpi("proof_compliance_rate", "Proof compliance", "rate", True, ("all", "zone"),
        "delivery orders whose first delivered event falls in the week",
        "those without a proof.missing finding in dq_findings (as the checks last recorded them)"),
    Kpi("address_mismatch_rate", "Address mismatch", "rate", False, ("all", "zone", "courier"),
        "attempt-status events in the week with lat/lon, on a geocoded delivery order",
        "those more than address_distance_m metres (haversine, radius 6,371,008.8 m) from the order's "
        "geocode, as address.distance_mismatch judges them"),
    Kpi("exception_resolution_rate", "Exception resolution", "rate", True, ("all", "zone"),
        "delivery orders whose first delivery_attempted or exception event falls in the week",
        "those with a terminal event later than it and at most exception_unresolved_days calendar days after "
        "it in the network timezone (as exception.unresolved reads it)"),
    Kpi("attempt_failure_share", "Failed attempts by code", "rate", None, ("exception_code",),
        "delivery_attempted events of delivery orders in the week, with or without a code",
        "those with the exception code (one row per canonical code, plus any other code sent; "
        "a missing code is the row with dimension_value NULL)"),
    Kpi("event_latency_p50_s", "Event latency p50", "seconds", False, ("all",),
        "every loaded event that occurred in the week, orphans included (numerator and denominator NULL)",
        "median of recorded_at - occurred_at in seconds, continuous (linearly interpolated)"),
    Kpi("event_latency_p95_s", "Event latency p95", "seconds", False, ("all",),
        "every loaded event that occurred in the week, orphans included (numerator and denominator NULL)",
        "95th percentile of recorded_at - occurred_at in seconds, continuous (linearly interpolated)"),
    Kpi("orders_created", "Orders created", "count", None, ("all", "zone"),
        "none (denominator NULL)",
        "orders whose created_at falls in the week (value = numerator = the count)"),
    # Returns and pickups (CONTRACT §9): return_pickup orders only.
    Kpi("first_attempt_pickup_rate", "First-attempt pickup", "rate", True, ("all", "zone"),
        "return orders whose first attempt-status event falls in the week",
        "those whose first attempt-status event is picked_up"),
    Kpi("acceptance_proof_rate", "Acceptance proof", "rate", True, ("all", "zone"),
        "return orders whose first picked_up event falls in the week",
        "those without a return.acceptance_missing finding in dq_findings (as the checks last recorded them)"),
    Kpi("return_cycle_p50_h", "Return cycle p50", "hours", False, ("all", "zone"),
        "return orders whose first return_received event falls in the week (numerator and denominator NULL)",
        "median of that event's occurred_at - the order's created_at, hours, continuous (linearly interpolated)"),
    # Customer messages (CONTRACT §8; reports/sql/kpi_messages.sql)
    Kpi("notification_coverage_rate", "Notification coverage", "rate", True, ("all", "zone"),
        "notifying events occurring in the week that message.missing evaluates (as the checks last ran, at the "
        "as_of of each partition's latest run)",
        "those it does not flag"),
    Kpi("message_delivery_rate", "Message delivery", "rate", True, ("all", "channel"),
        "messages sent in the week", "those whose delivery_status is delivered"),
    Kpi("opt_out_rate", "Opt-out", "rate", False, ("all", "channel"),
        "distinct (channel, normalised address) sent a message in the week",
        "those with a withdrawn consent record (any purpose) whose `at` falls in the week"),
    Kpi("message_latency_p50_s", "Message latency p50", "seconds", False, ("all",),
        "messages sent in the week with a trigger event (numerator and denominator NULL)",
        "median of sent_at - the trigger event's recorded_at in seconds, continuous"),
    Kpi("message_latency_p95_s", "Message latency p95", "seconds", False, ("all",),
        "messages sent in the week with a trigger event (numerator and denominator NULL)",
        "95th percentile of sent_at - the trigger event's recorded_at in seconds, continuous"),
    Kpi("reattempt_success_rate", "Re-attempt success", "rate", True, ("variant",),
        "messages sent in the week with a variant, a trigger event and a template whose status is "
        "delivery_attempted (dimension value <template_id>:<variant>)",
        "those whose order's next attempt-status event after the trigger event is delivered or picked_up"),
)  # fmt: skip
BY_ID = {k.kpi_id: k for k in KPIS}


# ----------------------------------------------------------------------------------------------- weeks

_ISO_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def parse_iso_week(text: str) -> dt.date:
    """`YYYY-Www` -> the Monday of that ISO week; a bad value is one clear LastmileError."""
    match = _ISO_WEEK.match(text.strip())
    if not match:
        raise LastmileError(f"--week {text!r} is not an ISO week like 2026-W41 (YYYY-Www)")
    year, week = int(match.group(1)), int(match.group(2))
    try:
        return dt.date.fromisocalendar(year, week, 1)
    except ValueError:
        raise LastmileError(f"--week {text!r}: {year} has no ISO week {week}") from None


def iso_week_label(week_start: dt.date) -> str:
    year, week, _ = week_start.isocalendar()
    return f"{year}-W{week:02d}"


def monday_of(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def trend_weeks(week_start: dt.date, count: int = TREND_WEEKS) -> list[dt.date]:
    """The `count` weeks ending with `week_start`, oldest first."""
    return [week_start - dt.timedelta(weeks=count - 1 - i) for i in range(count)]


# ------------------------------------------------------------------------------------------ definition


def definition_params(settings: Settings) -> dict[str, object]:
    """Every value a KPI definition depends on, besides its SQL text."""
    return {
        "attempt_statuses": list(ATTEMPT_STATUSES),
        "failure_statuses": list(FAILURE_STATUSES),
        "terminal_statuses": list(TERMINAL_STATUSES),
        "exception_codes": list(EXCEPTION_CODES),
        "distance_m": float(settings.address_distance_m),
        "resolution_days": int(settings.exception_unresolved_days),
        # proof_compliance_rate reads proof.missing findings, which depend on these:
        "proof_window_minutes": float(settings.proof_window_minutes),
        "required_proofs": {k: list(v) for k, v in REQUIRED_PROOFS.items()},
        "delivery": DELIVERY,
        "return_type": RETURN_PICKUP,
        # acceptance_proof_rate reads return.acceptance_missing findings, which depend on these:
        "acceptance_kind": RETURN_ACCEPTANCE_KIND,
        "acceptance_window_minutes": float(settings.return_acceptance_window_minutes),
        # messaging KPIs (CONTRACT §8)
        "notifying_statuses": list(NOTIFYING_STATUSES),
        "reattempt_statuses": sorted({*ATTEMPT_STATUSES, "picked_up"}),
        "message_window_us": round(float(settings.message_missing_minutes) * 60_000_000),
    }


def definition_version(settings: Settings) -> str:
    """sha256 (first 16 hex digits) of the KPI SQL, the definitions and the thresholds they use."""
    digest = hashlib.sha256()
    for name in SQL_FILES:
        digest.update(name.encode() + b"\0" + sql_text(PKG, name).encode() + b"\0")
    definitions = [[k.kpi_id, k.unit, list(k.dimensions), k.denominator, k.numerator] for k in KPIS]
    payload = {"definitions": definitions, "params": definition_params(settings)}
    digest.update(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------------------------- compute


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """kpi_weekly, plus the checks' tables and macros (haversine_m) the KPIs read."""
    ensure_quality_schema(conn)
    apply_schema_file(conn, PKG, "sql/kpi_schema.sql")
    run_sql(conn, PKG, "sql/kpi_macros.sql")


def weeks_with_data(conn: duckdb.DuckDBPyConnection, settings: Settings) -> list[dt.date]:
    """Every ISO week in which an order was created or an event occurred (network timezone)."""
    ensure_schema(conn)
    rows = run_sql(conn, PKG, "sql/kpi_weeks_with_data.sql", {"tz": settings.network_timezone}).fetchall()
    return [r[0] for r in rows]


def latest_report_week(conn: duckdb.DuckDBPyConnection, settings: Settings) -> dt.date | None:
    """The latest week with data that the data covers to its end (the latest event occurred after the week
    ended), else the latest week with data; None when the warehouse holds no data."""
    weeks = weeks_with_data(conn, settings)
    if not weeks:
        return None
    row = conn.execute("SELECT max(occurred_at) FROM events").fetchone()
    last = row[0] if row else None
    if last is not None:
        complete = [w for w in weeks
                    if dt.datetime.combine(w + dt.timedelta(days=7), dt.time(), settings.tz) <= last]  # fmt: skip
        if complete:
            return complete[-1]
    return weeks[-1]


@dataclass(frozen=True)
class KpiRun:
    weeks: list[dt.date]  # weeks computed (had data)
    empty_weeks: list[dt.date]  # weeks asked for that had no data (their rows removed)
    rows: int
    definition_version: str


def compute_kpis(conn: duckdb.DuckDBPyConnection, settings: Settings, weeks: Iterable[dt.date] | None = None) -> KpiRun:
    """Compute kpi_weekly for `weeks` (Mondays; default every week with data), replacing their rows.

    Weeks asked for that have no data get no rows (any old rows of theirs are removed).
    """
    ensure_schema(conn)
    available = set(weeks_with_data(conn, settings))
    if weeks is None:
        asked = sorted(available)
    else:
        asked = sorted(set(weeks))
        bad = [w for w in asked if w.weekday() != 0]
        if bad:
            raise LastmileError(f"week_start {bad[0]} is not a Monday")
    todo = [w for w in asked if w in available]
    version = definition_version(settings)
    params: dict[str, object] = {
        **definition_params(settings),
        "tz": settings.network_timezone,
        "weeks": todo,
        "first_day": min(todo) if todo else dt.date(1970, 1, 5),
        "last_day": max(todo) + dt.timedelta(days=6) if todo else dt.date(1970, 1, 11),
        "replace": asked,
        "definition_version": version,
    }
    for unit in committed(conn):
        with unit:
            if todo:
                run_sql(conn, PKG, "sql/kpi_orders.sql", params)
                run_sql(conn, PKG, "sql/kpi_compute.sql", params)
                run_sql(conn, PKG, "sql/kpi_messages.sql", params)
            else:
                conn.execute("CREATE OR REPLACE TEMP TABLE _kpi AS SELECT * EXCLUDE (definition_version)"
                             " FROM kpi_weekly WITH NO DATA")  # fmt: skip
            row = conn.execute("SELECT count(*) FROM _kpi").fetchone()
            run_sql(conn, PKG, "sql/kpi_store.sql", params)
    return KpiRun(todo, [w for w in asked if w not in available], int(row[0]) if row else 0, version)


def kpi_rows(conn: duckdb.DuckDBPyConnection, weeks: Sequence[dt.date]) -> list[dict[str, Any]]:
    """The kpi_weekly rows of `weeks`, as dicts, in a stable order."""
    ensure_schema(conn)
    cur = conn.execute(
        "SELECT week_start, kpi_id, dimension, dimension_value, numerator, denominator, value, definition_version"
        " FROM kpi_weekly WHERE list_contains(?::DATE[], week_start)"
        " ORDER BY week_start, kpi_id, dimension, dimension_value NULLS FIRST",
        [list(weeks)],
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
