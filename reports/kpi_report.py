"""The weekly KPI report: one self-contained HTML file (plotly.js inlined once) plus a CSV of the numbers.

Reads `kpi_weekly` (the week and the 7 before it, for week-over-week change and the trend charts),
`dq_findings` / `dq_check_runs` (proof compliance and address hotspots from the checks, and the data-quality
panel that marks every KPI whose inputs had failing `error` checks that week) and `published_partitions`.
Every value from the data is escaped: by Jinja2's autoescape in the page, as HTML entities in chart labels
(plotly reads a subset of HTML in text), and with `<`, `>`, `&` as \\u escapes in the embedded JSON.

No Dagster, no clock: `now` and `actor` are passed in.
"""

import csv
import datetime as dt
import html
import json
import zoneinfo
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import plotly.graph_objects as go
import plotly.io as pio
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from lastmile.audit import AuditTrail
from lastmile.codes import EXCEPTION_ATTRIBUTION
from lastmile.settings import Settings
from quality_checks import CHECKS
from quality_checks.runs import FINISHED_RUNS_ONLY
from reports.kpi import (
    BY_ID,
    KPIS,
    definition_version,
    ensure_schema,
    iso_week_label,
    kpi_rows,
    trend_weeks,
)

HEADLINE = (
    "first_attempt_delivery_rate", "on_time_rate", "proof_compliance_rate", "address_mismatch_rate",
    "exception_resolution_rate", "event_latency_p50_s", "event_latency_p95_s", "orders_created",
)  # fmt: skip
# The Returns section (CONTRACT §9): return pickups' own KPIs, by zone, apart from the delivery KPIs.
RETURN_KPIS = ("first_attempt_pickup_rate", "acceptance_proof_rate", "return_cycle_p50_h")
# Messaging KPIs (CONTRACT §8) have their own report (reports/messaging_report.py) and a panel here.
MESSAGING_PANEL = ("notification_coverage_rate", "message_delivery_rate", "opt_out_rate")
RATES = [
    k.kpi_id
    for k in KPIS
    if k.is_rate and k.kpi_id not in ("attempt_failure_share", *RETURN_KPIS, *MESSAGING_PANEL, "reattempt_success_rate")
]
ZONE_COLUMNS = (*RATES, "orders_created")
COURIER_KPIS = ("first_attempt_delivery_rate", "address_mismatch_rate")
MIN_SAMPLE = 20  # breakdown rows with a smaller denominator are shown, flagged, and not ranked
RANKED = 8  # best and worst rows shown per breakdown when there are more than twice as many
ATTRIBUTION_COLORS = {"shipper": "#b45309", "consignee": "#2563eb", "carrier": "#dc2626", "external": "#6b7280",
                      "unknown": "#7c3aed"}  # fmt: skip
SERIES_COLORS = ("#2563eb", "#059669", "#d97706", "#dc2626", "#7c3aed")
PLOTLY_CONFIG = {"displayModeBar": False, "responsive": True}

# Which KPIs a failing `error` check puts in doubt (its failing rows are inputs of these KPIs).
# proof.missing is not here: it is what proof_compliance_rate measures, not a defect in its inputs.
ORDER_EVENT_KPIS = ("first_attempt_delivery_rate", "on_time_rate", "proof_compliance_rate", "address_mismatch_rate",
                    "exception_resolution_rate", "attempt_failure_share", *RETURN_KPIS)  # fmt: skip
