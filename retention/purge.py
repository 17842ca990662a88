"""Retention runs: purge (crypto-shred) every artifact past retention and not under legal hold, with a
ledger row per artifact considered and a signed purge certificate.

Crash safety. A run writes its whole ledger first, in one transaction, with action 'purging' for each
artifact it will purge (the intent), before any key is destroyed. It then destroys data keys in batches of
DESTROY_BATCH, set-based (commit), and marks each batch 'purged'; meanwhile another thread removes the
intents' blob ciphertext ranges from the packs (holes punched, or zeros where the file system cannot).
Then it sweeps the KEKs (retention.keys.sweep), waits for the ranges to be cleared, writes the
certificate atomically, appends to the audit trail and marks the run finished. The ranges are cleared
without freeing their blocks where the file system can (they read as zeros at once, in time that does not
grow with blob size); `reclaim_space`, called after the run, frees the blocks of every finished run not yet
reclaimed (holes punched), which costs the file system time in proportion to the bytes freed. Every step is idempotent,
so a run killed anywhere is completed by the next run (which first finishes every unfinished run, with that
run's own id and as_of, clearing again every range the run's ledger names), and no artifact is ever gone
without its ledger row.
"""

import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from lastmile.audit import AuditTrail
from lastmile.audit.keys import SigningKey, key_id, load_public_pem
from lastmile.settings import Settings
from lastmile.vault import BLOB_KINDS, Vault
from lastmile.vault.keyring import LocalKeyring
from lastmile.warehouse import begin, commit, rollback
from retention import keys as kek
from retention.certificate import (
    CERT_TYPE,
    CERT_VERSION,
    CertificateError,
    Verification,
    load_certificate,
    merkle_root_utf8,
    render,
    sign,
    signature_valid,
    write_certificate,
)
from retention.faults import crash_point
from retention.plan import build_plan
from retention.policy import Policy
from retention.store import ensure_schema, q

DESTROY_BATCH = 500_000
Progress = Callable[[str, int, int], None]


@dataclass
class RunResult:
    run_id: str
    as_of: dt.datetime
    purged: int
    held: int
    retained: int
    by_kind: dict[str, dict[str, int]]
    merkle_root: str
    certificate_path: Path
    keks_destroyed: list[int]
    completed_earlier: list[str] = field(default_factory=list)


def certificate_path(certificates_dir: Path, run_id: str) -> Path:
    return certificates_dir / f"{run_id}.certificate.json"


def run_retention(
    conn: duckdb.DuckDBPyConnection,
    vault: Vault,
    *,
    policy: Policy,
    settings: Settings,
    as_of: dt.datetime,
    now: dt.datetime,
    run_id: str,
    actor: str,
    audit_dir: Path,
    certificates_dir: Path,
    progress: Progress | None = None,
) -> RunResult:
    """Carry out a retention run at as_of (after completing any run that died part-way)."""
    if as_of.tzinfo is None or now.tzinfo is None:
        raise ValueError("as_of and now must be timezone-aware")
    ensure_schema(conn)
    completed = []
    for earlier, _ in q(conn, "unfinished_runs").fetchall():
        _complete(
            conn,
            vault,
            str(earlier),
            policy=policy,
            settings=settings,
            now=now,
            audit_dir=audit_dir,
            certificates_dir=certificates_dir,
            progress=progress,
        )
        completed.append(str(earlier))
    build_plan(conn, policy, settings, as_of)
    begin(conn)
    try:
        q(
            conn,
            "start_run",
            run_id=run_id,
            as_of=as_of,
            policy_version=policy.version,
            policy_hash=policy.hash,
            policy_source=policy.source,
            actor=actor,
            now=now,
        )
        q(conn, "write_intent", run_id=run_id, policy_version=policy.version, as_of=as_of)
        commit(conn)
    except BaseException:
        rollback(conn)
        raise
    crash_point("after_intent")
    result = _complete(
        conn,
        vault,
        run_id,
        policy=policy,
        settings=settings,
        now=now,
        audit_dir=audit_dir,
        certificates_dir=certificates_dir,
        progress=progress,
        plan_built=True,
    )
    result.completed_earlier = completed
    return result


