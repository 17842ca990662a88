"""Retention runs at explicit as_of values: every boundary, holds, each artifact kind, certificates,
purge reaching backups, the report."""

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pytest

from lastmile.audit import AuditTrail
from lastmile.errors import VaultError
from lastmile.vault import artifact_aad
from lastmile.vault.keyring import open_keyring
from lastmile.warehouse import connect
from retention.certificate import CertificateError
from retention.holds import add_hold, release_hold
from retention.policy import PolicyError, load_policy, parse_policy, shipped_policy_path
from retention.purge import verify_certificate
from tests.retention_kit import CREATED, DAY, DELIVERED, ledger, make_network, marker_blob, run

PHOTO_DUE = DELIVERED + 30 * DAY  # P1, I1 (id_check 30), P3
SIGNATURE_DUE = DELIVERED + 90 * DAY
CONTACT_DUE = DELIVERED + 180 * DAY
O2_START = CREATED + 60 * DAY  # no terminal event


@pytest.fixture
def net(tmp_path, home, settings, warehouse, vault):  # type: ignore[no-untyped-def]
    make_network(tmp_path, warehouse, vault, settings)
    return warehouse, vault


def verify(conn, home, vault, result):  # type: ignore[no-untyped-def]
    return verify_certificate(
        conn, home.vault_dir, vault.keys, result.certificate_path, (home.audit_dir / "signing-key.pub").read_bytes()
    )


def test_policy_defaults_and_malformed_lines(tmp_path: Path) -> None:
    policy = load_policy(shipped_policy_path())
    assert policy.retention_days == {
        "signature": 90,
        "photo": 30,
        "id_check": 30,
        "recipient_contact": 180,
        "quarantined_record": 180,
        "partner_payload": 180,  # not in the file: as long as a quarantined record
        "message_body": 90,  # CONTRACT §8
        "consent_record": 2190,
    }
    assert policy.version == "2026.2" and len(policy.sha256) == 64
    good = shipped_policy_path().read_text()
    cases = {
        good.replace("  photo: 30", "  photo: thirty"): ("line 10", "photo must be a whole number"),
        good.replace("  photo: 30", "  photo: -1"): ("line 10", "whole number"),
        good.replace("  photo: 30", "  selfie: 30"): ("line 10", "unknown artifact kind 'selfie'"),
        good.replace("  photo: 30\n", ""): ("line 9", "lacks photo"),
        good.replace('version: "2026.2"', "versoin: 1"): ("line 3", "unknown key 'versoin'"),
        good.replace("  photo: 30", "  photo: [30"): ("line 1", "retention policy"),
    }
    for text, (line, words) in cases.items():
        with pytest.raises(PolicyError) as exc:
            parse_policy(text, "p.yaml", "x")
        assert line in str(exc.value) and words in str(exc.value), str(exc.value)
    with pytest.raises(PolicyError, match="cannot be read"):
        load_policy(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        (PHOTO_DUE - DAY, {"P1": "retained", "I1": "retained", "S1": "retained"}),
        (PHOTO_DUE - dt.timedelta(microseconds=1), {"P1": "retained", "I1": "retained"}),
        (PHOTO_DUE, {"P1": "purged", "I1": "purged", "S1": "retained", "contact:O1": "retained"}),
        (PHOTO_DUE + DAY, {"P1": "purged", "I1": "purged", "S1": "retained"}),
        (SIGNATURE_DUE - DAY, {"S1": "retained"}),
        (SIGNATURE_DUE, {"S1": "purged", "contact:O1": "retained"}),
        (CONTACT_DUE - DAY, {"contact:O1": "retained"}),
        (CONTACT_DUE, {"contact:O1": "purged"}),
        (CONTACT_DUE + DAY, {"contact:O1": "purged"}),
    ],
)
def test_boundaries_exactly_at_a_day_before_and_after(net, home, settings, as_of, expected) -> None:  # type: ignore[no-untyped-def]
    conn, vault = net
    got = ledger(conn, run(conn, vault, home, settings, as_of, "r").run_id)
    assert {k: got[k] for k in expected} == expected


