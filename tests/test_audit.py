"""The audit trail: RFC 9162 Merkle proofs, the hash chain, signed checkpoints, and every tamper kind.

Each tamper test edits a real log in a throwaway warehouse with plain SQL (what an intruder with database
access could do) and asserts the exact one-line finding and the first bad seq.
"""

import datetime as dt
import hashlib
import json
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lastmile.audit import (
    AuditError,
    AuditKeyError,
    AuditTrail,
    Checkpoint,
    audit_key_dir,
    canonical_bytes,
    leaf_hash,
    merkle,
    mth,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from lastmile.audit.keys import SigningKey, key_id
from lastmile.settings import Home
from lastmile.warehouse import connect

T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


# -- an independent, recursive transcription of RFC 9162 §2.1, to check the iterative code against ----------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


# -- fixtures ------------------------------------------------------------------------------------------


def populate(trail: AuditTrail, n: int, start: int = 0) -> None:
    trail.append_many(
        (
            f"user{i % 3}",
            ["ingest.file", "proof.open", "hold.place"][i % 3],
            f"order:O{i}",
            {"i": i, "note": "café <b>", "nested": {"z": [1, 2.5, None], "a": True}},
            T0 + dt.timedelta(minutes=i, microseconds=i),
        )
        for i in range(start, start + n)
    )


@pytest.fixture
def key_dir(home: Home) -> Path:
    return audit_key_dir(home.root)


@pytest.fixture
def trail(warehouse: duckdb.DuckDBPyConnection, key_dir: Path) -> AuditTrail:
    return AuditTrail(warehouse, key_dir)


@pytest.fixture
def log(trail: AuditTrail) -> AuditTrail:
    """120 entries with checkpoints at 50, 100 and 120."""
    populate(trail, 50)
    trail.checkpoint(at=T0 + dt.timedelta(hours=1))
    populate(trail, 50, 50)
    trail.checkpoint(at=T0 + dt.timedelta(hours=2))
    populate(trail, 20, 100)
    trail.checkpoint(at=T0 + dt.timedelta(hours=3))
    return trail


def bad(trail: AuditTrail) -> tuple[int | None, str]:
    report = trail.verify()
    assert not report.ok
    return report.first_bad_seq, report.finding


def row(conn: duckdb.DuckDBPyConnection, seq: int) -> tuple[Any, ...]:
    got = conn.execute(
        """SELECT seq, strftime(timezone('UTC', "at"), '%Y-%m-%dT%H:%M:%S.%fZ'), actor, action, subject,
                  CAST(details AS VARCHAR), prev_hash, leaf_hash FROM audit_entries WHERE seq = ?""",
        [seq],
    ).fetchone()
    assert got is not None
    return got


def rehash(conn: duckdb.DuckDBPyConnection, seq: int, prev_hash: str | None = None) -> str:
    """What a knowledgeable intruder does after editing an entry: recompute its leaf hash (and chain)."""
    r = row(conn, seq)
    prev = r[6] if prev_hash is None else prev_hash
    leaf = leaf_hash(canonical_bytes(r[0], r[1], r[2], r[3], r[4], r[5], prev)).hex()
    conn.execute("UPDATE audit_entries SET prev_hash = ?, leaf_hash = ? WHERE seq = ?", [prev, leaf, seq])
    return leaf


# -- Merkle tree, RFC 9162 -----------------------------------------------------------------------------


def leaves_of(n: int) -> list[bytes]:
    return [leaf_hash(f"leaf {i}".encode()) for i in range(n)]


def test_merkle_matches_the_rfc_recursive_definitions() -> None:
    for n in range(0, 40):
        d = leaves_of(n)
        assert mth(d) == ref_mth(d)
        acc = merkle.RootAccumulator()
        for leaf in d:
            acc.add(leaf)
        assert acc.root() == ref_mth(d)
        for m in range(n):
            assert merkle.inclusion_path(m, d) == ref_path(m, d)
        for m in range(1, n):
            assert merkle.consistency_proof(m, d) == ref_subproof(m, d, True)
    assert mth([]) == hashlib.sha256(b"").digest()
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()


def test_inclusion_proofs_for_every_leaf_of_trees_1_to_20(trail: AuditTrail) -> None:
    populate(trail, 20)
    entries = trail.entries()
    for size in range(1, 21):
        root = trail.root(size)
        for e in entries[:size]:
            proof = trail.inclusion_proof(e.seq, size)
            assert verify_inclusion(e.leaf_hash, e.seq, size, proof, root)
            wrong_leaf = entries[(e.seq + 1) % 20].leaf_hash
            assert not verify_inclusion(wrong_leaf, e.seq, size, proof, root)
            assert not verify_inclusion(e.leaf_hash, e.seq, size, proof, hashlib.sha256(b"other").digest())
            if size > 1:
                assert not verify_inclusion(e.leaf_hash, (e.seq + 1) % size, size, proof, root)
            assert not verify_inclusion(e.leaf_hash, e.seq, size, [*proof, root], root)
        assert not verify_inclusion(entries[0].leaf_hash, size, size, [], root)


def test_consistency_proofs_between_every_pair_of_sizes_1_to_20(trail: AuditTrail) -> None:
    populate(trail, 20)
    roots = {size: trail.root(size) for size in range(0, 21)}
    for new in range(1, 21):
        for old in range(1, new + 1):
            proof = trail.consistency_proof(old, new)
            assert verify_consistency(old, new, roots[old], roots[new], proof), (old, new)
            wrong_old = hashlib.sha256(roots[old]).digest()
            assert not verify_consistency(old, new, wrong_old, roots[new], proof), (old, new)
            assert not verify_consistency(old, new, roots[old], wrong_old, proof), (old, new)
            if old < new:
                assert not verify_consistency(old, new, roots[old - 1] if old > 1 else wrong_old, roots[new], proof)
        assert verify_consistency(0, new, roots[0], roots[new], trail.consistency_proof(0, new))
    assert trail.consistency_proof(5) == trail.consistency_proof(5, 20)
    assert trail.root() == roots[20]


def test_proof_requests_outside_the_log_are_clear_errors(trail: AuditTrail) -> None:
    populate(trail, 5)
    with pytest.raises(AuditError, match=r"^inclusion proof: entry 5 is not in a tree of size 5$"):
        trail.inclusion_proof(5)
    with pytest.raises(AuditError, match=r"^consistency proof: tree size 9 is outside the log \(0\.\.5\)$"):
        trail.consistency_proof(2, 9)
    with pytest.raises(AuditError, match=r"^consistency proof: old size 4 is outside 0\.\.3$"):
        trail.consistency_proof(4, 3)


# -- appending and reading -----------------------------------------------------------------------------


def test_canonical_bytes_are_sorted_compact_utf8_json(trail: AuditTrail) -> None:
    at = dt.datetime(2026, 3, 29, 2, 30, 0, 7, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    seq = trail.append("alice", "proof.open", "proof:P3", {"reason": "dispute é", "b": [1, {"y": 2, "x": 1}]}, at=at)
    assert seq == 0
    (entry,) = trail.entries()
    expected = json.dumps(
        {
            "seq": 0,
            "at": "2026-03-29T00:30:00.000007Z",
            "actor": "alice",
            "action": "proof.open",
            "subject": "proof:P3",
            "details": {"reason": "dispute é", "b": [1, {"y": 2, "x": 1}]},
            "prev_hash": None,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    assert entry.leaf_hash == hashlib.sha256(b"\x00" + expected).digest()
    assert entry.at == at and entry.at.tzinfo == dt.UTC
    assert entry.details == {"reason": "dispute é", "b": [1, {"y": 2, "x": 1}]}
    second = trail.append("bob", "hold.place", "order:O1", {}, at=at)
    assert second == 1
    assert trail.entries()[1].prev_hash == entry.leaf_hash
    assert entry.to_dict()["at"] == "2026-03-29T00:30:00.000007Z"


def test_entries_by_subject_and_prefix(trail: AuditTrail) -> None:
    populate(trail, 12)
    trail.append("alice", "proof.open", "proof:P1", {}, at=T0)
    assert [e.seq for e in trail.entries(subject="order:O1")] == [1]
    assert [e.seq for e in trail.entries(subject_prefix="order:O1")] == [1, 10, 11]
    assert [e.subject for e in trail.entries(subject_prefix="proof:")] == ["proof:P1"]
    assert [e.seq for e in trail.entries(subject_prefix="%")] == []  # a prefix, not a LIKE pattern
    assert len(trail.entries()) == trail.size() == 13


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (("a", "b", "c", {}, dt.datetime(2026, 1, 1)), "has no timezone"),
        (("a", "b", "c", [1], T0), "must be a JSON object"),
        (("a", "b", "c", {"x": float("nan")}, T0), "not plain JSON"),
        (("a", "b", "c", {"when": T0}, T0), "not plain JSON"),
        (("", "b", "c", {}, T0), "actor must be a non-empty string"),
        (("a", "b", None, {}, T0), "subject must be a non-empty string"),
    ],
)
def test_bad_entries_are_refused_and_nothing_is_written(
    trail: AuditTrail, entry: tuple[Any, ...], message: str
) -> None:
    with pytest.raises(AuditError, match=message):
        trail.append_many([("ok", "ok", "ok", {}, T0), entry])
    assert trail.size() == 0


def test_append_joins_the_callers_transaction(trail: AuditTrail, warehouse: duckdb.DuckDBPyConnection) -> None:
    populate(trail, 3)
    warehouse.execute("BEGIN TRANSACTION")
    trail.append("alice", "hold.place", "order:O1", {}, at=T0)
    warehouse.execute("ROLLBACK")
    assert trail.size() == 3
    assert trail.append("alice", "hold.place", "order:O1", {}, at=T0) == 3
    assert trail.verify().ok


# -- checkpoints and a clean log -----------------------------------------------------------------------


def test_a_clean_log_verifies(log: AuditTrail) -> None:
    report = log.verify()
    assert report.ok and report.first_bad_seq is None
    assert (report.entries, report.checkpoints) == (120, 3)
    assert report.finding == "log intact: 120 entries, 3 signed checkpoints, the latest covering 120"
    populate(log, 5, 120)
    assert log.verify().finding == (
        "log intact: 125 entries, 3 signed checkpoints, the latest covering 120; 5 entries after it are not yet signed"
    )


def test_an_empty_log_verifies(trail: AuditTrail) -> None:
    assert trail.verify().finding == "log intact: 0 entries, 0 signed checkpoints"


def test_checkpoints_sign_rfc_tree_heads_verifiable_offline(log: AuditTrail, key_dir: Path) -> None:
    cps = log.checkpoints()
    assert [cp.tree_size for cp in cps] == [50, 100, 120]
    assert [cp.root_hash for cp in cps] == [log.root(50), log.root(100), log.root(120)]
    pem = (key_dir / "signing-key.pub").read_bytes()
    assert pem == log.public_key_pem() and pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert all(verify_checkpoint(cp, pem) for cp in cps)
    forged = Checkpoint(cps[1].tree_size, cps[0].root_hash, cps[1].signed_at, cps[1].key_id, cps[1].signature)
    assert not verify_checkpoint(forged, pem)
    # an auditor who kept last month's checkpoint checks that today's log extends it
    old, new = cps[0], cps[2]
    assert verify_consistency(
        old.tree_size, new.tree_size, old.root_hash, new.root_hash, log.consistency_proof(50, 120)
    )
    assert cps[0].to_dict()["signed_at"] == "2026-11-01T13:00:00.000Z"
    assert cps[0].tree_head()[:16] == int((T0 + dt.timedelta(hours=1)).timestamp() * 1000).to_bytes(8, "big") + (
        50
    ).to_bytes(8, "big")


def test_checkpoint_is_a_no_op_without_new_entries(log: AuditTrail) -> None:
    again = log.checkpoint(at=T0 + dt.timedelta(days=9))
    assert again == log.checkpoints()[-1] and len(log.checkpoints()) == 3


def test_checkpoint_refuses_to_sign_a_tampered_log(log: AuditTrail, warehouse: duckdb.DuckDBPyConnection) -> None:
    populate(log, 3, 120)
    warehouse.execute("""UPDATE audit_entries SET actor = 'mallory' WHERE seq = 121""")
    with pytest.raises(AuditError, match=r"^refusing to sign an audit checkpoint: entry 121 does not hash or chain"):
        log.checkpoint(at=T0 + dt.timedelta(days=1))
    warehouse.execute("""UPDATE audit_entries SET actor = 'user1' WHERE seq = 121""")
    # An entry edited far behind the frontier: a checkpoint of a log from before frontiers (none stored)
    # re-reads every leaf once and refuses...
    warehouse.execute("""UPDATE audit_entries SET details = '{"i":7}' WHERE seq = 7""")
    rehash(warehouse, 7)
    frontiers = warehouse.execute("SELECT * FROM audit_frontier").fetchall()
    warehouse.execute("DELETE FROM audit_frontier")
    with pytest.raises(AuditError, match=r"the log no longer matches the last checkpoint"):
        log.checkpoint(at=T0 + dt.timedelta(days=1))
    warehouse.execute(
        "INSERT INTO audit_frontier SELECT * FROM (VALUES " + ", ".join(["(?, ?, ?)"] * len(frontiers)) + ")",
        [v for r in frontiers for v in r],
    )


def test_signing_never_endorses_an_edit_behind_the_frontier(
    log: AuditTrail, warehouse: duckdb.DuckDBPyConnection
) -> None:
    """With a frontier, signing reads only the new entries and the last covered one, so an old edit goes
    unseen by signing: but the new root comes from the signed frontier, not from the edited rows, so the
    new checkpoint contradicts the edit and `verify` names it."""
    populate(log, 3, 120)
    honest_root = log.root()
    warehouse.execute("""UPDATE audit_entries SET details = '{"i":7}' WHERE seq = 7""")
    rehash(warehouse, 7)
    warehouse.execute("UPDATE audit_entries SET leaf_hash = 'garbage' WHERE seq = 3")  # not even read
    signed = log.checkpoint(at=T0 + dt.timedelta(days=1))
    assert signed.tree_size == 123 and signed.root_hash == honest_root
    assert bad(log) == (3, "entry 3 was edited: its hash does not match")


def test_signing_refuses_a_tampered_frontier(log: AuditTrail, warehouse: duckdb.DuckDBPyConnection) -> None:
    populate(log, 3, 120)
    (nodes,) = warehouse.execute("SELECT nodes FROM audit_frontier WHERE tree_size = 120").fetchone() or ("",)
    forged = ",".join(["00" * 32, *nodes.split(",")[1:]])
    for bad_nodes in (forged, "not hex", nodes + "," + "00" * 32):
        warehouse.execute("UPDATE audit_frontier SET nodes = ? WHERE tree_size = 120", [bad_nodes])
        with pytest.raises(AuditError, match=r"frontier of the last checkpoint \(tree size 120\) does not reproduce"):
            log.checkpoint(at=T0 + dt.timedelta(days=1))
        assert bad(log) == (
            None,
            "the frontier stored with the checkpoint of tree size 120 does not match the log (edited); signing "
            "refuses until that audit_frontier row is deleted (the next checkpoint then rebuilds it)",
        )
    warehouse.execute("DELETE FROM audit_frontier WHERE tree_size = 120")  # the documented way out
    assert log.checkpoint(at=T0 + dt.timedelta(days=1)).tree_size == 123
    assert log.verify().ok and log.verify().checkpoints == 4


def test_signing_refuses_when_the_last_covered_entry_changed(
    log: AuditTrail, warehouse: duckdb.DuckDBPyConnection
) -> None:
    populate(log, 3, 120)
    warehouse.execute("""UPDATE audit_entries SET actor = 'mallory' WHERE seq = 119""")
    leaf = rehash(warehouse, 119)
    warehouse.execute("UPDATE audit_entries SET prev_hash = ? WHERE seq = 120", [leaf])
    for seq in (120, 121, 122):  # the intruder even re-chains the unsigned entries
        leaf = rehash(warehouse, seq, leaf if seq == 120 else None)
        if seq < 122:
            warehouse.execute("UPDATE audit_entries SET prev_hash = ? WHERE seq = ?", [leaf, seq + 1])
    with pytest.raises(AuditError, match=r"entry 119, the last one the last checkpoint covers, no longer matches"):
        log.checkpoint(at=T0 + dt.timedelta(days=1))


def test_signing_refuses_a_log_truncated_behind_the_frontier(
    log: AuditTrail, warehouse: duckdb.DuckDBPyConnection
) -> None:
    warehouse.execute("DELETE FROM audit_entries WHERE seq >= 110")
    # appended again after the cut: as long as before and more, every entry hashing and chaining
    log.append_many(("eve", "proof.open", f"order:X{i}", {}, T0) for i in range(15))
    with pytest.raises(AuditError, match=r"entry 119, the last one the last checkpoint covers, no longer matches"):
        log.checkpoint(at=T0 + dt.timedelta(days=1))
    warehouse.execute("DELETE FROM audit_entries WHERE seq >= 100")
    with pytest.raises(AuditError, match=r"log truncated: the last checkpoint covers 120 entries, log has 100"):
        log.checkpoint(at=T0 + dt.timedelta(days=1))


def test_frontier_extends_like_the_whole_tree(trail: AuditTrail, warehouse: duckdb.DuckDBPyConnection) -> None:
    """Checkpoints at every size 0..40 (signing from the stored frontier each time) give exactly the root
    recomputed from all the leaves, and each stored frontier restores to an accumulator holding its last leaf."""
    trail.checkpoint(at=T0)
    for i in range(40):
        populate(trail, 1 + i % 3, trail.size())
        cp = trail.checkpoint(at=T0 + dt.timedelta(hours=i + 1))
        assert cp.root_hash == mth(trail._leaves()) == ref_mth(trail._leaves())
    leaves = trail._leaves()
    for size, nodes, path in warehouse.execute("SELECT * FROM audit_frontier WHERE tree_size > 0").fetchall():
        acc = merkle.RootAccumulator.resume(
            size, [bytes.fromhex(h) for h in nodes.split(",")], [bytes.fromhex(h) for h in path.split(",") if h]
        )
        assert acc.root() == mth(leaves[:size]) and acc.holds_last(leaves[size - 1])
        assert not acc.holds_last(leaves[size - 2]) if size > 1 else True
    assert trail.verify().ok
    with pytest.raises(ValueError, match="subtree roots"):
        merkle.RootAccumulator.resume(5, [leaves[0]], [])


# -- tampering: each kind gives its exact finding ------------------------------------------------------


def test_edited_entry(log: AuditTrail, warehouse: duckdb.DuckDBPyConnection) -> None:
    warehouse.execute("""UPDATE audit_entries SET details = '{"i":41,"note":"nothing to see"}' WHERE seq = 41""")
    assert bad(log) == (41, "entry 41 was edited: its hash does not match")


def test_edited_time_is_an_edit(log: AuditTrail, warehouse: duckdb.DuckDBPyConnection) -> None:
    warehouse.execute("""UPDATE audit_entries SET "at" = "at" + INTERVAL 1 SECOND WHERE seq = 119""")
    assert bad(log) == (119, "entry 119 was edited: its hash does not match")


def test_edited_entry_with_its_hash_recomputed(log: AuditTrail, warehouse: duckdb.DuckDBPyConnection) -> None:
    warehouse.execute("""UPDATE audit_entries SET actor = 'mallory' WHERE seq = 41""")
    rehash(warehouse, 41)
    assert bad(log) == (41, "entry 41 was edited: entry 42's prev_hash does not match its hash")


def test_rewritten_history_is_caught_by_the_checkpoint(log: AuditTrail, warehouse: duckdb.DuckDBPyConnection) -> None:
    warehouse.execute("""UPDATE audit_entries SET actor = 'mallory' WHERE seq = 61""")
    prev = None
    for seq in range(61, 120):  # recompute the whole chain from the edit on: only the signed root can tell
        prev = rehash(warehouse, seq, prev)
    assert bad(log) == (
        None,
        "checkpoint 1 (tree size 100) root does not match the log (an entry in 50..99 was rewritten)",
    )


def test_deleted_entry(log: AuditTrail, warehouse: duckdb.DuckDBPyConnection) -> None:
    warehouse.execute("DELETE FROM audit_entries WHERE seq = 17")
    assert bad(log) == (17, "entry 17 is missing (seq jumps 16 -> 18)")


def test_deleted_entries(log: AuditTrail, warehouse: duckdb.DuckDBPyConnection) -> None:
    warehouse.execute("DELETE FROM audit_entries WHERE seq BETWEEN 17 AND 19")
    assert bad(log) == (17, "entries 17 to 19 are missing (seq jumps 16 -> 20)")


def test_deleted_first_entry(log: AuditTrail, warehouse: duckdb.DuckDBPyConnection) -> None:
    warehouse.execute("DELETE FROM audit_entries WHERE seq = 0")
    assert bad(log) == (0, "entry 0 is missing (the log starts at seq 1)")


def _swap(conn: duckdb.DuckDBPyConnection, a: int, b: int, columns: Sequence[str]) -> None:
    sets = ", ".join(f"{c} = o.{c}" for c in columns)
    conn.execute(
        f"""CREATE TEMP TABLE swap AS SELECT * FROM audit_entries WHERE seq IN ({a}, {b});
            UPDATE audit_entries e SET {sets} FROM swap o WHERE e.seq = {a} AND o.seq = {b};
            UPDATE audit_entries e SET {sets} FROM swap o WHERE e.seq = {b} AND o.seq = {a};
            DROP TABLE swap;"""
    )


ALL_BUT_SEQ = ['"at"', "actor", "action", "subject", "details", "prev_hash", "leaf_hash"]
PAYLOAD = ['"at"', "actor", "action", "subject", "details"]


def test_reordered_entries(log: AuditTrail, warehouse: duckdb.DuckDBPyConnection) -> None:
    _swap(warehouse, 30, 31, ALL_BUT_SEQ)
    assert bad(log) == (30, "entries 30 and 31 are out of order")


def test_reordered_payloads(log: AuditTrail, warehouse: duckdb.DuckDBPyConnection) -> None:
    _swap(warehouse, 30, 31, PAYLOAD)
    assert bad(log) == (30, "entries 30 and 31 are out of order")


def test_reordered_far_apart(log: AuditTrail, warehouse: duckdb.DuckDBPyConnection) -> None:
    _swap(warehouse, 3, 111, ALL_BUT_SEQ)
    assert bad(log) == (3, "entries 3 and 111 are out of order")


def test_truncated_tail(log: AuditTrail, warehouse: duckdb.DuckDBPyConnection) -> None:
    warehouse.execute("DELETE FROM audit_entries WHERE seq >= 100")
    assert bad(log) == (100, "log truncated: checkpoint of 2026-11-01T15:00:00.000Z covers 120 entries, log has 100")


def test_forged_checkpoint_root(log: AuditTrail, warehouse: duckdb.DuckDBPyConnection) -> None:
    warehouse.execute("UPDATE audit_checkpoints SET root_hash = ? WHERE tree_size = 100", [log.root(99).hex()])
    assert bad(log) == (None, "checkpoint 1 (tree size 100) signature does not verify (forged or edited)")


def test_checkpoint_with_garbage_signature(log: AuditTrail, warehouse: duckdb.DuckDBPyConnection) -> None:
    warehouse.execute("UPDATE audit_checkpoints SET signature = 'not hex' WHERE tree_size = 50")
    assert bad(log) == (None, "checkpoint 0 (tree size 50) signature does not verify (forged or edited)")


def test_checkpoint_signed_with_another_key(log: AuditTrail, warehouse: duckdb.DuckDBPyConnection) -> None:
    other = Ed25519PrivateKey.generate()
    cp = log.checkpoints()[2]
    head = Checkpoint(cp.tree_size, log.root(119), cp.signed_at, key_id(other.public_key()), b"")
    for kid in (head.key_id, cp.key_id):  # naming the intruder's key, or pretending to be ours
        warehouse.execute(
            "UPDATE audit_checkpoints SET root_hash = ?, key_id = ?, signature = ? WHERE tree_size = 120",
            [head.root_hash.hex(), kid, other.sign(head.tree_head()).hex()],
        )
        assert bad(log) == (None, "checkpoint 2 (tree size 120) signature does not verify (forged or edited)")


def test_edit_is_named_before_a_forged_checkpoint(log: AuditTrail, warehouse: duckdb.DuckDBPyConnection) -> None:
    warehouse.execute("UPDATE audit_checkpoints SET signature = ? WHERE tree_size = 50", ["00" * 64])
    warehouse.execute("UPDATE audit_entries SET subject = 'order:X' WHERE seq = 70")
    assert bad(log) == (70, "entry 70 was edited: its hash does not match")


# -- the signing key -----------------------------------------------------------------------------------


def test_key_files_are_private_and_apart_from_the_data_keys(trail: AuditTrail, home: Home, key_dir: Path) -> None:
    assert key_dir == home.root / "audit" and key_dir != home.keys_dir
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((key_dir / "signing-key").stat().st_mode) == 0o600
    assert (key_dir / "signing-key").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert not home.keys_dir.exists() or not any(home.keys_dir.iterdir())


def test_a_missing_key_is_not_replaced_once_checkpoints_exist(
    log: AuditTrail, warehouse: duckdb.DuckDBPyConnection, key_dir: Path
) -> None:
    (key_dir / "signing-key").unlink()
    reopened = AuditTrail(warehouse, key_dir)
    assert not (key_dir / "signing-key").exists()
    assert reopened.verify().ok  # the exported public key is enough to verify
    populate(reopened, 1, 120)
    with pytest.raises(AuditKeyError, match=r"^audit signing key .*signing-key is missing; checkpoints cannot be"):
        reopened.checkpoint(at=T0 + dt.timedelta(days=1))
    (key_dir / "signing-key.pub").unlink()
    with pytest.raises(AuditKeyError) as info:
        AuditTrail(warehouse, key_dir).verify()
    assert str(info.value).startswith("audit signing key missing: neither ")
    assert "\n" not in str(info.value)


def test_a_wrong_key_is_a_clear_error(log: AuditTrail, warehouse: duckdb.DuckDBPyConnection, key_dir: Path) -> None:
    for name in ("signing-key", "signing-key.pub"):
        (key_dir / name).unlink()
    SigningKey(key_dir.parent / "elsewhere").create_if_absent()  # a new key pair, as after a bad restore
    for name in ("signing-key", "signing-key.pub"):
        os.replace(key_dir.parent / "elsewhere" / name, key_dir / name)
    with pytest.raises(AuditKeyError, match=r"^audit signing key \S+ \(key id [0-9a-f]{16}\) signed none of the 3 "):
        AuditTrail(warehouse, key_dir).verify()


def test_a_key_open_to_others_or_mismatched_is_refused(
    trail: AuditTrail, warehouse: duckdb.DuckDBPyConnection, key_dir: Path
) -> None:
    populate(trail, 2)
    os.chmod(key_dir / "signing-key", 0o644)
    with pytest.raises(AuditKeyError, match=r"is accessible by other users \(mode 0644\); run: chmod 600 "):
        AuditTrail(warehouse, key_dir).checkpoint(at=T0)
    os.chmod(key_dir / "signing-key", 0o600)
    SigningKey(key_dir.parent / "other").create_if_absent()
    os.replace(key_dir.parent / "other" / "signing-key.pub", key_dir / "signing-key.pub")
    with pytest.raises(AuditKeyError, match=r"signing-key.pub is not the public key of "):
        AuditTrail(warehouse, key_dir).checkpoint(at=T0)


def test_a_read_only_warehouse_can_be_verified(tmp_path: Path) -> None:
    path, key_dir = tmp_path / "w.duckdb", tmp_path / "audit"
    conn = connect(path)
    trail = AuditTrail(conn, key_dir)
    populate(trail, 10)
    trail.checkpoint(at=T0)
    conn.close()
    ro = connect(path, read_only=True)
    assert AuditTrail(ro, key_dir).verify().ok
    ro.close()


def test_times_in_any_network_timezone_verify(tmp_path: Path) -> None:
    conn = connect(tmp_path / "w.duckdb", "Pacific/Chatham")
    trail = AuditTrail(conn, tmp_path / "audit")
    tz = dt.timezone(dt.timedelta(hours=-9, minutes=-30))
    trail.append_many(("a", "b", "c", {}, dt.datetime(2026, 3, 29, 1, 59, 59, 999999, tzinfo=tz)) for _ in range(3))
    trail.checkpoint(at=T0)
    assert trail.verify().ok
    conn.close()


# -- scale ---------------------------------------------------------------------------------------------


def test_a_log_of_100000_entries_verifies(trail: AuditTrail, warehouse: duckdb.DuckDBPyConnection) -> None:
    populate(trail, 100_000)
    trail.checkpoint(at=T0 + dt.timedelta(days=100))
    report = trail.verify()  # its speed is measured in bench.audit, not asserted here
    assert report.ok and report.entries == 100_000, report.finding
    warehouse.execute("""UPDATE audit_entries SET details = '{}' WHERE seq = 99998""")
    assert bad(trail) == (99998, "entry 99998 was edited: its hash does not match")


def test_a_log_from_before_frontiers_verifies_read_only_and_signs_once_the_old_way(tmp_path: Path) -> None:
    conn = connect(tmp_path / "w.duckdb")
    trail = AuditTrail(conn, tmp_path / "audit")
    populate(trail, 30)
    trail.checkpoint(at=T0)
    conn.execute("DROP TABLE audit_frontier")  # as a warehouse made before frontiers
    conn.close()
    read_only = connect(tmp_path / "w.duckdb", read_only=True)
    assert AuditTrail(read_only, tmp_path / "audit").verify().ok
    read_only.close()
    conn = connect(tmp_path / "w.duckdb")
    trail = AuditTrail(conn, tmp_path / "audit")  # creates the table
    populate(trail, 5, 30)
    assert trail.checkpoint(at=T0 + dt.timedelta(hours=1)).root_hash == mth(trail._leaves())
    assert conn.execute("SELECT tree_size FROM audit_frontier").fetchall() == [(35,)]
    assert trail.verify().ok
    conn.close()
