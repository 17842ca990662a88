"""Benchmark retention: a purge run over N artifacts (time and peak memory), and whether its cost grows
with blob size; plus sealing proof blobs against bare AES-256-GCM over the same bytes, in the same run.

    python -m bench.retention [--n 1000000] [--blobs 20000] [--small-blob 1024] [--large-blob 262144]

Each scenario runs in its own child process (so peak RSS is its own) on a throwaway LASTMILE_HOME:
artifacts are sealed straight into the vault (no orders: clock start = sealed_at + 60 days), then one
retention run at an as_of after every due date purges them all: ledger intent, destroy, zeroing of blob
ranges, key sweep (every live key moves off the intake KEK, which is then destroyed), certificate, audit.
Printed: seconds, artifacts per second, peak RSS, and the large/small blob ratio of the purge time.
"""

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
AS_OF = NOW + dt.timedelta(days=400)


def scenario(n: int, kind: str, size: int) -> dict[str, float]:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from lastmile.settings import Home, load_settings
    from lastmile.vault import Artifact, Vault
    from lastmile.vault.keyring import open_keyring
    from lastmile.warehouse import connect
    from retention.policy import load_policy, shipped_policy_path
    from retention.purge import run_retention

    with tempfile.TemporaryDirectory(prefix="lastmile-bench-") as tmp:
        home = Home(Path(tmp) / "home").ensure()
        settings = load_settings(home.root, environ={})
        conn = connect(home.warehouse)
        vault = Vault(conn, home.vault_dir, open_keyring(home.keys_dir, environ={}))
        payload = os.urandom(size)
        items = (Artifact(f"a{i:09d}", kind, None, payload) for i in range(n))
        t0 = time.perf_counter()
        vault.seal_many(items, now=NOW)
        seal = time.perf_counter() - t0
        out = {"seal_s": seal}
        if kind != "recipient_contact":
            aead, nonce = AESGCM(os.urandom(32)), os.urandom(12)
            t0 = time.perf_counter()
            for _ in range(n):
                aead.encrypt(nonce, payload, None)
            out["bare_aes_s"] = time.perf_counter() - t0
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        result = run_retention(
            conn,
            vault,
            policy=load_policy(shipped_policy_path()),
            settings=settings,
            as_of=AS_OF,
            now=AS_OF,
            run_id="bench",
            actor="bench",
            audit_dir=home.audit_dir,
            certificates_dir=home.reports_dir,
        )
        out["purge_s"] = time.perf_counter() - t0
        assert result.purged == n, result
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out["rss_before_purge_mb"] = rss_before / 1024
        conn.close()
        return out


def child(n: int, kind: str, size: int) -> dict[str, float]:
    code = f"import json; from bench.retention import scenario; print(json.dumps(scenario({n}, {kind!r}, {size})))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="contact artifacts (inline) to purge")
    parser.add_argument("--blobs", type=int, default=20_000, help="photo blobs per blob-size scenario")
    parser.add_argument("--small-blob", type=int, default=1024)
    parser.add_argument("--large-blob", type=int, default=256 * 1024)
    args = parser.parse_args()
    print(f"retention purge benchmark (CPUs: {os.cpu_count()})")
    big = child(args.n, "recipient_contact", 150)
    print(
        f"  {args.n:,} contact artifacts (150 B): seal {big['seal_s']:.1f} s; purge run {big['purge_s']:.1f} s "
        f"= {args.n / big['purge_s']:,.0f} artifacts/s; peak RSS {big['peak_rss_mb']:,.0f} MB "
        f"(before the run {big['rss_before_purge_mb']:,.0f} MB)"
    )
    small = child(args.blobs, "photo", args.small_blob)
    large = child(args.blobs, "photo", args.large_blob)
    for r, size in ((small, args.small_blob), (large, args.large_blob)):
        print(
            f"  {args.blobs:,} photo blobs of {size:,} B: purge run {r['purge_s']:.2f} s "
            f"({args.blobs / r['purge_s']:,.0f}/s), peak RSS {r['peak_rss_mb']:,.0f} MB; "
            f"sealing {r['seal_s']:.2f} s vs bare AES-256-GCM {r['bare_aes_s']:.2f} s "
            f"(ratio {r['seal_s'] / r['bare_aes_s']:.1f}x)"
        )
    print(
        f"  purge time large/small blobs: {large['purge_s'] / small['purge_s']:.2f}x "
        f"for {args.large_blob / args.small_blob:.0f}x the bytes"
    )


if __name__ == "__main__":
    main()