def _purge_intents(
    conn: duckdb.DuckDBPyConnection, vault: Vault, run_id: str, now: dt.datetime, progress: Progress | None
) -> None:
    """Carry out the run's 'purging' intents, DESTROY_BATCH at a time, set-based: the batch's ids travel
    as one Arrow column from the ledger to the vault's destroying UPDATE and back to the ledger's (the
    last batch, which holds every intent left, is marked without the join). Nothing else writes the
    ledger meanwhile: a DuckDB file has one writing process."""
    (total,) = q(conn, "intent_count", run_id=run_id).fetchone() or (0,)
    done = 0
    while True:
        batch = q(conn, "intent_batch", run_id=run_id, limit=DESTROY_BATCH).fetch_arrow_table()
        if not batch.num_rows:
            break
        begin(conn)
        try:
            # keys, nonces, inline ciphertexts; a run's intents name each artifact once (one plan row each)
            vault.destroy_many(
                batch.column("artifact_id"), now=now, run_id=run_id, distinct=True, clear_ranges=False
            )  # the ranges are cleared by _complete, from the intents
            commit(conn)
        except BaseException:
            rollback(conn)
            raise
        crash_point("after_key_destroy")
        if done + batch.num_rows >= total:  # the batch was every intent left: no join needed
            q(conn, "mark_all_purged", run_id=run_id)
        else:
            conn.register("_purged_batch", batch)
            try:
                q(conn, "mark_purged", run_id=run_id)
            finally:
                conn.unregister("_purged_batch")
        done += batch.num_rows
        if progress:
            progress("Purging", done, int(total))


def _purged_root(conn: duckdb.DuckDBPyConnection, run_id: str) -> tuple[str, int]:
    """The Merkle root of the run's purged artifact ids (sorted by DuckDB in code-point order, handed over
    as UTF-8 bytes) and how many there are."""
    ids = q(conn, "purged_ids", run_id=run_id).fetch_arrow_table().column(0)
    return merkle_root_utf8(ids.to_pylist()), len(ids)