def test_order_without_terminal_event_starts_at_created_plus_60_days(net, home, settings) -> None:  # type: ignore[no-untyped-def]
    conn, vault = net
    photo_due = O2_START + 30 * DAY
    assert ledger(conn, run(conn, vault, home, settings, photo_due - DAY, "a").run_id)["P2"] == "retained"
    assert ledger(conn, run(conn, vault, home, settings, photo_due, "b").run_id)["P2"] == "purged"
    contact_due = O2_START + 180 * DAY
    assert ledger(conn, run(conn, vault, home, settings, contact_due - DAY, "c").run_id)["contact:O2"] == "retained"
    assert ledger(conn, run(conn, vault, home, settings, contact_due, "d").run_id)["contact:O2"] == "purged"
    reason = conn.execute("SELECT reason FROM retention_ledger WHERE run_id = 'd' AND artifact_id = 'contact:O2'")
    assert "no terminal event" in reason.fetchone()[0]


def test_quarantined_record_counts_from_its_ingest(net, home, settings) -> None:  # type: ignore[no-untyped-def]
    conn, vault = net
    (qid, ingested) = conn.execute("SELECT raw_artifact_id, ingested_at FROM quarantine").fetchone()
    assert ledger(conn, run(conn, vault, home, settings, ingested + 180 * DAY - DAY, "a").run_id)[qid] == "retained"
    assert ledger(conn, run(conn, vault, home, settings, ingested + 180 * DAY, "b").run_id)[qid] == "purged"


def test_second_run_purges_nothing_twice_and_ledger_has_contract_columns(net, home, settings) -> None:  # type: ignore[no-untyped-def]
    conn, vault = net
    first = run(conn, vault, home, settings, CONTACT_DUE, "r1")
    assert first.purged == 8 and first.held == 0  # 6 proofs + contact O1, O3 (O2's clock starts later)
    second = run(conn, vault, home, settings, CONTACT_DUE, "r2")
    assert second.purged == 0
    assert set(ledger(conn, "r2")) == {
        "contact:O2",
        conn.execute("SELECT raw_artifact_id FROM quarantine").fetchone()[0],
    }
    cols = [r[0] for r in conn.execute("DESCRIBE retention_ledger").fetchall()]
    assert cols[:8] == [
        "run_id",
        "artifact_id",
        "artifact_kind",
        "order_id",
        "action",
        "reason",
        "policy_version",
        "as_of",
    ]
    runs = conn.execute("SELECT policy_version, policy_hash, status FROM retention_runs ORDER BY run_id").fetchall()
    assert runs == [("2026.2", load_policy(shipped_policy_path()).hash, "finished")] * 2
    assert verify(conn, home, vault, second).ok


def test_holds_placed_and_released_between_runs(net, home, settings) -> None:  # type: ignore[no-untyped-def]
    conn, vault = net
    hold = add_hold(conn, home.audit_dir, "O3", "litigation 7 <script>", actor="alice", now=PHOTO_DUE - DAY)
    r1 = run(conn, vault, home, settings, PHOTO_DUE, "r1")
    got = ledger(conn, "r1")
    assert got["P3"] == "held" and got["P1"] == "purged" and got["S3"] == "retained"
    row = conn.execute("SELECT reason, hold_id FROM retention_ledger WHERE run_id='r1' AND artifact_id='P3'").fetchone()
    assert row[1] == hold.hold_id and "litigation 7" in row[0]
    assert r1.held == 1 and vault.open("P3") == marker_blob("<<blob P3>>")
    run(conn, vault, home, settings, PHOTO_DUE + DAY, "r2")
    assert ledger(conn, "r2")["P3"] == "held"
    release_hold(conn, home.audit_dir, hold.hold_id, actor="bob", now=PHOTO_DUE + 2 * DAY)
    run(conn, vault, home, settings, PHOTO_DUE + 2 * DAY, "r3")
    assert ledger(conn, "r3")["P3"] == "purged"
    with pytest.raises(VaultError, match=r"purged .* by run r3"):
        vault.open("P3")
    actions = [(e.actor, e.action) for e in AuditTrail(conn, home.audit_dir).entries(subject="order:O3")]
    assert actions == [("alice", "hold.place"), ("bob", "hold.release")]
    assert AuditTrail(conn, home.audit_dir).verify().ok


