"""`lastmile check` and `lastmile report kpi` killed part-way (a real process, injected os._exit points), then
run again: findings, check-run history of finished runs and kpi_weekly equal a clean run's, and the killed
run's partial history is never marked finished."""

import shutil
from pathlib import Path
from typing import Any

import pytest

from lastmile.faults import CRASH_EXIT
from lastmile.generator import generate
from lastmile.warehouse import connect
from quality_checks import CHECKS
from quality_checks.expectations import DAILY_SUITE_TABLES, WHOLE_SUITE_TABLES
from tests.crash_kit import audit_ok, lastmile, rows

AS_OF = "2026-10-07T18:00:00Z"
WEEK = "2026-W41"
PARTITION_STEPS = len([c for c in CHECKS if c.scope == "partition"]) + len(DAILY_SUITE_TABLES)
# the suites of the tables kept whole (consents, templates) run at as_of with the window checks
WINDOW_STEPS = len([c for c in CHECKS if c.scope == "window"]) + len(WHOLE_SUITE_TABLES)


def finished_history(home: Path, run_ids: list[str] | None = None) -> dict[str, list[Any]]:
    """dq_findings, and the dq_check_runs rows of runs that finished (of `run_ids` when given), without
    run ids and times."""
    out = rows(home, ("dq_findings",))
    conn = connect(home / "warehouse.duckdb")
    try:
        out["dq_check_runs"] = conn.execute(
            "SELECT check_id, partition_date, evaluated, failed, as_of FROM dq_check_runs"
            " WHERE run_id IN (SELECT run_id FROM dq_runs WHERE finished_at IS NOT NULL)"
            " AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], run_id)) ORDER BY ALL",
            [run_ids, run_ids],
        ).fetchall()
    finally:
        conn.close()
    return out


def runs(home: Path) -> list[tuple[str, bool, int]]:
    """(run_id, finished, history rows) of every run of checks, oldest first."""
    conn = connect(home / "warehouse.duckdb")
    try:
        return conn.execute(
            "SELECT r.run_id, r.finished_at IS NOT NULL, (SELECT count(*) FROM dq_check_runs h WHERE h.run_id ="
            " r.run_id) FROM dq_runs r ORDER BY r.started_at"
        ).fetchall()
    finally:
        conn.close()


def copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An ingested home, the same home checked (clean), and that checked home with its KPIs (clean)."""
    root = tmp_path_factory.mktemp("check-crash")
    generate(root / "landing", days=2, orders_per_day=24, seed=3)
    ingested = root / "ingested"
    assert lastmile(ingested, "ingest", str(root / "landing")).returncode == 0
    checked = copy(ingested, root / "checked")
    done = lastmile(checked, "check", "--as-of", AS_OF)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    with_kpis = copy(checked, root / "with-kpis")
    report = lastmile(with_kpis, "report", "kpi", "--week", WEEK)
    assert report.returncode == 0, report.stderr[-2000:]
    return {
        "ingested": ingested, "checked": checked, "history": finished_history(checked),
        "kpis": rows(with_kpis, ("kpi_weekly",))["kpi_weekly"],
    }  # fmt: skip


def test_a_clean_check_run_is_finished(homes: dict[str, Any]) -> None:
    assert [finished for _, finished, _ in runs(homes["checked"])] == [True, True]
    conn = connect(homes["checked"] / "warehouse.duckdb")
    try:
        asked = [len(e) for (e,) in conn.execute("SELECT checks_expected FROM dq_runs ORDER BY started_at").fetchall()]
    finally:
        conn.close()
    assert asked == [PARTITION_STEPS, WINDOW_STEPS]  # every check of each job, so a part of one never finishes it
    assert homes["history"]["dq_check_runs"] and homes["kpis"]
    # `lastmile check` runs every suite, the §8 tables' included (consents and templates at as_of)
    suites = {r[0] for r in homes["history"]["dq_check_runs"] if r[0].startswith("expectations.")}
    assert suites == {f"expectations.{t}" for t in (*DAILY_SUITE_TABLES, *WHOLE_SUITE_TABLES)}


CHECK_POINTS = [
    "check.after_record:1",  # one check's findings and history committed, not yet audited
    f"check.after_record:{PARTITION_STEPS // 2}",  # half the partition checks done
    f"check.after_audit:{PARTITION_STEPS}",  # every partition check recorded, the run not yet marked finished
    f"check.after_record:{PARTITION_STEPS + WINDOW_STEPS // 2}",  # partition run finished, window run part-way
]


@pytest.mark.parametrize("point", CHECK_POINTS)
def test_a_killed_check_is_redone_by_the_next(homes: dict[str, Any], tmp_path: Path, point: str) -> None:
    home = copy(homes["ingested"], tmp_path / "home")
    killed = lastmile(home, "check", "--as-of", AS_OF, crash=point)
    assert killed.returncode == CRASH_EXIT, killed.stderr[-2000:]
    before = runs(home)
    assert before and not before[-1][1]  # the killed run is not finished ...
    assert before[-1][2] >= 1  # ... though some of its history is there
    rerun = lastmile(home, "check", "--as-of", AS_OF)
    assert rerun.returncode in (0, 1), rerun.stderr[-2000:]
    after = runs(home)
    assert after[: len(before)] == before  # history is kept, and the killed run stays unfinished
    assert [finished for _, finished, _ in after[len(before) :]] == [True, True]
    # the rerun's history equals a clean run's (a job of the killed command that did finish stays history)
    assert finished_history(home, [r for r, _, _ in after[len(before) :]]) == homes["history"]
    audit_ok(home)


@pytest.mark.parametrize("point", ["kpi.after_compute", "kpi.after_audit"])
def test_a_killed_kpi_report_is_redone_by_the_next(homes: dict[str, Any], tmp_path: Path, point: str) -> None:
    home = copy(homes["checked"], tmp_path / "home")
    killed = lastmile(home, "report", "kpi", "--week", WEEK, crash=point)
    assert killed.returncode == CRASH_EXIT, killed.stderr[-2000:]
    rerun = lastmile(home, "report", "kpi", "--week", WEEK)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert rows(home, ("kpi_weekly",))["kpi_weekly"] == homes["kpis"]
    assert (home / "reports" / f"kpi-{WEEK}.html").is_file()
    audit_ok(home)
