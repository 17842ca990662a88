"""The weekly messaging and consent report (CONTRACT §8): one self-contained HTML file, plotly inlined.

For compliance officers and ops leads: the six messaging KPIs with week-over-week change (read from
`kpi_weekly`), every §8 finding of the week by check with the worst offenders, opt-outs by source and
channel, the template versions in force, and each template experiment (re-attempt success by arm) with the
difference between arms, its 95% confidence interval and a two-proportion z-test (statsmodels), saying
plainly when the samples are too small to call. Every value from the data is escaped (Jinja2 autoescape;
chart labels as HTML entities; embedded JSON with <, >, & as \\u escapes).

No Dagster, no clock: `now` and `actor` are passed in.
"""

import datetime as dt
import html
import json
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import plotly.graph_objects as go
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from lastmile.audit import AuditTrail
from lastmile.settings import Settings
from lastmile.warehouse import run_sql
from quality_checks import CHECKS
from reports.kpi import BY_ID, ensure_schema, iso_week_label, kpi_rows
from reports.kpi_report import (
    PLOTLY_CONFIG,
    SERIES_COLORS,
    _environment,
    _figure_json,
    _layout,
    _script_json,
    _write_atomic,
    fmt_change,
    fmt_value,
)

HEADLINE = (
    "notification_coverage_rate", "message_delivery_rate", "opt_out_rate", "message_latency_p50_s",
    "message_latency_p95_s",
)  # fmt: skip
MESSAGE_CHECKS = tuple(c for c in CHECKS if c.check_id.startswith(("message.", "template.")))
WORST = 5  # offenders shown per check
MIN_ARM = 30  # an arm with fewer messages is too small to call
MIN_EXPECTED = 5  # ... as is one with fewer than this many expected successes or failures
ALPHA = 0.05


@dataclass(frozen=True)
class MessagingReport:
    week_start: dt.date
    week: str
    html_path: Path
    html_bytes: int
    has_data: bool
    experiments: int
    findings: int


def report_stem(week_start: dt.date) -> str:
    return f"messaging-{iso_week_label(week_start)}"


def compare_arms(a: tuple[str, int, int], b: tuple[str, int, int]) -> dict[str, Any]:
    """Arm b against arm a (name, successes, messages): difference of rates, 95% CI (Wald, independent
    samples) and the two-proportion z-test, or the reason the samples are too small to call."""
    from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

    (name_a, x_a, n_a), (name_b, x_b, n_b) = a, b
    rate_a = x_a / n_a if n_a else None
    rate_b = x_b / n_b if n_b else None
    out: dict[str, Any] = {"a": name_a, "b": name_b, "rate_a": rate_a, "rate_b": rate_b, "n_a": n_a, "n_b": n_b,
                           "diff": None, "low": None, "high": None, "z": None, "p": None, "verdict": ""}  # fmt: skip
    small = [name for name, x, n in ((name_a, x_a, n_a), (name_b, x_b, n_b))
             if n < MIN_ARM or x < MIN_EXPECTED or n - x < MIN_EXPECTED]  # fmt: skip
    if rate_a is not None and rate_b is not None:
        out["diff"] = rate_b - rate_a
    if small:
        out["verdict"] = (f"Too small to call: {', '.join(small)} has fewer than {MIN_ARM} messages or fewer than "
                          f"{MIN_EXPECTED} successes or failures.")  # fmt: skip
        return out
    low, high = confint_proportions_2indep(x_b, n_b, x_a, n_a, method="wald", compare="diff", alpha=ALPHA)
    z, p = proportions_ztest([x_b, x_a], [n_b, n_a])
    out.update(low=float(low), high=float(high), z=float(z), p=float(p))
    if p < ALPHA:
        better = name_b if out["diff"] > 0 else name_a
        out["verdict"] = f"{better} does better (p = {p:.3f} < {ALPHA})."
    else:
        out["verdict"] = f"No significant difference (p = {p:.3f}); the interval includes 0."
    return out