def test_purged_bytes_are_gone_from_home_and_open_names_the_run(net, home, settings) -> None:  # type: ignore[no-untyped-def]
    conn, vault = net
    rows = conn.execute(
        "SELECT artifact_id, object_path, object_offset, object_length FROM vault_artifacts"
        " WHERE object_path IS NOT NULL"
    ).fetchall()
    ciphertexts = {a: (home.vault_dir / p).read_bytes()[o : o + n] for a, p, o, n in rows}
    result = run(conn, vault, home, settings, SIGNATURE_DUE, "r1")
    purged = {a for a, action in ledger(conn, "r1").items() if action == "purged"}
    assert {"P1", "S1", "I1", "P2", "P3", "S3"} <= purged
    conn.execute("CHECKPOINT")
    everything = b"".join(p.read_bytes() for p in home.root.rglob("*") if p.is_file())
    for artifact_id in purged & set(ciphertexts):
        assert ciphertexts[artifact_id] not in everything
        assert f"<<blob {artifact_id}>>".encode() not in everything
        with pytest.raises(VaultError, match=rf"purged at .* by run {result.run_id}"):
            vault.open(artifact_id)
    assert verify(conn, home, vault, result).ok


def test_certificate_one_byte_changed_or_ledger_edited_fails(net, home, settings) -> None:  # type: ignore[no-untyped-def]
    conn, vault = net
    result = run(conn, vault, home, settings, SIGNATURE_DUE, "r1")
    assert verify(conn, home, vault, result).ok
    original = result.certificate_path.read_bytes()
    doc = json.loads(original)
    assert doc["counts"]["purged"] == result.purged and doc["run_id"] == "r1"
    i = re.search(rb'"purged": (\d)', original).start(1)  # a count digit: still valid JSON, one byte off
    tampered = original[:i] + bytes([original[i] ^ 1]) + original[i + 1 :]
    result.certificate_path.write_bytes(tampered)
    checks = dict((n, ok) for n, ok, _ in verify(conn, home, vault, result).checks)
    assert checks["signature"] is False
    result.certificate_path.write_bytes(original.replace(b"{", b"[", 1))
    with pytest.raises(CertificateError):
        verify(conn, home, vault, result)
    result.certificate_path.write_bytes(original)
    conn.execute("UPDATE retention_ledger SET artifact_id = 'P9' WHERE run_id = 'r1' AND artifact_id = 'P1'")
    report = verify(conn, home, vault, result)
    assert not report.ok and dict((n, ok) for n, ok, _ in report.checks)["merkle_root"] is False
    conn.execute("UPDATE retention_ledger SET artifact_id = 'P1' WHERE run_id = 'r1' AND artifact_id = 'P9'")
    conn.execute("DELETE FROM retention_ledger WHERE run_id = 'r1' AND artifact_id = 'S1'")
    assert not verify(conn, home, vault, result).ok


def test_backup_taken_before_purge_cannot_decrypt_what_was_purged(tmp_path, net, home, settings) -> None:  # type: ignore[no-untyped-def]
    conn, vault = net
    run(conn, vault, home, settings, PHOTO_DUE - 10 * DAY, "r0")  # nothing due; data keys move to expiry keys
    add_hold(conn, home.audit_dir, "O3", "dispute", actor="alice", now=PHOTO_DUE)
    conn.execute("CHECKPOINT")
    backup = tmp_path / "backup"
    shutil.copytree(home.root, backup)  # taken before the purge (keys and all)
    result = run(conn, vault, home, settings, SIGNATURE_DUE, "r1")
    purged = [a for a, action in ledger(conn, "r1").items() if action == "purged"]
    assert "S1" in purged and "P1" in purged and ledger(conn, "r1")["S3"] == "held"
    live_keys = open_keyring(home.keys_dir, environ={})
    live_versions = live_keys.versions()
    old = connect(backup / "warehouse.duckdb")
    try:
        for artifact_id in purged:
            kind, version, wrapped = old.execute(
                "SELECT artifact_kind, kek_version, wrapped_key FROM vault_artifacts WHERE artifact_id = ?",
                [artifact_id],
            ).fetchone()
            assert version not in live_versions  # the KEK that wrapped it in the backup is destroyed
            for v in live_versions:
                with pytest.raises(VaultError):
                    live_keys.unwrap(v, bytes(wrapped), artifact_aad(artifact_id, kind))
        # the backup's own (old) keys still open them: the guarantee is about keys the live system has
        old_keys = open_keyring(backup / "keys", environ={})
        kind, version, wrapped = old.execute(
            "SELECT artifact_kind, kek_version, wrapped_key FROM vault_artifacts WHERE artifact_id = 'S1'"
        ).fetchone()
        assert len(old_keys.unwrap(version, bytes(wrapped), artifact_aad("S1", kind))) == 32
    finally:
        old.close()
    assert vault.open("S3") == marker_blob("<<blob S3>>")  # held: rewrapped before its old KEK went
    assert vault.open("contact:O2")  # retained: still readable
    assert verify(conn, home, vault, result).ok