def _complete(
    conn: duckdb.DuckDBPyConnection,
    vault: Vault,
    run_id: str,
    *,
    policy: Policy,
    settings: Settings,
    now: dt.datetime,
    audit_dir: Path,
    certificates_dir: Path,
    progress: Progress | None,
    plan_built: bool = False,
) -> RunResult:
    """Carry out the run's intents, sweep the KEKs, write the certificate and finish the run. `plan_built`:
    `_retention_plan` is the one this run's intents were written from (it stays valid for the key sweep,
    which skips the rows purged since); otherwise (an earlier run being completed) it is rebuilt for the
    run's as_of."""
    row = q(conn, "run_row", run_id=run_id).fetchone()
    if row is None:
        raise CertificateError(f"retention run {run_id} is not recorded")
    as_of: dt.datetime = row[1]
    started_at: dt.datetime = row[6]
    # The intent is committed, so the blobs it names go: their ranges are punched out on another thread
    # while this one destroys keys, sweeps KEKs and hashes the root (a punch mostly waits on the storage).
    # Every range of the run, also those of a completed batch: a run killed before this thread finished
    # has its ranges cleared here by the run that completes it. The certificate waits for it.
    found = q(conn, "run_blob_ranges", run_id=run_id, blob_kinds=sorted(BLOB_KINDS)).fetchall()
    ranges = [(str(p), o, n) for p, o, n in found]
    with ThreadPoolExecutor(1, thread_name_prefix="purge-shred") as pool:
        clearing = pool.submit(vault.clear_ranges_of, ranges, free_space=False)  # blocks: reclaim_space
        _purge_intents(conn, vault, run_id, now, progress)
        if not plan_built:
            build_plan(conn, policy, settings, as_of)
        destroyed = kek.sweep(vault, now=now, run_id=run_id)
        noted = json.loads(row[15]) if row[15] else []
        all_destroyed = sorted(set(noted) | set(destroyed))
        q(conn, "note_keks", run_id=run_id, keks=json.dumps(all_destroyed))
        by_kind: dict[str, dict[str, int]] = {}
        for action, kind, n in q(conn, "run_counts", run_id=run_id).fetchall():
            by_kind.setdefault(str(action), {})[str(kind)] = int(n)
        totals = {a: sum(by_kind.get(a, {}).values()) for a in ("purged", "held", "retained")}
        root, _ = _purged_root(conn, run_id)
        clearing.result()
    crash_point("after_blob_delete")
    trail = AuditTrail(conn, audit_dir)  # creates the signing key on first use
    signer = SigningKey(audit_dir)
    body = {
        "type": CERT_TYPE,
        "version": CERT_VERSION,
        "run_id": run_id,
        "as_of": as_of.astimezone(dt.UTC).isoformat(),
        "issued_at": started_at.astimezone(dt.UTC).isoformat(),
        "policy_version": str(row[2]),
        "policy_hash": str(row[3]),
        "counts": {**totals, "by_kind": by_kind},
        "purged_merkle_root": root,
        "merkle_tree": "RFC 9162 SHA-256; leaf = SHA-256(0x00 || UTF-8 artifact_id), artifact ids sorted",
        "keks_destroyed": all_destroyed,
    }
    data = render(sign(body, signer.private()))
    path = certificate_path(certificates_dir, run_id)
    write_certificate(path, data)
    sha = hashlib.sha256(data).hexdigest()
    subject = f"retention_run:{run_id}"
    if not any(e.action == "retention.run" for e in trail.entries(subject=subject)):
        trail.append(
            str(row[5]),
            "retention.run",
            subject,
            {
                "as_of": body["as_of"],
                "policy_version": body["policy_version"],
                "policy_hash": body["policy_hash"],
                **totals,
                "purged_merkle_root": root,
                "certificate_sha256": sha,
                "keks_destroyed": all_destroyed,
            },
            at=now,
        )
    q(
        conn,
        "finish_run",
        run_id=run_id,
        now=now,
        purged=totals["purged"],
        held=totals["held"],
        retained=totals["retained"],
        root=root,
        path=str(path),
        sha=sha,
        keks=json.dumps(all_destroyed),
    )
    trail.checkpoint(at=now)
    return RunResult(
        run_id, as_of, totals["purged"], totals["held"], totals["retained"], by_kind, root, path, all_destroyed
    )


@dataclass
class Reclaimed:
    runs: list[str]
    ranges: int
    bytes: int


def reclaim_space(conn: duckdb.DuckDBPyConnection, vault: Vault, *, now: dt.datetime) -> Reclaimed:
    """Free the pack blocks of every finished run's purged blobs not yet reclaimed (holes punched, one
    `fallocate` per run of adjacent ranges; where holes are not supported the ranges are already zeros and
    nothing more is freed), then record the run in `retention_reclaims`. Idempotent: punching a hole
    again costs only the call, so a reclaim killed part-way is redone whole by the next."""
    ensure_schema(conn)
    runs, n_ranges, n_bytes = [], 0, 0
    for (run_id,) in q(conn, "unreclaimed_runs").fetchall():
        found = q(conn, "run_blob_ranges", run_id=run_id, blob_kinds=sorted(BLOB_KINDS)).fetchall()
        ranges = [(str(p), o, n) for p, o, n in found]
        vault.clear_ranges_of(ranges)
        crash_point("mid_reclaim")
        size = sum(int(n or 0) for _, _, n in ranges)
        q(conn, "record_reclaim", run_id=run_id, now=now, ranges=len(ranges), bytes=size)
        runs.append(str(run_id))
        n_ranges += len(ranges)
        n_bytes += size
    return Reclaimed(runs, n_ranges, n_bytes)


# ------------------------------------------------------------------------------------------- verify


