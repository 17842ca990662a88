"""`lastmile audit verify`, `lastmile proofs open` and the logging of ingest and check runs, through the command.

A small generated network is ingested once per module (through the command, so through the Dagster
definitions); each test works on its own copy of that home.
"""

import datetime as dt
import hashlib
import stat
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import Result

from lastmile.audit import AuditTrail
from tests.cli_kit import build_home, copy_home, lm, one_line_error

T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_home(tmp_path_factory.mktemp("audit-cli"), check=False)


@pytest.fixture
def home(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return copy_home(template, tmp_path, monkeypatch)


@pytest.fixture
def landing(template: Path) -> Path:
    return template / "landing"


def db(home: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(home / "warehouse.duckdb"))


def query(home: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    conn = db(home)
    try:
        return conn.execute(sql, params or []).fetchall()
    finally:
        conn.close()


def grant(home: Path, text: str) -> None:
    (home / "access.yaml").write_text(text, encoding="utf-8")


def one_error(result: Result, *fragments: str) -> str:
    return one_line_error(result, *fragments)


def entries(home: Path, action: str) -> list[tuple[int, str, str, str]]:
    """(seq, actor, subject, details JSON) of every entry with this action."""
    return [
        (int(seq), actor, subject, details)
        for seq, actor, subject, details in query(
            home,
            "SELECT seq, actor, subject, details::VARCHAR FROM audit_entries WHERE action = ? ORDER BY seq",
            [action],
        )
    ]


# ----------------------------------------------------------------------------------------- logging


def test_ingest_logs_every_file_with_its_sha256_and_signs_a_checkpoint(home: Path, landing: Path) -> None:
    import json

    files = query(home, "SELECT path, sha256, file_id, run_id FROM ingest_files ORDER BY path")
    logged = {subject: json.loads(details) for _, _, subject, details in entries(home, "ingest.file")}
    assert set(logged) == {f"file:{path}" for path, *_ in files}
    for path, sha256, file_id, run_id in files:
        assert logged[f"file:{path}"]["sha256"] == sha256 == hashlib.sha256((landing / path).read_bytes()).hexdigest()
        assert logged[f"file:{path}"]["file_id"] == file_id and logged[f"file:{path}"]["run_id"] == run_id
    (run_entry,) = entries(home, "ingest.run")
    assert json.loads(run_entry[3])["sha256"] == {path: sha for path, sha, *_ in files}
    size = query(home, "SELECT count(*) FROM audit_entries")[0][0]
    assert query(home, "SELECT max(tree_size) FROM audit_checkpoints")[0][0] == size  # signed at the end of the run


def test_check_runs_are_logged(home: Path) -> None:
    import json

    before = query(home, "SELECT count(*) FROM audit_checkpoints")[0][0]
    result = lm(home, "check")
    assert result.exit_code in (0, 1), result.output
    logged = entries(home, "check.run")
    run_ids = {r[0] for r in query(home, "SELECT DISTINCT run_id FROM dq_check_runs")}
    assert {subject for _, _, subject, _ in logged} >= {
        "check:event.orphan",
        "check:proof.missing",
        "check:event.stalled",
    }
    assert {json.loads(d)["run_id"] for *_, d in logged} == run_ids
    failed = dict(query(home, "SELECT check_id, sum(failed) FROM dq_check_runs GROUP BY check_id"))
    for _, actor, subject, details in logged:
        assert actor == "alice"
        check_id = subject.removeprefix("check:")
        if check_id in failed:
            assert json.loads(details)["failed"] == failed[check_id]
    assert query(home, "SELECT count(*) FROM audit_checkpoints")[0][0] > before
    assert lm(home, "audit", "verify").exit_code == 0


# ------------------------------------------------------------------------------------------ verify


def test_verify_an_intact_log(home: Path) -> None:
    n = query(home, "SELECT count(*) FROM audit_entries")[0][0]
    result = lm(home, "audit", "verify")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"log intact: {n} entries, 1 signed checkpoint, the latest covering {n}"


def tamper_base(home: Path) -> tuple[int, int]:
    """Add a second signed batch (a refused proof opening) so the log has two checkpoints; (entries, checkpoints)."""
    grant(home, "ops_viewer: [alice]\n")
    one_error(lm(home, "proofs", "open", "P-any", "--reason", "probe", "--out", str(home / "x.png")), "refused")
    return query(home, "SELECT count(*) FROM audit_entries")[0][0], query(
        home, "SELECT count(*) FROM audit_checkpoints"
    )[0][0]


def not_intact(home: Path, finding: str, first: int | None, counts: tuple[int, int]) -> None:
    result = lm(home, "audit", "verify")
    assert result.exit_code == 1, result.output
    where = f"first failing entry {first}" if first is not None else "no entry named: a checkpoint fails"
    assert result.stdout.strip() == (
        f"audit trail NOT intact: {finding} ({where}; {counts[0]} entries, {counts[1]} checkpoints)"
    )


def test_verify_names_an_edited_entry(home: Path) -> None:
    n, c = tamper_base(home)
    query(home, """UPDATE audit_entries SET details = '{"sha256":"00"}' WHERE seq = 3""")
    not_intact(home, "entry 3 was edited: its hash does not match", 3, (n, c))


def test_verify_names_a_deleted_entry(home: Path) -> None:
    n, c = tamper_base(home)
    query(home, "DELETE FROM audit_entries WHERE seq = 5")
    not_intact(home, "entry 5 is missing (seq jumps 4 -> 6)", 5, (n - 1, c))


def test_verify_names_reordered_entries(home: Path) -> None:
    n, c = tamper_base(home)
    cols = ['"at"', "actor", "action", "subject", "details", "prev_hash", "leaf_hash"]
    sets = ", ".join(f"{col} = o.{col}" for col in cols)
    conn = db(home)
    try:
        conn.execute("CREATE TEMP TABLE swap AS SELECT * FROM audit_entries WHERE seq IN (2, 3)")
        conn.execute(f"UPDATE audit_entries e SET {sets} FROM swap o WHERE e.seq = 2 AND o.seq = 3")
        conn.execute(f"UPDATE audit_entries e SET {sets} FROM swap o WHERE e.seq = 3 AND o.seq = 2")
    finally:
        conn.close()
    not_intact(home, "entries 2 and 3 are out of order", 2, (n, c))


def test_verify_names_a_truncated_tail(home: Path) -> None:
    n, c = tamper_base(home)
    query(home, "DELETE FROM audit_entries WHERE seq >= ?", [n - 1])
    (signed_at,) = query(home, "SELECT signed_at FROM audit_checkpoints WHERE tree_size = ?", [n])[0]
    stamp = signed_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    not_intact(home, f"log truncated: checkpoint of {stamp} covers {n} entries, log has {n - 1}", n - 1, (n - 1, c))


def test_verify_names_a_forged_checkpoint(home: Path) -> None:
    n, c = tamper_base(home)
    trail_root = query(home, "SELECT root_hash FROM audit_checkpoints ORDER BY tree_size LIMIT 1")[0][0]
    query(home, "UPDATE audit_checkpoints SET root_hash = ? WHERE tree_size = ?", [trail_root, n])
    not_intact(home, f"checkpoint 1 (tree size {n}) signature does not verify (forged or edited)", None, (n, c))


def test_verify_with_the_signing_key_missing_is_one_line(home: Path) -> None:
    (home / "audit" / "signing-key").unlink()
    (home / "audit" / "signing-key.pub").unlink()
    one_error(lm(home, "audit", "verify"), "audit signing key missing")


# -------------------------------------------------------------------------------------- proofs open


def a_photo(home: Path) -> tuple[str, str, str]:
    """(proof_id, order_id, blob_path) of a proof whose blob is a real image."""
    rows = query(home, "SELECT proof_id, order_id, blob_path FROM intake_proofs WHERE blob_present AND "
                       "blob_format IN ('png', 'jpeg') AND blob_sha256 = sha256 ORDER BY proof_id LIMIT 1")  # fmt: skip
    assert rows
    proof_id, order_id, blob_path = rows[0]
    return str(proof_id), str(order_id), str(blob_path)


def opens(home: Path) -> list[dict[str, Any]]:
    import json

    return [
        {"seq": seq, "actor": actor, "subject": subject, **json.loads(d)}
        for seq, actor, subject, d in entries(home, "proof.open")
    ]


def test_an_auditor_opens_a_proof_and_it_is_logged(home: Path, landing: Path) -> None:
    grant(home, "auditor: [alice]\nops_viewer: [carol]\n")
    proof_id, order_id, blob_path = a_photo(home)
    target = home / "dispute" / "proof.img"
    target.parent.mkdir()
    result = lm(home, "proofs", "open", proof_id, "--reason", "dispute D-42", "--out", str(target))
    assert result.exit_code == 0, result.output
    data = (landing / "blobs" / blob_path).read_bytes()
    assert target.read_bytes() == data
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    (entry,) = opens(home)
    assert entry["actor"] == "alice" and entry["subject"] == f"proof:{proof_id}"
    assert entry["outcome"] == "opened" and entry["reason"] == "dispute D-42" and entry["order_id"] == order_id
    assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["roles"] == ["auditor"]
    assert f"logged as audit entry {entry['seq']}" in result.stdout
    assert query(home, "SELECT max(tree_size) FROM audit_checkpoints")[0][0] == entry["seq"] + 1


def test_an_ops_viewer_is_refused_and_the_refusal_logged(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    grant(home, "auditor: [alice]\nops_viewer: [carol]\n")
    monkeypatch.setenv("LASTMILE_ACTOR", "carol")
    proof_id, _, _ = a_photo(home)
    target = home / "proof.img"
    line = one_error(lm(home, "proofs", "open", proof_id, "--reason", "curious", "--out", str(target)))
    assert line == (
        f"lastmile: error: refused: carol is ops_viewer in {home / 'access.yaml'}; proof.open needs auditor or "
        "compliance_officer (this refusal is logged)"
    )
    assert not target.exists()
    (entry,) = opens(home)
    assert (entry["actor"], entry["subject"], entry["outcome"], entry["reason"]) == (
        "carol", f"proof:{proof_id}", "refused", "curious")  # fmt: skip
    assert entry["roles"] == ["ops_viewer"] and "carol is ops_viewer" in entry["why"]
    assert lm(home, "audit", "verify").exit_code == 0


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_missing_reason_is_refused_and_logged(home: Path, reason: str | None) -> None:
    grant(home, "compliance_officer: [alice]\n")
    proof_id, _, _ = a_photo(home)
    args = ["proofs", "open", proof_id, "--out", str(home / "p.img")] + ([] if reason is None else ["--reason", reason])
    one_error(lm(home, *args), "refused: a reason is required")
    assert not (home / "p.img").exists()
    (entry,) = opens(home)
    assert entry["outcome"] == "refused" and entry["reason"] == ""


def test_no_access_file_refuses_with_a_hint(home: Path) -> None:
    proof_id, _, _ = a_photo(home)
    one_error(lm(home, "proofs", "open", proof_id, "--reason", "r", "--out", str(home / "p.img")),
              "no access file", "create it with e.g. `auditor: [alice]`")  # fmt: skip
    assert opens(home)[0]["outcome"] == "refused"


def test_a_malformed_access_file_is_one_line(home: Path) -> None:
    grant(home, "auditor: [alice]\nauditors: [bob]\n")
    proof_id, _, _ = a_photo(home)
    one_error(lm(home, "proofs", "open", proof_id, "--reason", "r", "--out", str(home / "p.img")),
              "access.yaml, line 2: unknown role 'auditors'")  # fmt: skip


def test_a_purged_proof_says_when_and_by_which_run(home: Path) -> None:
    from lastmile.vault import Vault
    from lastmile.vault.keyring import open_keyring

    grant(home, "auditor: [alice]\n")
    proof_id, _, _ = a_photo(home)
    conn = db(home)
    try:
        Vault(conn, home / "vault", open_keyring(home / "keys", environ={})).destroy(proof_id, now=T0, run_id="ret-7")
    finally:
        conn.close()
    purged = f"proof '{proof_id}' was purged at 2026-11-20T09:00:00+00:00 by run ret-7; it cannot be opened"
    one_error(lm(home, "proofs", "open", proof_id, "--reason", "dispute", "--out", str(home / "p.img")), purged)
    assert not (home / "p.img").exists()
    (entry,) = opens(home)
    assert entry["outcome"] == "failed" and "purged" in entry["why"]


def test_an_unknown_proof_is_one_line(home: Path) -> None:
    grant(home, "auditor: [alice]\n")
    one_error(lm(home, "proofs", "open", "no-such-proof", "--reason", "r", "--out", str(home / "p.img")),
              "proof 'no-such-proof' is unknown")  # fmt: skip
    assert opens(home)[0]["outcome"] == "failed"


def test_an_existing_out_file_needs_force(home: Path, landing: Path) -> None:
    grant(home, "auditor: [alice]\n")
    proof_id, _, blob_path = a_photo(home)
    target = home / "p.img"
    target.write_bytes(b"keep me")
    one_error(lm(home, "proofs", "open", proof_id, "--reason", "r", "--out", str(target)), "exists; pass --force")
    assert target.read_bytes() == b"keep me"
    result = lm(home, "proofs", "open", proof_id, "--reason", "r", "--out", str(target), "--force")
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == (landing / "blobs" / blob_path).read_bytes()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [e["outcome"] for e in opens(home)] == ["failed", "opened"]


def test_audit_entries_are_readable_through_the_trail(home: Path) -> None:
    conn = db(home)
    try:
        trail = AuditTrail(conn, home / "audit")
        assert trail.verify().ok
        files = trail.entries_touching(
            [], file_ids=[r[0] for r in conn.execute("SELECT file_id FROM ingest_files").fetchall()]
        )
        assert {e.action for e in files} == {"ingest.file"}
    finally:
        conn.close()