def test_report_renders_in_a_browser(net, home, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from reports.retention_report import write_retention_report
    from tests.browser import render

    conn, vault = net
    add_hold(conn, home.audit_dir, "O3", "<img src=x onerror=alert(1)> case", actor="alice", now=PHOTO_DUE - 5 * DAY)
    result = run(conn, vault, home, settings, SIGNATURE_DUE, "r1")
    path = write_retention_report(conn, vault, home, settings, result.run_id, now=SIGNATURE_DUE + DAY)
    html = path.read_text()
    assert "<img src=x" not in html and "&lt;img src=x" in html
    shot = tmp_path / "retention.png"
    page = render(path, shot, evaluate="document.querySelectorAll('section').length")
    assert page.errors == [] and page.requests == []
    assert page.evaluated == 8
    for words in (
        "Policy in force",
        "Held: due, but under legal hold",
        "H-1",
        "verified",
        "Key-encryption keys",
        "Overdue now",
        result.merkle_root,
    ):
        assert words in page.text
    assert shot.stat().st_size > 10_000


@pytest.mark.parametrize("zone", ["Europe/Berlin", "Australia/Lord_Howe", "America/St_Johns", "UTC"])
def test_ledger_reasons_show_network_wall_clock_times_across_dst(tmp_path: Path, zone: str) -> None:
    """The intent's reasons convert time zones once per distinct minute; they must read exactly as a
    per-row strftime(%Z) in the network timezone would, on both sides of every DST change."""
    from retention.certificate import merkle_root
    from retention.store import ensure_schema, q

    conn = connect(tmp_path / "w.duckdb", zone)
    ensure_schema(conn)
    conn.execute(
        """CREATE TEMP TABLE _retention_plan AS
           SELECT 'a' || i AS artifact_id, 'photo' AS artifact_kind, 'O' || i AS order_id, 1 AS kek_version,
                  TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(i * 1193) AS clock_start,
                  TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(i * 1193 + 30 * 86400) AS due_at,
                  30 AS retention_days, 'first terminal event' AS clock_basis,
                  CASE i % 3 WHEN 0 THEN 'purged' WHEN 1 THEN 'held' ELSE 'retained' END AS action,
                  CASE WHEN i % 3 = 1 THEN 'H-1' END AS hold_id, CASE WHEN i % 3 = 1 THEN 'dispute' END AS hold_reason
           FROM range(60000) t(i)"""  # every ~20 minutes for two years and a quarter
    )
    q(conn, "write_intent", run_id="r", policy_version="v", as_of=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    fmt = "'%Y-%m-%d %H:%M:%S'"
    mismatched = conn.execute(
        f"""SELECT count(*) FILTER (WHERE l.reason <> CASE p.action
                WHEN 'held' THEN 'due ' || strftime(p.due_at, {fmt[:-1]} %Z') || '; under legal hold H-1: dispute'
                WHEN 'purged' THEN 'due ' || strftime(p.due_at, {fmt[:-1]} %Z') || ' (first terminal event '
                    || strftime(p.clock_start, {fmt}) || ' + 30 days)'
                ELSE 'not due until ' || strftime(p.due_at, {fmt[:-1]} %Z') END), count(*)
            FROM retention_ledger AS l JOIN _retention_plan AS p USING (artifact_id)"""
    ).fetchone()
    assert mismatched == (0, 60000)
    assert merkle_root(["b", "a", "é", "a"]) == merkle_root(["a", "b", "é"], presorted=True)
    conn.close()


def test_purged_root_from_the_ledger_is_the_rfc_root_of_the_sorted_ids(tmp_path: Path) -> None:
    """The certificate's root, computed from DuckDB's sorted UTF-8 bytes with the leaf-hash shortcut, equals
    an independent RFC 9162 computation (the recursive definition) over the ids in code-point order."""
    import hashlib

    from retention.certificate import merkle_root
    from retention.purge import _purged_root
    from retention.store import ensure_schema
    from tests.test_audit import ref_mth

    ids = ["z9", "contact:O1", "é-proof", "a", "P10", "P2", "ß", "Z", "日本", "a b", "contact:O10"]
    conn = connect(tmp_path / "w.duckdb")
    ensure_schema(conn)
    for n in (0, 1, 2, 3, 5, 8, len(ids)):
        run_id = f"r{n}"
        for artifact_id in ids[:n]:
            conn.execute(
                "INSERT INTO retention_ledger (run_id, artifact_id, artifact_kind, action, reason, policy_version,"
                " as_of) VALUES (?, ?, 'photo', 'purged', 'due', 'v', now())",
                [run_id, artifact_id],
            )
        conn.execute(  # a held row never counts
            "INSERT INTO retention_ledger (run_id, artifact_id, artifact_kind, action, reason, policy_version, as_of)"
            " VALUES (?, 'held-one', 'photo', 'held', 'due', 'v', now())",
            [run_id],
        )
        ordered = sorted(ids[:n])  # Python sorts str by code point
        leaves = [hashlib.sha256(b"\x00" + i.encode("utf-8")).digest() for i in ordered]
        expected = ref_mth(leaves).hex()
        assert _purged_root(conn, run_id) == (expected, n)
        assert merkle_root(reversed(ids[:n])) == expected
    conn.close()


def test_completing_a_run_leaves_the_range_of_an_artifact_sealed_again_since(net, home, settings) -> None:  # type: ignore[no-untyped-def]
    """The run that completes a killed one clears again the ranges its ledger names, but only of artifacts
    still purged: one sealed again in between (alive with a new range) keeps its ciphertext."""
    from lastmile.vault import Artifact

    conn, vault = net
    run(conn, vault, home, settings, PHOTO_DUE, "r1")
    assert ledger(conn, "r1")["P1"] == "purged"
    conn.execute("UPDATE retention_runs SET status = 'started' WHERE run_id = 'r1'")  # killed before finishing
    again = marker_blob("<<P1 sealed again>>")
    vault.seal_many([Artifact("P1", "photo", "O1", again)], now=PHOTO_DUE + DAY)
    add_hold(conn, home.audit_dir, "O1", "sealed again", actor="alice", now=PHOTO_DUE + DAY)
    r2 = run(conn, vault, home, settings, PHOTO_DUE + DAY, "r2")
    assert r2.completed_earlier == ["r1"] and ledger(conn, "r2")["P1"] == "held"
    assert vault.open("P1") == again


def test_a_run_clears_blob_ranges_at_once_and_reclaim_frees_their_blocks_once(home, settings, warehouse, vault) -> None:  # type: ignore[no-untyped-def]
    """A run makes its purged blobs' ranges read as zeros (its certificate verifies before any block is
    freed); `reclaim_space` then frees the blocks of every finished run not yet reclaimed, records it, and
    finds nothing to do the second time."""
    from lastmile.vault import Artifact, holes
    from retention.purge import reclaim_space

    if not holes.punching_supported(home.root):
        pytest.skip("this file system does not punch holes: ranges are zeros and nothing is freed")
    sealed = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    size = 256 * 1024
    photos = [Artifact(f"photo:{i}", "photo", None, bytes([i + 1]) * size) for i in range(8)]
    vault.seal_many(photos, now=sealed)  # no orders: clock start sealed_at + 60 days, photos kept 30
    (pack,) = (home.vault_dir / "packs").glob("*.pack")
    on_disk = pack.stat().st_blocks * 512
    result = run(warehouse, vault, home, settings, sealed + 120 * DAY, "r1")
    assert result.purged == 8
    spans = warehouse.execute("SELECT object_offset, object_length FROM vault_artifacts").fetchall()
    data = pack.read_bytes()
    assert all(data[o : o + n] == bytes(n) for o, n in spans)  # every purged blob reads as zeros already
    assert verify(warehouse, home, vault, result).ok
    if holes.zero_range_supported(home.root):  # the run freed nothing yet: unwritten extents keep blocks
        assert pack.stat().st_blocks * 512 >= on_disk
    assert warehouse.execute("SELECT count(*) FROM retention_reclaims").fetchone() == (0,)

    reclaimed = reclaim_space(warehouse, vault, now=sealed + 121 * DAY)
    assert reclaimed.runs == ["r1"] and reclaimed.ranges == 8
    assert reclaimed.bytes == sum(n for _, n in spans)
    assert pack.stat().st_blocks * 512 <= on_disk - 8 * size + 2 * 4096  # the blocks are freed
    assert pack.read_bytes() == data
    assert verify(warehouse, home, vault, result).ok
    rows = warehouse.execute("SELECT run_id, ranges, bytes FROM retention_reclaims").fetchall()
    assert rows == [("r1", 8, reclaimed.bytes)]
    again = reclaim_space(warehouse, vault, now=sealed + 122 * DAY)
    assert (again.runs, again.ranges, again.bytes) == ([], 0, 0)
