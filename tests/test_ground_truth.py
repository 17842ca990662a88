"""Detection scored against the generator's ground truth: quarantine and every check, exactly.

Landing folders generated with three seeds and two sizes are ingested and checked; what lastmile
finds must equal `ground_truth.jsonl` exactly (precision and recall 1.0 for every check and reason).
"""

import datetime as dt
import json
from collections import defaultdict
from pathlib import Path

import pytest

from lastmile.generator import generate
from lastmile.settings import Settings
from lastmile.warehouse import connect
from quality_checks import CHECKS, run_checks
from tests.conftest import NOW
from tests.test_ingest import ingest

CASES = [(1, 4, 40), (2, 4, 40), (3, 4, 40), (4, 9, 90)]  # (seed, days, orders_per_day)


def score(name: str, expected: set, found: set) -> str:  # type: ignore[type-arg]
    hit = len(expected & found)
    precision = hit / len(found) if found else 1.0
    recall = hit / len(expected) if expected else 1.0
    return f"{name:32s} expected {len(expected):4d} found {len(found):4d} precision {precision:.3f} recall {recall:.3f}"


@pytest.mark.parametrize(("seed", "days", "per_day"), CASES)
def test_findings_equal_ground_truth(tmp_path: Path, home, seed: int, days: int, per_day: int) -> None:
    landing = tmp_path / "landing"
    summary = generate(landing, days=days, orders_per_day=per_day, seed=seed, timezone="UTC")
    truth = [json.loads(line) for line in (landing / "ground_truth.jsonl").read_text().splitlines()]
    settings = Settings()
    conn = connect(home.warehouse, settings.network_timezone)
    from lastmile.vault import Vault
    from lastmile.vault.keyring import open_keyring

    vault = Vault(conn, home.vault_dir, open_keyring(home.keys_dir, environ={}))
    ingest(conn, landing, vault, settings)
    run_checks(conn, settings, run_id="gt", now=NOW, as_of=summary.as_of)

    report = []
    mismatches = []
    expected_q = defaultdict(set)
    for t in truth:
        if t["type"] == "quarantine":
            expected_q[t["reason"]].add((t["file"], t["row_number"]))
    found_q = defaultdict(set)
    for reason, path, row in conn.execute("SELECT reason, path, row_number FROM quarantine").fetchall():
        found_q[reason].add((path, row))
    for reason in sorted(set(expected_q) | set(found_q)):
        report.append(score(f"quarantine.{reason}", expected_q[reason], found_q[reason]))
        if expected_q[reason] != found_q[reason]:
            mismatches.append((reason, sorted(expected_q[reason] ^ found_q[reason])[:5]))

    expected_c = defaultdict(set)
    for t in truth:
        if t["type"] == "check":
            expected_c[t["check_id"]].add((t["entity_id"], t["partition_date"]))
    found_c = defaultdict(set)
    for check_id, entity, day in conn.execute(
        "SELECT check_id, entity_id, partition_date FROM dq_findings WHERE run_id = 'gt'"
    ).fetchall():
        found_c[check_id].add((entity, day.isoformat() if isinstance(day, dt.date) else day))
    for check in CHECKS:
        cid = check.check_id
        report.append(score(cid, expected_c[cid], found_c[cid]))
        if expected_c[cid] != found_c[cid]:
            mismatches.append((cid, sorted(expected_c[cid] ^ found_c[cid])[:5]))
    print(f"\nseed {seed}, {days} days x {per_day} orders/day, as_of {summary.as_of}")
    print("\n".join(report))
    conn.close()
    assert mismatches == []
    # every check and every quarantine reason was exercised on the larger size
    if days >= 9:
        assert {c.check_id for c in CHECKS} <= {k for k, v in expected_c.items() if v}