def _experiments(rows: list[dict[str, Any]], week_start: dt.date) -> list[dict[str, Any]]:
    arms: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for r in rows:
        if r["week_start"] == week_start and r["kpi_id"] == "reattempt_success_rate" and r["dimension"] == "variant":
            template_id, _, variant = str(r["dimension_value"]).rpartition(":")
            arms[template_id].append((variant, int(r["numerator"] or 0), int(r["denominator"] or 0)))
    out = []
    for template_id in sorted(arms):
        found = sorted(arms[template_id])
        comparisons = [compare_arms(found[0], other) for other in found[1:]]
        arms_out = [
            {
                "variant": v,
                "successes": x,
                "messages": n,
                "rate": fmt_value("reattempt_success_rate", x / n if n else None),
            }
            for v, x, n in found
        ]
        out.append({"template_id": template_id, "arms": arms_out, "comparisons": comparisons,
                    "note": "" if comparisons else "Only one arm sent this week: nothing to compare."})  # fmt: skip
    return out


def _findings(conn: duckdb.DuckDBPyConnection, week_start: dt.date) -> list[dict[str, Any]]:
    params = {"check_ids": [c.check_id for c in MESSAGE_CHECKS], "start": week_start,
              "end": week_start + dt.timedelta(days=6)}  # fmt: skip
    found = run_sql(conn, "reports", "sql/messaging_findings.sql", params).fetchall()
    evaluated = {c: (e, f) for c, e, f in run_sql(conn, "reports", "sql/messaging_evaluated.sql", params).fetchall()}
    by_check: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in found:
        by_check[row[0]].append(row)
    out = []
    for check in MESSAGE_CHECKS:
        rows = by_check.get(check.check_id, [])
        ev, _ = evaluated.get(check.check_id, (None, None))
        orders: dict[str, int] = defaultdict(int)
        for r in rows:
            if r[3]:
                orders[r[3]] += 1
        worst = sorted(orders.items(), key=lambda kv: (-kv[1], kv[0]))[:WORST]
        out.append({
            "check_id": check.check_id, "severity": check.severity, "description": check.description,
            "failed": len(rows), "evaluated": ev,
            "sample": [{"entity": r[2], "order": r[3], "day": r[4], "observed": _short(r[5])} for r in rows[:WORST]],
            "worst_orders": [{"order": o, "n": n} for o, n in worst],
        })  # fmt: skip
    return out


def _short(observed: Any) -> str:
    text = observed if isinstance(observed, str) else json.dumps(observed, default=str)
    return text if len(text) <= 160 else text[:157] + "..."


