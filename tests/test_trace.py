"""`lastmile audit trace`: a generated order traced through a failed attempt, a re-attempt and delivery,
every element of the trace asserted against the warehouse; the HTML in headless Chromium; escaping."""

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from lastmile.audit import Checkpoint, verify_checkpoint, verify_inclusion
from lastmile.codes import EXCEPTION_ATTRIBUTION
from tests.browser import render
from tests.cli_kit import build_home, copy_home, lm, use_home
from tests.landing_kit import EVENT, ORDER, PROOF, row, write_blob, write_csv
from tests.test_audit_cli import one_error, query


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_home(tmp_path_factory.mktemp("trace"), check=True)


@pytest.fixture
def home(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = copy_home(template, tmp_path, monkeypatch)
    (root / "access.yaml").write_text("auditor: [alice]\nops_viewer: [carol]\n", encoding="utf-8")
    return root


def reattempted_order(home: Path) -> str:
    """An order of the generated data whose story is: a failed attempt, a fresh out_for_delivery, delivered."""
    rows = query(
        home,
        """SELECT order_id FROM intake_events GROUP BY order_id
           HAVING min(occurred_at) FILTER (WHERE status = 'delivery_attempted' AND exception_code IS NOT NULL)
                < max(occurred_at) FILTER (WHERE status = 'out_for_delivery')
              AND max(occurred_at) FILTER (WHERE status = 'out_for_delivery')
                < min(occurred_at) FILTER (WHERE status = 'delivered')
              AND count(*) FILTER (WHERE status = 'delivery_attempted') = 1
              AND order_id IN (SELECT order_id FROM orders)
              AND order_id IN (SELECT order_id FROM intake_proofs)
           ORDER BY order_id IN (SELECT order_id FROM dq_findings) DESC, order_id LIMIT 1""",
    )
    assert rows, "the generated network has no re-attempted delivery"
    return str(rows[0][0])


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def trace_json(home: Path, order_id: str) -> dict[str, Any]:
    out = home / f"{order_id}.json"
    result = lm(home, "audit", "trace", order_id, "--format", "json", "--out", str(out))
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return data


def test_trace_of_a_failed_attempt_a_reattempt_and_delivery(home: Path) -> None:
    order_id = reattempted_order(home)
    t = trace_json(home, order_id)
    assert t["order_id"] == order_id and t["network_timezone"] == "UTC"

    # the order and its revisions, each with the file and row it came from
    revs = query(home, "SELECT r.revision, r.address_line, r.postcode, r.service_type, f.path, r.row_number "
                       "FROM order_revisions r JOIN ingest_files f USING (file_id) WHERE order_id = ? "
                       "ORDER BY revision", [order_id])  # fmt: skip
    assert [(r["revision"], r["address_line"], r["postcode"], r["service_type"], r["file_path"], r["row_number"])
            for r in t["revisions"]] == [tuple(r) for r in revs]  # fmt: skip
    assert t["order"] == t["revisions"][-1] and t["revisions"][0]["changes"] == []
    assert not any(k.endswith("_hash") and k != "content_hash" for k in t["order"])  # no contact hashes shown

    # every event, in time order, with source, code and attribution
    events = query(home, "SELECT event_id, status, exception_code, source, occurred_at FROM intake_events "
                         "WHERE order_id = ? ORDER BY occurred_at, recorded_at, event_id", [order_id])  # fmt: skip
    assert [(e["event_id"], e["status"], e["exception_code"], e["source"], e["occurred_at"]) for e in t["events"]] == [
        (eid, status, code, source, iso(at)) for eid, status, code, source, at in events
    ]
    statuses = [e["status"] for e in t["events"]]
    failed = statuses.index("delivery_attempted")
    assert "out_for_delivery" in statuses[failed + 1 :]
    assert statuses.index("delivered") > failed + statuses[failed + 1 :].index("out_for_delivery")
    attempt = t["events"][failed]
    assert attempt["attribution"] == EXCEPTION_ATTRIBUTION[attempt["exception_code"]]
    assert all(e["attribution"] is None for e in t["events"] if not e["exception_code"])

    # the outcome
    delivered = next(e for e in t["events"] if e["status"] == "delivered")
    assert t["outcome"] == {
        "outcome": "delivered", "status": "delivered", "at": delivered["occurred_at"],
        "event_id": delivered["event_id"], "attempts": 2, "failed_attempts": 1,
        "exceptions": [attempt["exception_code"]],
    }  # fmt: skip

    # proofs and their retention state
    proofs = query(
        home,
        """SELECT p.proof_id, p.kind, v.purged_at IS NULL FROM intake_proofs p
           LEFT JOIN vault_artifacts v ON v.artifact_id = p.blob_artifact_id
           WHERE p.order_id = ? ORDER BY captured_at, proof_id""",
        [order_id],
    )
    assert [(p["proof_id"], p["kind"]) for p in t["proofs"]] == [(pid, kind) for pid, kind, _ in proofs]
    assert all(p["retention"]["state"] in ("sealed", "no blob") for p in t["proofs"])
    assert t["contact"]["artifact_id"] == f"contact:{order_id}" and t["contact"]["state"] == "sealed"

    # data-quality findings and quarantined rows naming it
    findings = query(home, "SELECT check_id, entity_id FROM dq_findings WHERE order_id = ? OR entity_id = ?",
                     [order_id, order_id])  # fmt: skip
    assert findings and sorted((f["check_id"], f["entity_id"]) for f in t["findings"]) == sorted(findings)
    quarantined = query(home, "SELECT quarantine_id FROM quarantine WHERE order_id = ? OR entity_id = ?",
                        [order_id, order_id])  # fmt: skip
    assert sorted(q["quarantine_id"] for q in t["quarantine"]) == sorted(q for (q,) in quarantined)

    # the audit entries that touched it: the ingest of every file its rows came from, and this trace
    sources = """SELECT DISTINCT f.path FROM ingest_files f WHERE f.file_id IN (
                     SELECT file_id FROM order_revisions WHERE order_id = $1
                     UNION SELECT file_id FROM intake_events WHERE order_id = $1
                     UNION SELECT file_id FROM intake_proofs WHERE order_id = $1)"""
    files = {p for (p,) in query(home, sources, [order_id])}
    audit = t["audit"]
    subjects = [(e["action"], e["subject"]) for e in audit["entries"]]
    assert {s for a, s in subjects if a == "ingest.file"} == {f"file:{p}" for p in files}
    assert subjects[-1] == ("audit.trace", f"order:{order_id}")
    assert audit["entries"][-1]["actor"] == "alice" and audit["entries"][-1]["details"]["format"] == "json"

    # each with an inclusion proof that verifies, independently, against the signed checkpoint
    cp = audit["checkpoint"]
    public = (home / "audit" / "signing-key.pub").read_bytes()
    assert audit["public_key_pem"] == public.decode()
    checkpoint = Checkpoint(cp["tree_size"], bytes.fromhex(cp["root_hash"]), dt.datetime.fromisoformat(cp["signed_at"]),
                            cp["key_id"], bytes.fromhex(cp["signature"]))  # fmt: skip
    assert cp["signature_valid"] and verify_checkpoint(checkpoint, public)
    assert cp["tree_size"] == audit["log_size"]
    for entry in audit["entries"]:
        leaf = hashlib.sha256(b"\x00" + entry["canonical"].encode()).digest()
        assert leaf.hex() == entry["leaf_hash"] and json.loads(entry["canonical"])["seq"] == entry["seq"]
        path = [bytes.fromhex(h) for h in entry["inclusion_proof"]]
        assert verify_inclusion(leaf, entry["seq"], checkpoint.tree_size, path, checkpoint.root_hash)
        assert entry["included"] is True
        bad = [bytes(32), *path[1:]] if path else [bytes(32)]
        assert not verify_inclusion(leaf, entry["seq"], checkpoint.tree_size, bad, checkpoint.root_hash)

    # the timeline: everything above in time order
    times = [dt.datetime.fromisoformat(i["at"]) for i in t["timeline"]]
    assert times == sorted(times)
    refs = {i["ref"] for i in t["timeline"]}
    assert {e["event_id"] for e in t["events"]} <= refs and {p["proof_id"] for p in t["proofs"]} <= refs
    assert {f"entry {e['seq']}" for e in audit["entries"]} <= refs


def test_trace_html_reads_well_in_chromium(home: Path, tmp_path: Path) -> None:
    order_id = reattempted_order(home)
    result = lm(home, "audit", "trace", order_id)
    assert result.exit_code == 0, result.output
    page = home / "reports" / f"trace-{order_id}.html"
    assert f"written to {page}" in result.stdout
    t = trace_json(home, order_id)
    shot = tmp_path / "trace.png"
    shown = render(page, shot, evaluate="document.scripts.length")
    assert shown.errors == [] and shown.requests == [] and shown.evaluated == 0
    text = shown.text
    assert f"Order {order_id}" in text and "delivered" in text
    assert "2 (1 failed)" in text
    attempt = next(e for e in t["events"] if e["status"] == "delivery_attempted")
    assert f"delivery_attempted {attempt['exception_code']} ({attempt['attribution']}) via" in text
    for e in t["events"]:
        assert e["event_id"] in text and e["occurred_at"] in text
    for p in t["proofs"]:
        assert p["proof_id"] in text
    assert t["order"]["address_line"] in text
    assert "signature valid" in text and text.count("proved") >= len(t["audit"]["entries"]) - 1
    assert shot.stat().st_size > 10_000


def test_trace_json_goes_to_standard_output(home: Path) -> None:
    order_id = reattempted_order(home)
    result = lm(home, "audit", "trace", order_id, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["outcome"]["outcome"] == "delivered"


def test_unknown_order_is_one_line(home: Path) -> None:
    one_error(lm(home, "audit", "trace", "NO-SUCH-ORDER"), "order 'NO-SUCH-ORDER' is unknown")


def test_trace_needs_a_role_and_refusals_are_logged(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    order_id = reattempted_order(home)
    monkeypatch.setenv("LASTMILE_ACTOR", "carol")  # an ops viewer may trace
    assert lm(home, "audit", "trace", order_id, "--format", "json").exit_code == 0
    monkeypatch.setenv("LASTMILE_ACTOR", "mallory")
    one_error(lm(home, "audit", "trace", order_id), "refused: mallory holds no role", "(the refusal is logged)")
    logged = query(home, "SELECT actor, json_extract_string(details, '$.outcome') FROM audit_entries "
                         "WHERE action = 'audit.trace' ORDER BY seq")  # fmt: skip
    assert logged == [("carol", "traced"), ("mallory", "refused")]


# ----------------------------------------------------------- a corrected address, markup in the data, a hold


SCRIPT = "<script>document.title='pwned'</script> 1 High Street"


def hand_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    landing = tmp_path / "landing"
    write_csv(landing / "orders" / "a.csv", [row(ORDER, address_line=SCRIPT)])
    write_csv(landing / "orders" / "b.csv", [row(ORDER, address_line="2 High Street", postcode="E1 6AA")])
    write_csv(landing / "events" / "e.csv", [
        row(EVENT, event_id="E1", status="out_for_delivery", occurred_at="2026-10-05T10:00:00Z"),
        row(EVENT, event_id="E2", status="delivery_attempted", exception_code="address_not_found",
            occurred_at="2026-10-05T10:20:00Z", recorded_at="2026-10-05T10:21:00Z"),
        row(EVENT, event_id="E3", status="returned_to_sender", occurred_at="2026-10-06T09:00:00Z",
            recorded_at="2026-10-06T09:01:00Z"),
    ])  # fmt: skip
    write_csv(landing / "proofs" / "p.csv", [row(PROOF)])
    write_blob(landing, "p1.jpg")
    home = use_home(tmp_path / "home", monkeypatch, actor="alice")
    assert lm(home, "ingest", str(landing)).exit_code == 0
    (home / "access.yaml").write_text("compliance_officer: [alice]\n", encoding="utf-8")
    return home


def test_address_correction_and_markup_are_shown_as_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = hand_home(tmp_path, monkeypatch)
    t = trace_json(home, "O1")
    assert [r["address_line"] for r in t["revisions"]] == [SCRIPT, "2 High Street"]
    assert t["revisions"][1]["changes"] == [
        {"field": "address_line", "from": SCRIPT, "to": "2 High Street"},
        {"field": "postcode", "from": "E1 6AN", "to": "E1 6AA"},
    ]
    assert t["revisions"][1]["file_path"] == "orders/b.csv"
    assert t["outcome"]["outcome"] == "returned" and t["outcome"]["failed_attempts"] == 1
    assert t["events"][1]["attribution"] == "shipper"
    result = lm(home, "audit", "trace", "O1", "--out", str(tmp_path / "o1.html"))
    assert result.exit_code == 0, result.output
    html = (tmp_path / "o1.html").read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;" in html
    shown = render(tmp_path / "o1.html", tmp_path / "o1.png", evaluate="[document.title, document.scripts.length]")
    assert shown.errors == [] and shown.requests == []
    assert shown.evaluated == ["Trace of order O1", 0]
    assert SCRIPT in shown.text  # the address reads as text, markup and all
    assert "address_line: " + SCRIPT + " → 2 High Street" in shown.text
    assert "revised (address_line, postcode) by orders/b.csv row 1" in shown.text


def test_purged_proof_and_active_hold_in_the_trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lastmile.vault import Vault
    from lastmile.vault.keyring import open_keyring
    from lastmile.warehouse import run_sql

    home = hand_home(tmp_path, monkeypatch)
    when = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
    conn = duckdb.connect(str(home / "warehouse.duckdb"))
    try:
        Vault(conn, home / "vault", open_keyring(home / "keys", environ={})).destroy("P1", now=when, run_id="ret-1")
        run_sql(conn, "retention", "sql/schema.sql")
        conn.execute("INSERT INTO legal_holds VALUES ('H-1', 'O1', 'court order 7', 'bob', ?, NULL, NULL)", [when])
    finally:
        conn.close()
    t = trace_json(home, "O1")
    (proof,) = t["proofs"]
    assert proof["retention"] == {"state": "purged", "purged_at": "2026-11-20T09:00:00+00:00",
                                  "purged_by_run": "ret-1", "hold_ids": []}  # fmt: skip
    assert t["contact"]["state"] == "held" and t["contact"]["hold_ids"] == ["H-1"]
    assert [(h["hold_id"], h["active"], h["reason"]) for h in t["holds"]] == [("H-1", True, "court order 7")]
    kinds = [(i["kind"], i["ref"]) for i in t["timeline"]]
    assert ("purge", "P1") in kinds and ("hold", "H-1") in kinds


def test_trace_of_a_return_links_its_original_both_ways(home: Path, tmp_path: Path) -> None:
    rows = query(
        home,
        """SELECT r.order_id, r.original_order_id FROM orders AS r JOIN orders AS o ON o.order_id = r.original_order_id
           WHERE r.order_type = 'return_pickup' AND o.order_type = 'delivery'
             AND r.order_id IN (SELECT order_id FROM intake_events WHERE status = 'return_received')
             AND r.order_id IN (SELECT order_id FROM intake_proofs)
           ORDER BY r.order_id LIMIT 1""",
    )
    assert rows, "the generated network has no received return"
    return_id, original_id = str(rows[0][0]), str(rows[0][1])
    ret = trace_json(home, return_id)
    assert ret["order"]["order_type"] == "return_pickup" and ret["order"]["original_order_id"] == original_id
    assert ret["outcome"]["outcome"] == "return received"  # return_received is its first terminal event
    assert ret["links"]["original"]["order_id"] == original_id
    assert ret["links"]["original"]["known"] and ret["links"]["original"]["order_type"] == "delivery"
    assert ret["links"]["original"]["first_delivered_at"] is not None
    assert ret["links"]["returns"] == []
    assert {p["kind"] for p in ret["proofs"]} == {"photo"}  # the acceptance photo, with its retention state
    orig = trace_json(home, original_id)
    assert orig["links"]["original"] is None
    back = [r for r in orig["links"]["returns"] if r["order_id"] == return_id]
    assert back and back[0]["first_picked_up_at"] is not None and back[0]["outcome"] == "return received"
    page = tmp_path / "trace.html"
    assert lm(home, "audit", "trace", return_id, "--out", str(page)).exit_code == 0
    html = page.read_text(encoding="utf-8")
    assert 'id="returns"' in html and f'href="trace-{original_id}.html"' in html
    page2 = tmp_path / "trace2.html"
    assert lm(home, "audit", "trace", original_id, "--out", str(page2)).exit_code == 0
    assert f'href="trace-{return_id}.html"' in page2.read_text(encoding="utf-8")


def test_trace_of_a_return_whose_original_is_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    landing = tmp_path / "landing"
    ret = row(ORDER, order_id="R1", order_type="return_pickup", original_order_id="NOPE", window_start="",
              window_end="")  # fmt: skip
    write_csv(landing / "orders" / "a.csv", [ret])
    write_csv(landing / "events" / "a.csv", [row(EVENT, event_id="E1", order_id="R1", status="created")])
    root = use_home(tmp_path / "home", monkeypatch, actor="alice")
    assert lm(root, "ingest", str(landing)).exit_code == 0
    (root / "access.yaml").write_text("auditor: [alice]\n", encoding="utf-8")
    data = trace_json(root, "R1")
    assert data["links"]["original"]["order_id"] == "NOPE" and not data["links"]["original"]["known"]
    assert data["outcome"]["outcome"] == "still open"
