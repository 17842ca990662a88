"""A retention run killed at every injected point (a real process, os._exit) is completed by the next
run, and no artifact is ever gone without its ledger row."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lastmile.warehouse import connect
from retention.faults import CRASH_ENV, CRASH_EXIT
from tests.retention_kit import DAY, DELIVERED, make_network, open_vault

AS_OF = (DELIVERED + 90 * DAY).isoformat()  # proofs of O1/O3 due, contacts retained
REPO = Path(__file__).resolve().parent.parent


def lastmile(home: Path, *args: str, crash: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LASTMILE_")}
    env.update({"LASTMILE_HOME": str(home), "LASTMILE_ACTOR": "crash-test", "COLUMNS": "200"})
    if crash:
        env[CRASH_ENV] = crash
    return subprocess.run(
        [sys.executable, "-c", "from pipelines.cli import main; main()", "--home", str(home), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def state(home: Path) -> tuple[set[str], dict[str, str], list[tuple[str, str]]]:
    conn = connect(home / "warehouse.duckdb")
    try:
        purged = {
            r[0] for r in conn.execute("SELECT artifact_id FROM vault_artifacts WHERE purged_at IS NOT NULL").fetchall()
        }
        rows = conn.execute("SELECT artifact_id, action FROM retention_ledger").fetchall()
        runs = conn.execute("SELECT run_id, status FROM retention_runs ORDER BY started_at").fetchall()
    finally:
        conn.close()
    return purged, {a: act for a, act in rows}, runs


@pytest.mark.parametrize(
    "point", ["after_intent", "after_key_destroy", "after_blob_delete", "after_kek_mark", "mid_certificate"]
)
def test_killed_run_is_completed_by_the_next(tmp_path, home, settings, point) -> None:  # type: ignore[no-untyped-def]
    conn = connect(home.warehouse)
    make_network(tmp_path, conn, open_vault(home, conn), settings)
    conn.close()
    killed = lastmile(home.root, "retention", "run", "--as-of", AS_OF, crash=point)
    assert killed.returncode == CRASH_EXIT, killed.stderr
    purged, ledger, runs = state(home.root)
    assert len(runs) == 1 and runs[0][1] == "started"
    assert purged <= set(ledger)  # nothing gone without its ledger row
    assert all(ledger[a] in ("purging", "purged") for a in purged)
    first = runs[0][0]
    if point == "mid_certificate":
        cert = home.reports_dir / "retention" / f"{first}.certificate.json"
        assert cert.exists() and not cert.read_text().rstrip().endswith("}")  # half a document

    done = lastmile(home.root, "retention", "run", "--as-of", AS_OF)
    assert done.returncode == 0, done.stderr + done.stdout
    assert f"Completed the unfinished retention run {first}" in done.stdout
    purged, ledger, runs = state(home.root)
    assert [s for _, s in runs] == ["finished", "finished"]
    assert {"P1", "S1", "I1", "P3", "S3", "P2"} == purged
    conn = connect(home.warehouse)
    try:
        first_rows = dict(
            conn.execute("SELECT artifact_id, action FROM retention_ledger WHERE run_id = ?", [first]).fetchall()
        )
        assert {a for a, act in first_rows.items() if act == "purged"} == purged
        assert "purging" not in first_rows.values()
        by = dict(
            conn.execute(
                "SELECT artifact_id, purged_by_run FROM vault_artifacts WHERE purged_at IS NOT NULL"
            ).fetchall()
        )
        assert set(by.values()) == {first}
        keks_alive = conn.execute(
            "SELECT DISTINCT kek_version FROM vault_artifacts WHERE purged_at IS NOT NULL"
        ).fetchall()
    finally:
        conn.close()
    files = {p.name for p in home.keys_dir.iterdir()}
    assert not any(name.startswith(f"kek-v{v}.") for (v,) in keks_alive for name in files)
    for run_id, _ in runs:
        verified = lastmile(
            home.root, "retention", "verify", str(home.reports_dir / "retention" / f"{run_id}.certificate.json")
        )
        assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_reclaim_killed_after_the_run_finished_is_done_by_the_next_run(tmp_path, home, settings) -> None:  # type: ignore[no-untyped-def]
    """Killed while freeing the blocks (the run itself finished, its certificate verifies): no
    retention_reclaims row, so the next run reclaims the first run's ranges as well as its own."""
    conn = connect(home.warehouse)
    make_network(tmp_path, conn, open_vault(home, conn), settings)
    conn.close()
    killed = lastmile(home.root, "retention", "run", "--as-of", AS_OF, crash="mid_reclaim")
    assert killed.returncode == CRASH_EXIT, killed.stderr
    _, _, runs = state(home.root)
    assert [s for _, s in runs] == ["finished"]
    first = runs[0][0]
    verified = lastmile(
        home.root, "retention", "verify", str(home.reports_dir / "retention" / f"{first}.certificate.json")
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr  # ranges read as zeros already
    conn = connect(home.warehouse)
    try:
        assert conn.execute("SELECT count(*) FROM retention_reclaims").fetchone() == (0,)
    finally:
        conn.close()

    done = lastmile(home.root, "retention", "run", "--as-of", AS_OF)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "Pack space freed" in done.stdout and first in done.stdout
    _, _, runs = state(home.root)
    conn = connect(home.warehouse)
    try:
        reclaimed = conn.execute("SELECT run_id, ranges FROM retention_reclaims ORDER BY reclaimed_at, run_id")
        rows = dict(reclaimed.fetchall())
    finally:
        conn.close()
    assert set(rows) == {run_id for run_id, _ in runs} and len(rows) == 2
    assert rows[first] >= 1  # the first run purged blobs (P1, S1, I1, P3, S3)