def _charts(kpis: dict[tuple[str, str, str | None], dict[str, Any]], opt_outs: list[tuple[str, str, int]],
            experiments: list[dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    def esc(s: object) -> str:
        return html.escape(str(s))

    channels = sorted(v for (k, d, v) in kpis if k == "message_delivery_rate" and d == "channel" and v)
    delivery = go.Figure(go.Bar(
        x=[esc(c) for c in channels], marker_color=SERIES_COLORS[0],
        y=[kpis[("message_delivery_rate", "channel", c)]["value"] for c in channels],
        text=[fmt_value("message_delivery_rate", kpis[("message_delivery_rate", "channel", c)]["value"])
              for c in channels], textposition="outside"))  # fmt: skip
    _layout(delivery, "Message delivery by channel", yaxis={"tickformat": ".0%", "range": [0, 1.1]})
    sources = sorted({s for s, _, _ in opt_outs})
    opt = go.Figure()
    for i, ch in enumerate(sorted({c for _, c, _ in opt_outs})):
        counts = {s: n for s, c, n in opt_outs if c == ch}
        opt.add_trace(go.Bar(name=esc(ch), x=[esc(s) for s in sources], y=[counts.get(s, 0) for s in sources],
                             marker_color=SERIES_COLORS[i % len(SERIES_COLORS)]))  # fmt: skip
    _layout(opt, "Opt-outs by source and channel", barmode="stack")
    arms = go.Figure()
    for i, e in enumerate(experiments):
        arms.add_trace(go.Bar(name=esc(e["template_id"]), x=[esc(a["variant"]) for a in e["arms"]],
                              y=[a["successes"] / a["messages"] if a["messages"] else None for a in e["arms"]],
                              marker_color=SERIES_COLORS[i % len(SERIES_COLORS)]))  # fmt: skip
    _layout(arms, "Re-attempt success by arm", yaxis={"tickformat": ".0%", "range": [0, 1.05]})
    return {"delivery": _figure_json(delivery), "opt_outs": _figure_json(opt), "arms": _figure_json(arms)}


def build_messaging_report(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    reports_dir: Path,
    week_start: dt.date,
    *,
    now: dt.datetime,
    actor: str,
    audit_dir: Path | None = None,
) -> MessagingReport:
    """Write reports_dir/messaging-YYYY-Www.html for the ISO week starting `week_start` (a Monday).

    Reads kpi_weekly as it is (compute it first, reports.kpi.compute_kpis) and the checks' findings.
    """
    ensure_schema(conn)
    tz = zoneinfo.ZoneInfo(settings.network_timezone)
    previous = week_start - dt.timedelta(weeks=1)
    rows = kpi_rows(conn, [previous, week_start])
    index = {(r["week_start"], r["kpi_id"], r["dimension"], r["dimension_value"]): r for r in rows}
    this = {(k, d, v): r for (w, k, d, v), r in index.items() if w == week_start}
    sent = this.get(("message_delivery_rate", "all", None))
    has_data = bool(sent and sent["denominator"])
    headline = []
    for kpi_id in HEADLINE:
        now_row, before_row = this.get((kpi_id, "all", None)), index.get((previous, kpi_id, "all", None))
        value = now_row["value"] if now_row else None
        before = before_row["value"] if before_row else None
        change, trend = fmt_change(kpi_id, value, before)
        headline.append({"kpi_id": kpi_id, "label": BY_ID[kpi_id].label, "text": fmt_value(kpi_id, value),
                         "value": value, "numerator": now_row["numerator"] if now_row else None,
                         "denominator": now_row["denominator"] if now_row else None,
                         "change": change, "trend": trend, "previous": fmt_value(kpi_id, before)})  # fmt: skip
    by_dim = [
        {"kpi": BY_ID[k].label, "kpi_id": k, "dimension": d, "value": v, "text": fmt_value(k, r["value"]),
         "n": r["denominator"]}
        for (k, d, v), r in sorted(this.items(), key=lambda kv: (kv[0][0], kv[0][1], str(kv[0][2])))
        if d in ("channel", "zone") and k in HEADLINE
    ]  # fmt: skip
    week_end = dt.datetime.combine(week_start + dt.timedelta(days=7), dt.time(), tz)
    params = {"tz": settings.network_timezone, "week_start": week_start, "week_end": week_end}
    opt_outs = [(str(s), str(c), int(n)) for s, c, n in
                run_sql(conn, "reports", "sql/messaging_opt_outs.sql", params).fetchall()]  # fmt: skip
    templates = run_sql(conn, "reports", "sql/messaging_templates.sql", params).fetchall()
    findings = _findings(conn, week_start)
    experiments = _experiments(rows, week_start)
    context = {
        "week": iso_week_label(week_start), "week_start": week_start,
        "week_end_day": week_start + dt.timedelta(days=6), "timezone": settings.network_timezone,
        "generated_at": now.astimezone(tz), "actor": actor, "has_data": has_data,
        "previous_week": iso_week_label(previous), "headline": headline, "by_dim": by_dim,
        "findings": findings, "opt_outs": opt_outs, "opt_out_total": sum(n for _, _, n in opt_outs),
        "templates": [dict(zip(("template_id", "version", "channel", "purpose", "status", "exception_code",
                                "sensitive", "approved_by", "reviewed_by", "approved_at", "body", "messages"), t,
                               strict=True)) for t in templates],
        "experiments": experiments, "min_arm": MIN_ARM, "min_expected": MIN_EXPECTED,
        "kpis": [BY_ID[k] for k in (*HEADLINE, "reattempt_success_rate")],
        "kpi_report": f"kpi-{iso_week_label(week_start)}.html",
        "charts": _script_json(_charts(this, opt_outs, experiments)),
        "plotly_js": Markup(get_plotlyjs()), "plotly_config": _script_json(PLOTLY_CONFIG),
    }  # fmt: skip
    reports_dir.mkdir(parents=True, exist_ok=True)
    html_path = reports_dir / f"{report_stem(week_start)}.html"
    _write_atomic(html_path, _environment().get_template("messaging.html.j2").render(**context))
    size = html_path.stat().st_size
    failed = sum(f["failed"] for f in findings)
    if audit_dir is not None:
        trail = AuditTrail(conn, audit_dir)
        trail.append(actor, "report.messaging", f"report:{report_stem(week_start)}", {
            "week": context["week"], "html": str(html_path), "html_bytes": size, "has_data": has_data,
            "findings": failed, "experiments": len(experiments),
        }, at=now)  # fmt: skip
        trail.checkpoint(at=now)
    return MessagingReport(week_start, str(context["week"]), html_path, size, has_data, len(experiments), failed)
