"""The weekly KPI report: files, escaping, data-quality marks, audit, the browser, the command, Dagster."""

import csv
import datetime as dt
from pathlib import Path

import dagster as dg
import pytest
from click.testing import Result
from plotly.offline import get_plotlyjs

from lastmile.audit import AuditTrail
from lastmile.settings import Settings
from quality_checks import run_checks
from reports.kpi import compute_kpis, kpi_rows, trend_weeks
from reports.kpi_report import HEADLINE, build_kpi_report, fmt_value
from tests.browser import render
from tests.cli_kit import one_line_error, run
from tests.conftest import NOW
from tests.landing_kit import write_blob, write_csv
from tests.test_kpi import EVENTS, ORDERS, PROOFS, A, B, C, ev, load, order

MIB = 1024 * 1024
ZONE_XSS = '<img src=x onerror="window.__xss=1">'
COURIER_XSS = "</script><script>window.__xss=2</script>"
FORMULA = '=HYPERLINK("http://evil")'


def marked_orders() -> list[dict[str, str]]:
    return [*ORDERS, order("M1", ZONE_XSS), order("M2", FORMULA)]


def marked_events() -> list[dict[str, str]]:
    return [*EVENTS,
            ev("M1-del", "M1", "delivered", "2026-10-06T10:00:00+00:00", courier=COURIER_XSS),
            ev("M2-att", "M2", "delivery_attempted", "2026-10-06T10:00:00+00:00", courier="C2",
               code="<b>bold</b>")]  # fmt: skip


@pytest.fixture
def built(tmp_path, warehouse, vault, settings, home):  # type: ignore[no-untyped-def]
    load(tmp_path, warehouse, vault, settings, orders=marked_orders(), events=marked_events())
    run_checks(warehouse, settings, run_id="all-checks", now=NOW)
    compute_kpis(warehouse, settings)
    return build_kpi_report(warehouse, settings, home.reports_dir, A, now=NOW, actor="tester",
                            audit_dir=home.audit_dir)  # fmt: skip


def test_report_files_and_self_containment(built, warehouse) -> None:  # type: ignore[no-untyped-def]
    assert built.html_path.name == "kpi-2026-W41.html" and built.csv_path.name == "kpi-2026-W41.csv"
    page = built.html_path.read_text(encoding="utf-8")
    assert built.has_data and built.html_bytes == built.html_path.stat().st_size < 5 * MIB
    plotly_js = get_plotlyjs()
    assert page.count(plotly_js) == 1  # plotly.js inlined once
    rest = page.replace(plotly_js, "")
    assert rest.count("<script") == 2  # plotly.js, then the figures
    assert "http" not in rest.replace("http://evil", "") and "<script src" not in rest and "<link" not in rest
    with built.csv_path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(kpi_rows(warehouse, trend_weeks(A)))
    first = next(r for r in rows if r["kpi_id"] == "first_attempt_delivery_rate" and r["dimension"] == "all"
                 and r["week_start"] == A.isoformat())  # fmt: skip
    assert (first["iso_week"], first["numerator"], first["denominator"]) == ("2026-W41", "3", "8")
    assert float(first["value"]) == 3 / 8
    assert any(r["dimension_value"] == "'" + FORMULA for r in rows)  # a spreadsheet reads it as text


def test_every_data_value_is_escaped(built) -> None:  # type: ignore[no-untyped-def]
    page = built.html_path.read_text(encoding="utf-8")
    assert ZONE_XSS not in page and COURIER_XSS not in page and "<b>bold</b>" not in page
    assert "&lt;img src=x onerror=&#34;window.__xss=1&#34;&gt;" in page
    assert "window.__xss=2" in page  # as escaped text in a table cell, and \u003c-escaped in the chart JSON
    assert "\\u003c/script\\u003e" in page or "&lt;/script&gt;" in page


def test_data_quality_panel_marks_kpis_with_failing_error_checks(built) -> None:  # type: ignore[no-untyped-def]
    # the orphan OX fails event.orphan (error) in week A: every order-based KPI is marked, latency is not
    assert "event.orphan" in built.flagged["first_attempt_delivery_rate"]
    assert "event.orphan" in built.flagged["attempt_failure_share"]
    assert "event.orphan" not in built.flagged.get("event_latency_p50_s", [])
    # proof.missing is what proof compliance measures, not a defect in its inputs
    assert "proof.missing" not in built.flagged.get("proof_compliance_rate", [])
    page = built.html_path.read_text(encoding="utf-8")
    assert 'id="dq-errors"' in page and "event.orphan" in page