AFFECTS: dict[str, tuple[str, ...]] = {
    "event.orphan": ORDER_EVENT_KPIS,  # event latency counts orphans by definition
    "event.conflict": (*ORDER_EVENT_KPIS, "event_latency_p50_s", "event_latency_p95_s"),
    "event.sequence_gap": (
        "first_attempt_delivery_rate",
        "attempt_failure_share",
        "address_mismatch_rate",
        "first_attempt_pickup_rate",
    ),
    "event.exception_code_invalid": ("attempt_failure_share", "exception_resolution_rate"),
    "proof.invalid": ("proof_compliance_rate", "acceptance_proof_rate"),
    # A delivery scan of the original after its parcel was handed back puts the delivery's outcome in doubt.
    "return.conflicting_update": (
        "first_attempt_delivery_rate",
        "on_time_rate",
        "proof_compliance_rate",
        "exception_resolution_rate",
    ),
    "return.unlinked": (),
    "partner.unmapped_code": ("first_attempt_delivery_rate", "attempt_failure_share", "exception_resolution_rate"),
    "address.repeat_failure": (),
    "expectations.orders": (*ORDER_EVENT_KPIS, "orders_created"),
    "expectations.events": (*ORDER_EVENT_KPIS, "event_latency_p50_s", "event_latency_p95_s"),
    "expectations.proofs": ("proof_compliance_rate", "acceptance_proof_rate"),
}
MEASURED_BY = {"proof.missing": "proof_compliance_rate", "return.acceptance_missing": "acceptance_proof_rate"}
WHY = {
    "event.orphan": "events whose order is not in orders are left out of every order-based KPI",
    "event.conflict": "an event id was reused with different content; the first version is counted",
    "event.sequence_gap": "attempts without a preceding out_for_delivery: attempt sequences are incomplete",
    "event.exception_code_invalid": "missing or non-canonical exception codes distort the failure breakdown",
    "proof.invalid": "proofs with absent or corrupt blobs still count as captured",
    "partner.unmapped_code": "partner events with unmapped codes were not loaded as events",
    "address.repeat_failure": "an operational signal about addresses, not a defect in KPI inputs",
    "return.conflicting_update": "the original order has delivery scans after its parcel was picked up for return",
    "return.unlinked": "a return that names no delivery order: its pickup still counts in the return KPIs",
}


@dataclass(frozen=True)
class ReportResult:
    week_start: dt.date
    week: str  # YYYY-Www
    html_path: Path
    csv_path: Path
    html_bytes: int
    has_data: bool
    definition_version: str
    flagged: dict[str, list[str]]  # kpi_id -> error checks that failed in its inputs this week


# ---------------------------------------------------------------------------------------------- format


def fmt_value(kpi_id: str, value: float | None) -> str:
    if value is None:
        return "–"
    unit = BY_ID[kpi_id].unit
    if unit == "rate":
        return f"{value * 100:.1f}%"
    if unit == "seconds":
        return f"{value:,.0f} s" if value < 120 else f"{value / 60:,.1f} min"
    if unit == "hours":
        return f"{value:,.1f} h"
    return f"{value:,.0f}"


def fmt_change(kpi_id: str, now: float | None, before: float | None) -> tuple[str, str]:
    """Week-over-week change as text, and a css class: 'good', 'bad' or 'flat'."""
    if now is None or before is None:
        return "no comparison", "flat"
    kpi = BY_ID[kpi_id]
    delta = now - before
    if kpi.unit == "rate":
        text = f"{delta * 100:+.1f} pp"
        flat = abs(delta) < 0.0005
    elif kpi.unit == "seconds":
        text = f"{delta:+,.0f} s"
        flat = abs(delta) < 0.5
    elif kpi.unit == "hours":
        text = f"{delta:+,.1f} h"
        flat = abs(delta) < 0.05
    else:
        pct = f" ({delta / before:+.1%})" if before else ""
        text = f"{delta:+,.0f}{pct}"
        flat = delta == 0
    if flat or kpi.higher_is_better is None:
        return text, "flat"
    return text, "good" if (delta > 0) == kpi.higher_is_better else "bad"


def label(text: object) -> str:
    """A data value as a chart label: HTML entities, so plotly shows markup as text, never renders it."""
    return html.escape("(none)" if text is None else str(text))


# ------------------------------------------------------------------------------------------------ data


