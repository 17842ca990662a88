"""The messaging and consent report (CONTRACT §8): statistics, the `lastmile report messaging` verb, and the
page in headless Chromium (no script errors, every chart drawn, headline = kpi_weekly, markup escaped)."""

import datetime as dt
from pathlib import Path

import pytest

from lastmile.settings import Home, load_settings
from lastmile.warehouse import connect
from reports.kpi import kpi_rows
from reports.messaging_report import HEADLINE, compare_arms
from tests.browser import render
from tests.cli_kit import lm, one_line_error
from tests.landing_kit import row, write_csv
from tests.messages_kit import CONSENT, TEMPLATE


def test_two_arms_compared_with_statsmodels() -> None:
    # 45/100 vs 30/100: pooled z = 2.19, p = 0.028; Wald interval of the difference [1.7, 28.3] pp
    c = compare_arms(("a", 30, 100), ("b", 45, 100))
    assert c["diff"] == pytest.approx(0.15)
    assert c["z"] == pytest.approx(2.1909, abs=1e-4) and c["p"] == pytest.approx(0.02846, abs=1e-4)
    assert c["low"] == pytest.approx(0.01743, abs=1e-4) and c["high"] == pytest.approx(0.28257, abs=1e-4)
    assert c["verdict"].startswith("b does better")
    same = compare_arms(("a", 40, 100), ("b", 42, 100))
    assert same["low"] < 0 < same["high"] and same["verdict"].startswith("No significant difference")
    small = compare_arms(("a", 10, 29), ("b", 20, 40))
    assert small["z"] is None and small["verdict"].startswith("Too small to call: a")
    few = compare_arms(("a", 98, 100), ("b", 50, 100))  # 2 failures in a: too few to call
    assert few["p"] is None and "Too small to call" in few["verdict"]


def test_report_messaging_verb_and_page(tmp_path: Path, cli_home: Path) -> None:
    landing = tmp_path / "landing"
    assert lm(cli_home, "generate", str(landing), "--days", "9", "--orders-per-day", "60", "--seed", "3").exit_code == 0
    # markup in a template body and in a consent source must be shown as text, never run
    write_csv(landing / "templates/zz-markup.csv", [row(TEMPLATE, template_id="<img src=x onerror=window.__xss=1>",
                                                        body="<b>bold</b> {tracking}")])  # fmt: skip
    markup_source = "<script>window.__xss=2</script>"
    write_csv(landing / "consents/zz-markup.csv", [row(CONSENT, consent_id="XSS", state="withdrawn",
                                                       at="2026-10-13T12:00:00Z", source=markup_source)])  # fmt: skip
    assert lm(cli_home, "ingest", str(landing)).exit_code == 0
    assert lm(cli_home, "check").exit_code in (0, 1)
    result = lm(cli_home, "report", "messaging", "--week", "2026-W42")
    assert result.exit_code == 0, result.output
    html = Home(cli_home).reports_dir / "messaging-2026-W42.html"
    assert str(html) in result.output.replace("\n", "")
    one_line_error(lm(cli_home, "report", "messaging", "--week", "2026-W99"), "2026-W99")
    # the weekly KPI report has a short messaging panel that links here
    assert lm(cli_home, "report", "kpi", "--week", "2026-W42").exit_code == 0
    kpi_page = (Home(cli_home).reports_dir / "kpi-2026-W42.html").read_text()
    assert 'id="messaging"' in kpi_page and 'href="messaging-2026-W42.html"' in kpi_page

    probe = """() => ({
        charts: Array.from(document.querySelectorAll('.chart')).map(d => ({
            id: d.id, drawn: !!d._fullLayout && d.querySelectorAll('.main-svg').length > 0,
            traces: (d.data || []).length})),
        cards: Array.from(document.querySelectorAll('.card')).map(c => ({
            kpi: c.dataset.kpi, value: c.querySelector('.value').dataset.value})),
        checks: Array.from(document.querySelectorAll('tr[data-check]')).map(r => r.dataset.check),
        verdicts: Array.from(document.querySelectorAll('.verdict')).map(v => v.textContent),
        xss: window.__xss === undefined ? null : window.__xss,
        bolds: document.querySelectorAll('#templates b').length,
    })"""
    page = render(html, tmp_path / "messaging.png", evaluate=probe)
    assert page.errors == [] and page.requests == []
    seen = page.evaluated
    assert isinstance(seen, dict)
    assert seen["xss"] is None and seen["bolds"] == 0
    assert "<b>bold</b> {tracking}" in page.text and "<script>window.__xss=2</script>" in page.text
    assert [c["id"] for c in seen["charts"]] == ["chart-delivery", "chart-opt-outs", "chart-arms"]
    assert all(c["drawn"] and c["traces"] > 0 for c in seen["charts"]), seen["charts"]
    assert len(seen["checks"]) == 11
    assert seen["verdicts"] and all("arm" in v or "call" in v or "difference" in v for v in seen["verdicts"])
    settings = load_settings(cli_home, environ={})
    conn = connect(Home(cli_home).warehouse, settings.network_timezone)
    try:
        expected = {r["kpi_id"]: r["value"] for r in kpi_rows(conn, [dt.date(2026, 10, 12)]) if r["dimension"] == "all"}
    finally:
        conn.close()
    assert [c["kpi"] for c in seen["cards"]] == list(HEADLINE)
    for card in seen["cards"]:
        want = expected[card["kpi"]]
        assert want is not None and float(card["value"]) == pytest.approx(want), card