def test_unchecked_days_mark_every_kpi(tmp_path, warehouse, vault, settings, home) -> None:  # type: ignore[no-untyped-def]
    load(tmp_path, warehouse, vault, settings)  # only proof.missing ran
    warehouse.execute("DELETE FROM dq_check_runs")
    compute_kpis(warehouse, settings)
    result = build_kpi_report(warehouse, settings, home.reports_dir, A, now=NOW, actor="t")
    assert set(result.flagged) >= set(HEADLINE)
    # week A has data on 5 days (events 5-8 Oct and Sunday 11 Oct)
    assert "The checks have not run for 5 days with data" in result.html_path.read_text(encoding="utf-8")


def test_report_generation_is_audited(built, warehouse, home) -> None:  # type: ignore[no-untyped-def]
    trail = AuditTrail(warehouse, home.audit_dir)
    entries = trail.entries(subject="report:kpi-2026-W41")
    assert [(e.actor, e.action) for e in entries] == [("tester", "report.kpi")]
    assert entries[0].details["definition_version"] == built.definition_version
    assert trail.verify().ok and trail.checkpoints()


def test_a_week_without_data_says_so(tmp_path, warehouse, vault, settings, home) -> None:  # type: ignore[no-untyped-def]
    load(tmp_path, warehouse, vault, settings)
    compute_kpis(warehouse, settings)
    result = build_kpi_report(warehouse, settings, home.reports_dir, dt.date(2026, 11, 2), now=NOW, actor="t")
    assert not result.has_data
    text = render(result.html_path).text
    assert "No data for 2026-W45" in text
    assert "no KPIs to report" in text


def test_report_in_the_browser(built, warehouse, tmp_path) -> None:  # type: ignore[no-untyped-def]
    probe = """() => ({
        charts: Array.from(document.querySelectorAll('.chart')).map(d => ({
            id: d.id, drawn: !!d._fullLayout && d.querySelectorAll('.main-svg').length > 0,
            traces: (d.data || []).length})),
        cards: Array.from(document.querySelectorAll('.card')).map(c => ({
            kpi: c.dataset.kpi, value: c.dataset.value, text: c.querySelector('.value').textContent.trim(),
            flagged: c.classList.contains('flagged')})),
        xss: window.__xss === undefined ? null : window.__xss,
    })"""
    shot = tmp_path / "kpi.png"
    page = render(built.html_path, shot, evaluate=probe)
    assert page.errors == []
    assert page.requests == []  # nothing loaded from the network, and the <img> payload never rendered
    seen = page.evaluated
    assert isinstance(seen, dict)
    assert seen["xss"] is None
    assert [c["id"] for c in seen["charts"]] == ["chart-rates", "chart-volume", "chart-latency", "chart-zones",
                                                 "chart-failures"]  # fmt: skip
    assert all(c["drawn"] and c["traces"] > 0 for c in seen["charts"]), seen["charts"]
    expected = {r["kpi_id"]: r["value"] for r in kpi_rows(warehouse, [A]) if r["dimension"] == "all"}
    assert [c["kpi"] for c in seen["cards"]] == list(HEADLINE)
    for card in seen["cards"]:
        want = expected[card["kpi"]]
        assert card["text"] == fmt_value(card["kpi"], want)
        assert (float(card["value"]) if card["value"] else None) == (pytest.approx(want) if want is not None else None)
    assert shot.stat().st_size > 50_000
    assert ZONE_XSS in page.text  # shown as text


# ---------------------------------------------------------------------------------------------- command


def assert_one_line_error(result: Result, *fragments: str) -> None:
    one_line_error(result, *fragments)


def test_command_help_and_bad_weeks(cli_home: Path) -> None:
    assert run("report", "kpi", "--help").exit_code == 0
    assert "--week" in run("report", "kpi", "--help").output
    assert_one_line_error(run("report", "kpi", "--week", "2026-41"), "not an ISO week")
    assert_one_line_error(run("report", "kpi", "--week", "2021-W53"), "no ISO week 53")
    assert_one_line_error(run("report", "kpi", "--week", "2999-W01"), "outside the weekly partitions")
    assert run("report", "kpi").exit_code == 2  # --week is required


