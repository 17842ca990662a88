"""Benchmark the audit trail: verify() per 100,000 entries against bare SHA-256 over the same bytes.

    python -m bench.audit [--entries 100000] [--repeat 3]

Appends N realistic entries (ingest, check, proof-open and retention actions with small JSON details) to a
throwaway warehouse, signs a checkpoint, then times `AuditTrail.verify()` (best of --repeat): it reads every
entry, rebuilds its canonical bytes, recomputes its leaf hash and the chain, the Merkle root at every
checkpoint's size, and every signature. The baseline, measured in the same run, is plain hashlib SHA-256
over the same canonical bytes (already in memory), and that plus the RFC 9162 Merkle root (the hashing floor).
"""

import argparse
import datetime as dt
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lastmile.audit import AuditTrail, canonical_bytes, mth
from lastmile.warehouse import connect

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
ACTIONS = ("ingest.file", "check.run", "proof.open", "retention.purge", "hold.place")


def entries(n: int) -> Iterator[tuple[str, str, str, dict[str, Any], dt.datetime]]:
    for i in range(n):
        action = ACTIONS[i % len(ACTIONS)]
        details: dict[str, Any] = {"run_id": f"run-{i // 1000:05d}", "n": i}
        if action == "ingest.file":
            details["sha256"] = hashlib.sha256(str(i).encode()).hexdigest()
        elif action == "proof.open":
            details["reason"] = "customer dispute: delivered to the wrong door"
        yield (
            "system:pipeline" if i % 4 else "alice",
            action,
            f"order:O{i:07d}",
            details,
            T0 + dt.timedelta(seconds=i),
        )


def best(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(prog="python -m bench.audit", description=doc.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000, help="entries in the log (default 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs, best kept (default 3)")
    parser.add_argument("--dir", type=Path, default=None, help="where the throwaway home goes (default: temp)")
    args = parser.parse_args(argv)
    n = args.entries
    root = Path(tempfile.mkdtemp(prefix="bench-audit-", dir=args.dir))
    try:
        print(f"throwaway home under {root}; cpus={os.cpu_count()}; {n:,} entries")
        conn = connect(root / "warehouse.duckdb")
        trail = AuditTrail(conn, root / "audit")
        start = time.perf_counter()
        trail.append_many(entries(n))
        append_s = time.perf_counter() - start
        start = time.perf_counter()
        trail.checkpoint(at=T0 + dt.timedelta(days=30))
        checkpoint_s = time.perf_counter() - start

        report = trail.verify()
        assert report.ok and report.entries == n, report.finding
        verify_s = best(args.repeat, trail.verify)

        rows = conn.execute(
            """SELECT seq, strftime(timezone('UTC', "at"), '%Y-%m-%dT%H:%M:%S.%fZ'), actor, action, subject,
                      CAST(details AS VARCHAR), prev_hash FROM audit_entries ORDER BY seq"""
        ).fetchall()
        data = [canonical_bytes(*r) for r in rows]
        total_mb = sum(map(len, data)) / 1e6
        sha = hashlib.sha256
        bare_s = best(args.repeat, lambda: [sha(b).digest() for b in data])
        leaves: list[bytes] = []

        def bare_tree() -> None:
            leaves[:] = [sha(b"\x00" + b).digest() for b in data]
            mth(leaves)

        tree_s = best(args.repeat, bare_tree)
        assert mth(leaves) == trail.root()
        proof_s = best(args.repeat, lambda: trail.inclusion_proof(n // 3))
        conn.close()

        per = 100_000 / n
        print(f"  canonical bytes: {total_mb:.1f} MB, {total_mb * 1e6 / n:.0f} bytes per entry on average")
        print(f"  append_many            {append_s:8.3f} s  ({append_s * per:.3f} s per 100,000 entries)")
        print(f"  checkpoint             {checkpoint_s:8.3f} s")
        print(f"  inclusion proof (one)  {proof_s:8.3f} s")
        print(f"  verify()               {verify_s:8.3f} s  = {verify_s * per:.3f} s per 100,000 entries")
        print(f"  bare SHA-256           {bare_s:8.3f} s  = {bare_s * per:.3f} s per 100,000 entries")
        print(f"  bare SHA-256 + MTH     {tree_s:8.3f} s  = {tree_s * per:.3f} s per 100,000 entries")
        print(f"  ratio verify / bare SHA-256: {verify_s / bare_s:.1f}x", end="   ")
        print(f"(verify / bare SHA-256 + MTH: {verify_s / tree_s:.1f}x)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
