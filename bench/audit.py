"""Benchmark the audit trail: verify() per 100,000 entries against bare SHA-256 over the same bytes.

    python -m bench.audit [--entries 100000] [--repeat 3]
    python -m bench.audit --check-runs [--log-entries 1000000] [--runs 5]

`--check-runs` measures instead what a `lastmile check` run asks of the trail: 19 times (one per check)
`lastmile.audit.log.log_check_run`, which opens the trail, appends one `check.run` entry and signs a
checkpoint. It times that sequence on a warehouse whose log already holds --log-entries entries (appended
and signed first, not timed) and on one with an empty log, alternately, best of --runs each, and prints
the ratio (target <= 1.1x: signing extends the stored frontier instead of re-reading the log).

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


CHECKS_PER_RUN = 19


def check_runs(log_entries: int, runs: int, where: Path | None) -> None:
    from lastmile.audit.log import log_check_run
    from lastmile.settings import Home

    root = Path(tempfile.mkdtemp(prefix="bench-audit-", dir=where))
    try:
        print(f"throwaway homes under {root}; cpus={os.cpu_count()}; load average {os.getloadavg()[0]:.1f}")
        homes = {"empty log": Home(root / "empty").ensure(), f"{log_entries:,}-entry log": Home(root / "full").ensure()}
        conns = {name: connect(home.warehouse) for name, home in homes.items()}
        full_name = f"{log_entries:,}-entry log"
        start = time.perf_counter()
        full = AuditTrail(conns[full_name], homes[full_name].audit_dir)
        full.append_many(entries(log_entries))
        full.checkpoint(at=T0 + dt.timedelta(days=30))
        conns[full_name].execute("CHECKPOINT")
        print(f"  seeded {log_entries:,} entries and signed them in {time.perf_counter() - start:.1f} s (not timed)")
        times: dict[str, list[float]] = {name: [] for name in homes}
        at = T0 + dt.timedelta(days=31)
        for r in range(runs + 1):  # the first round warms up and is not counted
            for name, home in homes.items():
                t0 = time.perf_counter()
                for c in range(CHECKS_PER_RUN):
                    at += dt.timedelta(seconds=1)
                    details = {"run_id": f"run-{r}", "as_of": at.isoformat(), "evaluated": 1000, "failed": c}
                    log_check_run(conns[name], home, f"check.{c:02d}", details, at=at, actor="bench")
                if r:
                    times[name].append(time.perf_counter() - t0)
        for name, conn in conns.items():
            report = AuditTrail(conn, homes[name].audit_dir).verify()
            assert report.ok, report.finding
            conn.close()
        empty_s, full_s = min(times["empty log"]), min(times[full_name])
        for name, got in times.items():
            print(f"  {CHECKS_PER_RUN} appends + signs on the {name:<22} best {min(got):.3f} s  (runs: "
                  + ", ".join(f"{t:.3f}" for t in got) + ")")  # fmt: skip
        median = sorted(times[full_name])[runs // 2] / sorted(times["empty log"])[runs // 2]
        mean = sum(times[full_name]) / sum(times["empty log"])
        print(f"  ratio {full_name} / empty log: {full_s / empty_s:.2f}x (best of {runs}; target <= 1.1x); "
              f"median ratio {median:.2f}x; mean ratio {mean:.2f}x")  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(prog="python -m bench.audit", description=doc.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000, help="entries in the log (default 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs, best kept (default 3)")
    parser.add_argument("--dir", type=Path, default=None, help="where the throwaway home goes (default: temp)")
    parser.add_argument("--check-runs", action="store_true", help="time a check run's appends + signs instead")
    parser.add_argument("--log-entries", type=int, default=1_000_000, help="with --check-runs (default 1000000)")
    parser.add_argument("--runs", type=int, default=5, help="with --check-runs: timed runs per log (default 5)")
    args = parser.parse_args(argv)
    if args.check_runs:
        check_runs(args.log_entries, args.runs, args.dir)
        return
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