def _index(rows: Sequence[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {(r["week_start"], r["kpi_id"], r["dimension"], r["dimension_value"]): r for r in rows}


def _breakdown(rows: Sequence[dict[str, Any]], week: dt.date, dimension: str, kpis: Sequence[str]) -> list[dict]:
    by_value: dict[Any, dict[str, Any]] = defaultdict(dict)
    for r in rows:
        if r["week_start"] == week and r["dimension"] == dimension and r["kpi_id"] in kpis:
            by_value[r["dimension_value"]][r["kpi_id"]] = r
    out = []
    for value, cells in by_value.items():
        row: dict[str, Any] = {"name": "(none)" if value is None else value, "missing": value is None, "cells": {}}
        for kpi_id in kpis:
            found = cells.get(kpi_id)
            den = found["denominator"] if found else None
            row["cells"][kpi_id] = {
                "text": fmt_value(kpi_id, found["value"]) if found else "–",
                "n": den if den is not None else (found["numerator"] if found else None),
                "small": den is not None and den < MIN_SAMPLE,
                "value": found["value"] if found else None,
            }
        out.append(row)
    return out


def _rank(rows: list[dict], kpi_id: str, higher_is_better: bool) -> dict[str, Any]:
    """Best and worst rows by one KPI among rows with a large enough sample; the rest listed apart."""
    ranked = [r for r in rows if r["cells"][kpi_id]["value"] is not None and not r["cells"][kpi_id]["small"]]
    ranked.sort(key=lambda r: (-r["cells"][kpi_id]["value"] if higher_is_better else r["cells"][kpi_id]["value"],
                               str(r["name"])))  # fmt: skip
    small = sorted((r for r in rows if r not in ranked), key=lambda r: str(r["name"]))
    if len(ranked) > 2 * RANKED:
        return {"best": ranked[:RANKED], "worst": ranked[-RANKED:][::-1], "all": None, "small": small,
                "ranked": len(ranked)}  # fmt: skip
    return {"best": None, "worst": None, "all": ranked, "small": small, "ranked": len(ranked)}


def _week_days(week: dt.date) -> list[dt.date]:
    return [week + dt.timedelta(days=i) for i in range(7)]


def _data_quality(conn: duckdb.DuckDBPyConnection, week: dt.date) -> dict[str, Any]:
    days = _week_days(week)
    failing = conn.execute(
        "SELECT check_id, any_value(severity) AS severity, count(*) AS failed, count(DISTINCT partition_date)"
        " FROM dq_findings WHERE partition_date BETWEEN ? AND ? GROUP BY check_id ORDER BY check_id",
        [days[0], days[-1]],
    ).fetchall()
    evaluated = dict(
        conn.execute(
            "SELECT check_id, sum(evaluated) FROM (SELECT check_id, partition_date, arg_max(evaluated, finished_at)"
            f" AS evaluated FROM dq_check_runs WHERE partition_date BETWEEN ? AND ? AND {FINISHED_RUNS_ONLY}"
            " GROUP BY ALL) GROUP BY check_id",
            [days[0], days[-1]],
        ).fetchall()
    )
    data_days = {d for (d,) in conn.execute(
        "SELECT DISTINCT partition_date FROM published_partitions WHERE table_name IN ('orders', 'events', 'proofs')"
        " AND row_count > 0 AND partition_date BETWEEN ? AND ?", [days[0], days[-1]]).fetchall()}  # fmt: skip
    partition_checks = [c.check_id for c in CHECKS if c.scope == "partition"]
    checked_days = {d for (d,) in conn.execute(
        "SELECT DISTINCT partition_date FROM dq_check_runs WHERE list_contains(?, check_id)"
        f" AND partition_date BETWEEN ? AND ? AND {FINISHED_RUNS_ONLY}",
        [partition_checks, days[0], days[-1]]).fetchall()}  # fmt: skip
    unchecked = sorted(data_days - checked_days)
    errors, warnings = [], []
    flagged: dict[str, list[str]] = defaultdict(list)
    for check_id, severity, failed, n_days in failing:
        entry = {"check_id": check_id, "failed": failed, "days": n_days, "evaluated": evaluated.get(check_id)}
        if severity != "error":
            warnings.append(entry)
            continue
        if check_id in MEASURED_BY:
            entry["affects"] = []
            entry["why"] = f"measured by {MEASURED_BY[check_id]} (the KPI counts these orders as non-compliant)"
        else:
            affects = AFFECTS.get(check_id, ORDER_EVENT_KPIS)
            entry["affects"] = list(affects)
            entry["why"] = WHY.get(check_id, "an error check on data the KPIs read")
            for kpi_id in affects:
                flagged[kpi_id].append(check_id)
        errors.append(entry)
    if unchecked:
        for kpi_id in (*HEADLINE, *RETURN_KPIS):
            flagged[kpi_id].append("checks not run")
    return {"errors": errors, "warnings": warnings, "unchecked": unchecked, "flagged": dict(flagged)}


def _returns_section(
    index: dict[tuple[Any, ...], dict[str, Any]], rows: Sequence[dict[str, Any]], week: dt.date, previous: dt.date,
    flagged: dict[str, list[str]],
) -> dict[str, Any]:  # fmt: skip
    """The Returns section: the three §9 KPIs (cards flagged like the headline's) and their zone table."""
    cards = []
    for kpi_id in RETURN_KPIS:
        now_row = index.get((week, kpi_id, "all", None))
        before_row = index.get((previous, kpi_id, "all", None))
        value = now_row["value"] if now_row else None
        before = before_row["value"] if before_row else None
        change, trend = fmt_change(kpi_id, value, before)
        cards.append({
            "kpi_id": kpi_id, "label": BY_ID[kpi_id].label, "value": value, "text": fmt_value(kpi_id, value),
            "numerator": now_row["numerator"] if now_row else None,
            "denominator": now_row["denominator"] if now_row else None,
            "change": change, "trend": trend, "previous": fmt_value(kpi_id, before),
            "flags": flagged.get(kpi_id, []),
        })  # fmt: skip
    zones = _breakdown(rows, week, "zone", RETURN_KPIS)
    zones.sort(key=lambda z: str(z["name"]))
    any_returns = any(index.get((week, k, "all", None), {}).get("value") is not None for k in RETURN_KPIS)
    return {"cards": cards, "zones": zones, "columns": [(k, BY_ID[k].label) for k in RETURN_KPIS],
            "any": any_returns}  # fmt: skip


def _hotspots(conn: duckdb.DuckDBPyConnection, week: dt.date) -> dict[str, Any]:
    days = _week_days(week)
    missing_by_kind = conn.execute(
        "SELECT o.service_type, list_sort(list_distinct(flatten(list(CAST(json_extract_string(f.observed,"
        " '$.missing_kinds[*]') AS VARCHAR[]))))) AS kinds, count(*) AS orders"
        " FROM dq_findings AS f LEFT JOIN orders AS o ON o.order_id = f.order_id"
        " WHERE f.check_id = 'proof.missing' AND f.partition_date BETWEEN ? AND ? GROUP BY ALL ORDER BY orders DESC",
        [days[0], days[-1]],
    ).fetchall()
    missing_by_zone = conn.execute(
        "SELECT coalesce(o.zone_id, '(order not in orders)'), count(*) AS orders FROM dq_findings AS f"
        " LEFT JOIN orders AS o ON o.order_id = f.order_id"
        " WHERE f.check_id = 'proof.missing' AND f.partition_date BETWEEN ? AND ? GROUP BY ALL"
        " ORDER BY orders DESC, 1 LIMIT 10",
        [days[0], days[-1]],
    ).fetchall()
    hotspots = conn.execute(
        "SELECT entity_id, max(partition_date), arg_max(observed->>'$.n', partition_date)::BIGINT,"
        " arg_max(observed->>'$.f', partition_date)::BIGINT, arg_max(observed->>'$.z', partition_date)::DOUBLE"
        " FROM dq_findings WHERE check_id = 'address.hotspot' AND partition_date BETWEEN ? AND ?"
        " GROUP BY entity_id ORDER BY 5 DESC NULLS LAST, 1 LIMIT 15",
        [days[0], days[-1]],
    ).fetchall()
    repeats = conn.execute(
        "SELECT entity_id, max(partition_date), arg_max(observed::VARCHAR, partition_date) FROM dq_findings"
        " WHERE check_id = 'address.repeat_failure' AND partition_date BETWEEN ? AND ?"
        " GROUP BY entity_id ORDER BY 1 LIMIT 15",
        [days[0], days[-1]],
    ).fetchall()
    latest = conn.execute(
        f"SELECT max(as_of) FROM dq_check_runs WHERE check_id = 'address.hotspot' AND {FINISHED_RUNS_ONLY}"
    ).fetchone()
    return {
        "hotspot_as_of": latest[0] if latest else None,
        "missing_by_kind": [{"service_type": s or "(order not in orders)", "kinds": ", ".join(k or []), "orders": n}
                            for s, k, n in missing_by_kind],
        "missing_by_zone": [{"zone": z, "orders": n} for z, n in missing_by_zone],
        "hotspots": [{"entity": e, "day": d, "n": n, "f": f, "z": z} for e, d, n, f, z in hotspots],
        "repeats": [{"address_key": e, "day": d, "observed": o} for e, d, o in repeats],
    }  # fmt: skip


def _data_span(conn: duckdb.DuckDBPyConnection) -> tuple[dt.datetime | None, dt.datetime | None]:
    row = conn.execute("SELECT min(occurred_at), max(occurred_at) FROM events").fetchone()
    return (row[0], row[1]) if row else (None, None)


# ---------------------------------------------------------------------------------------------- charts


def _figure_json(fig: go.Figure) -> Any:
    return json.loads(pio.to_json(fig, validate=False))


def _layout(fig: go.Figure, title: str, height: int = 300, **extra: Any) -> go.Figure:
    settings: dict[str, Any] = {
        "margin": {"l": 50, "r": 20, "t": 40, "b": 40},
        "legend": {"orientation": "h", "y": -0.2},
        **extra,
    }
    fig.update_layout(
        title={"text": title, "x": 0, "font": {"size": 14}},
        height=height,
        paper_bgcolor="white",
        plot_bgcolor="white",
        font={"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12, "color": "#1f2937"},
        **settings,
    )
    fig.update_xaxes(showgrid=False, linecolor="#d1d5db")
    fig.update_yaxes(gridcolor="#eef0f3", zeroline=False)
    return fig


def _charts(index: dict, weeks: list[dt.date], week: dt.date, codes: list[dict], zones: list[dict]) -> dict[str, Any]:
    x = [iso_week_label(w) for w in weeks]
    axis = {"type": "category", "tickangle": 0}

    def series(kpi_id: str, scale: float = 1.0) -> list[float | None]:
        values = []
        for w in weeks:
            r = index.get((w, kpi_id, "all", None))
            values.append(None if r is None or r["value"] is None else r["value"] * scale)
        return values

    rates = go.Figure()
    for color, kpi_id in zip(SERIES_COLORS, RATES, strict=False):
        name = BY_ID[kpi_id].label
        rates.add_trace(go.Scatter(x=x, y=series(kpi_id, 100), name=name, mode="lines+markers",
                                   line={"color": color, "width": 2}, connectgaps=False,
                                   hovertemplate="%{x}: %{y:.1f}%<extra>" + name + "</extra>"))  # fmt: skip
    _layout(rates, "Rates by week (%)", 340, yaxis={"ticksuffix": "%", "rangemode": "tozero"}, xaxis=axis)

    volume = go.Figure(go.Bar(x=x, y=series("orders_created"), marker_color="#93c5fd", name="Orders created",
                              hovertemplate="%{x}: %{y:,}<extra></extra>"))  # fmt: skip
    _layout(volume, "Orders created", 260, xaxis=axis)

    latency = go.Figure()
    for kpi_id, color in (("event_latency_p50_s", "#059669"), ("event_latency_p95_s", "#d97706")):
        latency.add_trace(go.Scatter(x=x, y=series(kpi_id), name=BY_ID[kpi_id].label.replace("Event latency ", ""),
                                     mode="lines+markers", line={"color": color, "width": 2},
                                     hovertemplate="%{x}: %{y:,.0f} s<extra></extra>"))  # fmt: skip
    _layout(latency, "Event latency (seconds, recorded − occurred)", 260, yaxis={"rangemode": "tozero"}, xaxis=axis)

    shown = [c for c in codes if c["count"]]
    failures = go.Figure(go.Bar(
        y=[label(c["code"]) for c in shown][::-1], x=[c["count"] for c in shown][::-1], orientation="h",
        marker_color=[ATTRIBUTION_COLORS.get(c["attribution"], "#7c3aed") for c in shown][::-1],
        customdata=[[label(c["attribution"]), c["share_text"]] for c in shown][::-1],
        hovertemplate="%{y}: %{x} (%{customdata[1]}), %{customdata[0]}<extra></extra>",
    ))  # fmt: skip
    _layout(failures, "Failed attempts by exception code (colour = attribution)", max(220, 26 * len(shown) + 80),
            margin={"l": 190, "r": 20, "t": 40, "b": 30})  # fmt: skip

    fad = [z for z in zones if z["cells"]["first_attempt_delivery_rate"]["value"] is not None]
    fad.sort(key=lambda z: z["cells"]["first_attempt_delivery_rate"]["value"])
    by_zone = go.Figure(go.Bar(
        y=[label(z["name"]) for z in fad], x=[z["cells"]["first_attempt_delivery_rate"]["value"] * 100 for z in fad],
        orientation="h", marker_color=["#fca5a5" if z["cells"]["first_attempt_delivery_rate"]["small"] else "#2563eb"
                                       for z in fad],
        customdata=[z["cells"]["first_attempt_delivery_rate"]["n"] for z in fad],
        hovertemplate="%{y}: %{x:.1f}% of %{customdata} orders<extra></extra>",
    ))  # fmt: skip
    _layout(by_zone, f"First-attempt delivery by zone, {iso_week_label(week)} (%)", max(220, 24 * len(fad) + 80),
            margin={"l": 120, "r": 20, "t": 40, "b": 30}, xaxis={"ticksuffix": "%"})  # fmt: skip
    return {
        "rates": _figure_json(rates),
        "volume": _figure_json(volume),
        "latency": _figure_json(latency),
        "failures": _figure_json(failures),
        "zones": _figure_json(by_zone),
    }


def _script_json(value: Any) -> Markup:
    """JSON safe inside a <script> element: <, > and & as \\u escapes (still the same JSON)."""
    text = json.dumps(value, separators=(",", ":"), default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


# ---------------------------------------------------------------------------------------------- report


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda v: "–" if v is None else f"{v:,}"
    return env


def report_stem(week_start: dt.date) -> str:
    return f"kpi-{iso_week_label(week_start)}"


def build_kpi_report(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    reports_dir: Path,
    week_start: dt.date,
    *,
    now: dt.datetime,
    actor: str,
    audit_dir: Path | None = None,
) -> ReportResult:
    """Write reports_dir/kpi-YYYY-Www.html and .csv for the ISO week starting `week_start` (a Monday).

    Reads kpi_weekly as it is (compute it first, see reports.kpi.compute_kpis). When `audit_dir` is given
    the generation is appended to the audit trail (action report.kpi) and a checkpoint is signed.
    """
    ensure_schema(conn)
    week = iso_week_label(week_start)
    rows = kpi_rows(conn, trend_weeks(week_start))
    # the trend starts at the first of the 8 weeks with data (weeks before the data began are left out)
    weeks = [w for w in trend_weeks(week_start) if w >= min((r["week_start"] for r in rows), default=week_start)]
    index = _index(rows)
    this_week = [r for r in rows if r["week_start"] == week_start]
    has_data = bool(this_week)
    version = definition_version(settings)
    versions = sorted({str(r["definition_version"]) for r in rows})
    tz = zoneinfo.ZoneInfo(settings.network_timezone)
    first, last = _data_span(conn)
    week_end = dt.datetime.combine(week_start + dt.timedelta(days=7), dt.time(), tz)
    # the resolution window of the week's last failure closes N calendar days after the week ends
    resolution_closes = dt.datetime.combine(
        week_start + dt.timedelta(days=7 + settings.exception_unresolved_days), dt.time(), tz
    )

    previous = week_start - dt.timedelta(weeks=1)
    headline = []
    dq = _data_quality(conn, week_start) if has_data else {"errors": [], "warnings": [], "unchecked": [],
                                                            "flagged": {}}  # fmt: skip
    for kpi_id in HEADLINE:
        now_row = index.get((week_start, kpi_id, "all", None))
        before_row = index.get((previous, kpi_id, "all", None))
        value = now_row["value"] if now_row else None
        before = before_row["value"] if before_row else None
        change, trend = fmt_change(kpi_id, value, before)
        headline.append({
            "kpi_id": kpi_id, "label": BY_ID[kpi_id].label, "value": value, "text": fmt_value(kpi_id, value),
            "numerator": now_row["numerator"] if now_row else None,
            "denominator": now_row["denominator"] if now_row else None,
            "change": change, "trend": trend, "previous": fmt_value(kpi_id, before),
            "flags": dq["flagged"].get(kpi_id, []),
        })  # fmt: skip

    codes = []
    attempts = 0
    for r in this_week:
        if r["kpi_id"] != "attempt_failure_share":
            continue
        attempts = r["denominator"] or 0
        code = r["dimension_value"]
        attribution = "missing code" if code is None else EXCEPTION_ATTRIBUTION.get(code, "unknown")
        codes.append({"code": code if code is not None else "(no code)", "attribution": attribution,
                      "count": r["numerator"] or 0, "share": r["value"],
                      "share_text": fmt_value("attempt_failure_share", r["value"]),
                      "canonical": code in EXCEPTION_ATTRIBUTION})  # fmt: skip
    codes.sort(key=lambda c: (-c["count"], str(c["code"])))
    by_attribution: dict[str, int] = defaultdict(int)
    for c in codes:
        by_attribution[c["attribution"]] += c["count"]
    attribution_rows = [
        {"attribution": a, "count": n, "share": fmt_value("attempt_failure_share", n / attempts if attempts else None)}
        for a, n in sorted(by_attribution.items(), key=lambda item: (-item[1], item[0]))
    ]

    returns = _returns_section(index, rows, week_start, previous, dq["flagged"])
    zones = _breakdown(rows, week_start, "zone", ZONE_COLUMNS)
    zones.sort(key=lambda z: str(z["name"]))
    zone_rank = _rank(zones, "first_attempt_delivery_rate", True)
    couriers = _breakdown(rows, week_start, "courier", COURIER_KPIS)
    courier_rank = _rank(couriers, "first_attempt_delivery_rate", True)
    mismatch_rank = _rank(couriers, "address_mismatch_rate", False)

    context = {
        "week": week,
        "week_start": week_start,
        "week_end_day": week_start + dt.timedelta(days=6),
        "timezone": settings.network_timezone,
        "generated_at": now.astimezone(tz),
        "actor": actor,
        "has_data": has_data,
        "partial": has_data and (last is None or last < week_end),
        "data_first": first.astimezone(tz) if first else None,
        "data_last": last.astimezone(tz) if last else None,
        "resolution_open": has_data and (last is None or last < resolution_closes),
        "resolution_days": settings.exception_unresolved_days,
        "headline": headline,
        "previous_week": iso_week_label(previous),
        "codes": codes,
        "attempts": attempts,
        "attribution_rows": attribution_rows,
        "zones": zones,
        "zone_columns": [(k, BY_ID[k].label) for k in ZONE_COLUMNS],
        "zone_rank": zone_rank,
        "courier_rank": courier_rank,
        "mismatch_rank": mismatch_rank,
        "courier_count": len(couriers),
        "min_sample": MIN_SAMPLE,
        "hot": _hotspots(conn, week_start) if has_data else None,
        "returns": returns,
        "dq": dq,
        "kpis": KPIS,
        "definition_version": version,
        "stored_versions": versions,
        "settings": settings,
        "trend_first": iso_week_label(weeks[0]),
        "charts": _script_json(_charts(index, weeks, week_start, codes, zones)) if has_data else None,
        "plotly_js": Markup(get_plotlyjs()) if has_data else None,
        "plotly_config": _script_json(PLOTLY_CONFIG),
        # a short panel of the messaging KPIs (CONTRACT §8) linking to the messaging report
        "messaging": [
            {"kpi_id": k, "label": BY_ID[k].label, "text": fmt_value(k, m["value"]), "denominator": m["denominator"]}
            for k in MESSAGING_PANEL
            if (m := index.get((week_start, k, "all", None))) is not None and m["denominator"]
        ],
    }
    reports_dir.mkdir(parents=True, exist_ok=True)
    stem = report_stem(week_start)
    html_path = reports_dir / f"{stem}.html"
    csv_path = reports_dir / f"{stem}.csv"
    page = _environment().get_template("kpi.html.j2").render(**context)
    _write_atomic(html_path, page)
    _write_csv(csv_path, rows)
    size = html_path.stat().st_size
    flagged = {k: list(v) for k, v in dq["flagged"].items()}
    if audit_dir is not None:
        trail = AuditTrail(conn, audit_dir)
        trail.append(actor, "report.kpi", f"report:{stem}", {
            "week": week, "week_start": week_start.isoformat(), "html": str(html_path), "csv": str(csv_path),
            "html_bytes": size, "has_data": has_data, "definition_version": version,
            "flagged_kpis": sorted(flagged), "kpi_rows": len(this_week),
        }, at=now)  # fmt: skip
        trail.checkpoint(at=now)
    return ReportResult(week_start, week, html_path, csv_path, size, has_data, version, flagged)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    """A data string that a spreadsheet would read as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    columns = ["iso_week", "week_start", "kpi_id", "dimension", "dimension_value", "numerator", "denominator",
               "value", "definition_version"]  # fmt: skip
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for r in rows:
            writer.writerow([
                iso_week_label(r["week_start"]), r["week_start"].isoformat(), r["kpi_id"], r["dimension"],
                _cell(r["dimension_value"]), r["numerator"], r["denominator"],
                "" if r["value"] is None else repr(float(r["value"])), r["definition_version"],
            ])  # fmt: skip
    tmp.replace(path)