def test_command_end_to_end(cli_home: Path, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    write_blob(landing, "p.jpg")
    write_csv(landing / "orders/a.csv", ORDERS)
    write_csv(landing / "events/a.csv", EVENTS)
    write_csv(landing / "proofs/a.csv", PROOFS)
    assert run("ingest", str(landing)).exit_code == 0
    run("check")  # exit 1: the orphan fails an error check
    result = run("report", "kpi", "--week", "2026-W41")
    assert result.exit_code == 0, result.output + result.stderr
    html = cli_home / "reports" / "kpi-2026-W41.html"
    assert html.is_file() and (cli_home / "reports" / "kpi-2026-W41.csv").is_file()
    assert str(html) in result.output
    assert "33.3%" in result.output  # first-attempt delivery 2 of 6, printed with its mark
    empty = run("report", "kpi", "--week", "2026-W45")
    assert empty.exit_code == 0 and "No data for 2026-W45" in empty.output

    from lastmile.warehouse import connect

    conn = connect(cli_home / "warehouse.duckdb", read_only=True)
    try:
        weeks = {w for (w,) in conn.execute("SELECT DISTINCT week_start FROM kpi_weekly").fetchall()}
        actions = conn.execute("SELECT action, subject FROM audit_entries ORDER BY seq").fetchall()
    finally:
        conn.close()
    assert weeks == {A, B, C}  # the trend weeks with data (W45's trend reaches back to C); W45 had none
    assert ("report.kpi", "report:kpi-2026-W41") in actions
    assert ("kpi.compute", "kpi_weekly:2026-W41") in actions


# ----------------------------------------------------------------------------------------------- dagster


def test_weekly_partitions_and_schedule_follow_the_network_timezone(cli_home: Path) -> None:
    cli_home.mkdir(parents=True)
    (cli_home / "settings.yaml").write_text("network_timezone: America/New_York\n", encoding="utf-8")
    from pipelines.definitions import defs as load_definitions
    from pipelines.defs.reports.assets import previous_week_key

    defs = load_definitions()
    partitions = defs.resolve_assets_def("kpi_weekly").partitions_def
    assert isinstance(partitions, dg.WeeklyPartitionsDefinition)
    assert partitions.timezone == "America/New_York"
    assert partitions.get_first_partition_key() == "2019-12-30"  # the Monday of the week of 2020-01-01
    assert dt.date.fromisoformat(partitions.get_first_partition_key()).weekday() == 0
    job = defs.resolve_job_def("kpi_report_job")
    assert job.asset_layer.executable_asset_keys == {dg.AssetKey("kpi_weekly"), dg.AssetKey("kpi_report")}
    schedule = defs.resolve_schedule_def("kpi_report_job_schedule")
    assert schedule.cron_schedule == "0 6 * * 1" and schedule.execution_timezone == "America/New_York"
    monday = dt.datetime(2026, 10, 19, 6, 0, tzinfo=dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=-4)))
    with dg.build_schedule_context(scheduled_execution_time=monday) as context:
        request = schedule(context)
    assert isinstance(request, dg.RunRequest) and request.partition_key == "2026-10-12"
    # Monday 01:00 UTC is still Sunday in New York: the week that ended is the one before
    settings = Settings(network_timezone="America/New_York")
    assert previous_week_key(dt.datetime(2026, 10, 19, 1, 0, tzinfo=dt.UTC), settings) == "2026-10-05"
    assert previous_week_key(dt.datetime(2026, 10, 19, 1, 0, tzinfo=dt.UTC), Settings()) == "2026-10-12"
    upstream = {k.to_user_string() for k in defs.resolve_assets_def("kpi_weekly").dependency_keys}
    assert upstream == {"orders", "events", "proofs"}
    assert B.isoformat() in partitions.get_partition_keys()


def test_returns_section_shows_the_return_kpis_by_zone_and_flags_them(tmp_path, warehouse, vault, settings, home):  # type: ignore[no-untyped-def]
    from tests.test_kpi import RETURN_EVENTS, RETURN_PROOFS, RETURNS

    load(tmp_path, warehouse, vault, settings, orders=RETURNS + ORDERS, events=EVENTS + RETURN_EVENTS,
         proofs=PROOFS + RETURN_PROOFS)  # fmt: skip
    run_checks(warehouse, settings, run_id="all-checks", now=NOW)
    compute_kpis(warehouse, settings)
    result = build_kpi_report(warehouse, settings, home.reports_dir, A, now=NOW, actor="t")
    # the orphan OX (event.orphan, error) is an input defect of every order-based KPI, the return KPIs included;
    # return.acceptance_missing is what acceptance_proof_rate measures, never a mark on it
    assert "event.orphan" in result.flagged["first_attempt_pickup_rate"]
    assert "event.orphan" in result.flagged["return_cycle_p50_h"]
    assert "return.acceptance_missing" not in result.flagged.get("acceptance_proof_rate", [])
    page = render(result.html_path)
    section = page.text[page.text.index("Returns") :]
    assert "First-attempt pickup" in section and "66.7%" in section  # R1 and R3 of R1, R2, R3
    assert "Acceptance proof" in section and "33.3%" in section  # only R1's photo is within 30 min
    assert "38.0 h" in section  # median of 50 h and 26 h
    html = result.html_path.read_text(encoding="utf-8")
    table = html[html.index('id="returns-zone-table"') :]
    table = table[: table.index("</table>")]
    assert "Z1" in table and "Z2" in table and "50.0 h" in table
    assert 'data-kpi="first_attempt_pickup_rate"' in html