def _range_zero(vault_dir: Path, rel: str, offset: int | None, length: int | None) -> bool:
    """Whether every byte of the range reads back as zero: holes (SEEK_HOLE) are skipped, data is read."""
    path = (vault_dir / rel).resolve()
    if not path.exists():
        return True
    if offset is None or length is None:
        return False  # a legacy whole-file object still present
    end = offset + length
    with open(path, "rb") as fh:
        fd = fh.fileno()
        at = offset
        while at < end:
            try:
                at = os.lseek(fd, at, os.SEEK_DATA)  # the next byte that is not in a hole
                stop = min(os.lseek(fd, at, os.SEEK_HOLE), end)
            except OSError:  # ENXIO: only holes (or nothing) from here on
                return True
            while at < stop:
                chunk = os.pread(fd, min(stop - at, 1 << 20), at)
                if not chunk:
                    return True
                if chunk.count(0) != len(chunk):
                    return False
                at += len(chunk)
    return True


def verify_certificate(
    conn: duckdb.DuckDBPyConnection,
    vault_dir: Path,
    keyring: LocalKeyring,
    cert: Path,
    public_pem: bytes,
) -> Verification:
    """Check a certificate: its signature, its root and counts against the ledger, and that every purged
    artifact is unrecoverable (no data key, nonce or inline ciphertext; pack range zeroed; the KEK that
    last wrapped its data key destroyed)."""
    ensure_schema(conn)
    doc = load_certificate(cert)
    result = Verification(str(cert), str(doc.get("run_id")))
    public = load_public_pem(public_pem)
    sig_ok = signature_valid(doc, public)
    result.add("signature", sig_ok, f"Ed25519, key {key_id_text(public)}" if sig_ok else "does not verify")
    run_id = str(doc.get("run_id"))
    run = q(conn, "run_row", run_id=run_id).fetchone()
    if run is None:
        result.add("ledger", False, f"run {run_id} is not in this warehouse's retention_runs")
        return result
    root, n_purged = _purged_root(conn, run_id)
    result.add(
        "merkle_root",
        root == doc.get("purged_merkle_root"),
        f"ledger gives {root[:16]}…, certificate says {str(doc.get('purged_merkle_root'))[:16]}…",
    )
    counts: dict[str, int] = {}
    for action, _kind, n in q(conn, "run_counts", run_id=run_id).fetchall():
        counts[str(action)] = counts.get(str(action), 0) + int(n)
    doc_counts = doc.get("counts") if isinstance(doc.get("counts"), dict) else {}
    assert isinstance(doc_counts, dict)
    same = all(int(doc_counts.get(a, -1)) == counts.get(a, 0) for a in ("purged", "held", "retained"))
    result.add(
        "counts",
        same and "purging" not in counts,
        f"ledger: {counts.get('purged', 0)} purged, {counts.get('held', 0)} held, "
        f"{counts.get('retained', 0)} retained" + (" (run unfinished)" if "purging" in counts else ""),
    )
    result.add(
        "policy", doc.get("policy_hash") == run[3] and doc.get("policy_version") == run[2], f"policy {run[2]} {run[3]}"
    )
    files = set(keyring.labels())
    bad: list[str] = []
    kek_alive: set[int] = set()
    for artifact_id, in_vault, purged_at, _by, keys_gone, version, rel, offset, length in q(
        conn, "purged_state", run_id=run_id
    ).fetchall():
        if not in_vault or purged_at is None or not keys_gone:
            bad.append(f"{artifact_id} (data key or ciphertext still present)")
        elif rel is not None and not _range_zero(vault_dir, str(rel), offset, length):
            bad.append(f"{artifact_id} (ciphertext bytes still in {rel})")
        if version is not None and (int(version) in files or int(version) == keyring.env_version):
            kek_alive.add(int(version))
    result.add(
        "unrecoverable",
        not bad,
        f"all {n_purged:,} purged artifacts have no data key and no ciphertext"
        if not bad
        else f"{len(bad)} recoverable, e.g. {bad[0]}",
    )
    env_only = kek_alive == {keyring.env_version} if kek_alive else False
    result.add(
        "keks_destroyed",
        not kek_alive or env_only,
        "every KEK that wrapped a purged data key is destroyed (backups cannot unwrap them)"
        if not kek_alive
        else f"KEK version(s) {sorted(kek_alive)} still exist"
        + (" (supplied by LASTMILE_KEK; backups made before this run stay decryptable)" if env_only else ""),
    )
    return result


def key_id_text(public: Any) -> str:
    return key_id(public)[:16]


def certificate_fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
