"""Benchmark the vault: Vault.seal_many against bare AES-256-GCM on the same bytes, in the same run.

    python -m bench.vault [--small 200000] [--small-bytes 150] [--blobs 50000] [--blob-bytes 6144]
                          [--photos 3000] [--photo-bytes 102400]

Three cases: small artifacts (kind `recipient_contact`, ciphertext inline in the warehouse), proof blobs of
about 6 KB (what the sample generator makes) and of about 100 KB (a realistic phone photo), both kind
`photo`, ciphertext appended to pack files. Each is sealed into a throwaway LASTMILE_HOME (warehouse +
keys + vault); then the same bytes go through

* bare AES-256-GCM: one key, one AESGCM object, a fresh nonce each, nothing stored (the requirement's
  yardstick: the vault at no less than half its speed);
* per-artifact keys: what the contract makes the vault do for each artifact before storing anything (a
  fresh data key, encrypt under it, wrap it under the KEK), nothing stored: the ceiling for the vault;
* for blobs, bare AES-256-GCM + storage: the ciphertexts appended to one file, fsynced every 32 MiB:
  the floor any at-rest store of these bytes pays on this disk.

Peak memory is the process's maximum resident set size (getrusage), before and after each vault run.
"""

import argparse
import datetime as dt
import os
import random
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lastmile.vault import BATCH_BYTES, Artifact, Vault, artifact_aad
from lastmile.vault.keyring import open_keyring
from lastmile.warehouse import connect

NOW = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
POOL = 512


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def pool_of(size: int, spread: float, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    low, high = int(size * (1 - spread)), int(size * (1 + spread))
    return [os.urandom(rng.randint(low, high)) for _ in range(POOL)]


def line(label: str, n: int, total: int, seconds: float, extra: str = "") -> None:
    mb = total / 1e6
    print(f"  {label:<34} {n:>8,} items {mb:>8.1f} MB {seconds:>8.3f} s {mb / seconds:>8.1f} MB/s {extra}")


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def bench_case(label: str, kind: str, n: int, pool: list[bytes], root: Path) -> None:
    total = sum(len(pool[i % POOL]) for i in range(n))

    def artifacts() -> Iterator[Artifact]:
        for i in range(n):
            yield Artifact(f"{kind}-{i}", kind, f"order-{i}", pool[i % POOL])

    home = root / f"home-{label}"
    conn = connect(home / "warehouse.duckdb")
    keys = open_keyring(home / "keys", {})
    vault = Vault(conn, home / "vault", keys)
    rss_before = peak_rss_mb()
    start = time.perf_counter()
    sealed = vault.seal_many(artifacts(), now=NOW)
    vault_s = time.perf_counter() - start
    rss_after = peak_rss_mb()
    assert sealed == n and vault.open(f"{kind}-{n - 1}") == pool[(n - 1) % POOL]
    conn.close()

    aead = AESGCM(AESGCM.generate_key(bit_length=256))

    def bare() -> None:
        for i in range(n):
            aead.encrypt(os.urandom(12), pool[i % POOL], None)

    def per_artifact_keys() -> None:
        wrap = keys.wrap
        for i in range(n):
            data_key, aad = os.urandom(32), artifact_aad(f"{kind}-{i}", kind)
            AESGCM(data_key).encrypt(os.urandom(12), pool[i % POOL], aad)
            wrap(data_key, aad)

    def bare_stored() -> None:
        fd = os.open(root / f"floor-{label}.bin", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            pending: list[bytes] = []
            size = 0
            for i in range(n):
                ciphertext = aead.encrypt(os.urandom(12), pool[i % POOL], None)
                pending.append(ciphertext)
                size += len(ciphertext)
                if size >= BATCH_BYTES or i == n - 1:
                    os.writev(fd, pending[:1024]) if len(pending) <= 1024 else os.write(fd, b"".join(pending))
                    os.fsync(fd)
                    pending, size = [], 0
        finally:
            os.close(fd)

    bare_s = timed(bare)
    keys_s = timed(per_artifact_keys)
    print(f"{label}: {n:,} artifacts of kind {kind}, {total / n:,.0f} bytes on average")
    line("bare AES-256-GCM (one key)", n, total, bare_s)
    line("per-artifact keys, nothing stored", n, total, keys_s, f"= {bare_s / keys_s:.3f} x bare")
    if kind == "photo":
        stored_s = timed(bare_stored)
        line("bare AES-256-GCM + append + fsync", n, total, stored_s, f"= {bare_s / stored_s:.3f} x bare")
    line("vault.seal_many", n, total, vault_s, f"peak RSS {rss_before:,.0f} -> {rss_after:,.0f} MB")
    ratio = f"  ratio vault/bare speed: {bare_s / vault_s:.3f}"
    if kind == "photo":
        ratio += f"   (vault/bare+storage: {stored_s / vault_s:.3f})"
    print(ratio)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.vault", description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=200_000, help="small artifacts (default 200000)")
    parser.add_argument("--small-bytes", type=int, default=150, help="small artifact size (default 150)")
    parser.add_argument("--blobs", type=int, default=50_000, help="proof blobs of --blob-bytes (default 50000)")
    parser.add_argument("--blob-bytes", type=int, default=6144, help="average blob size (default 6144)")
    parser.add_argument("--photos", type=int, default=3000, help="photos of --photo-bytes (default 3000)")
    parser.add_argument("--photo-bytes", type=int, default=102_400, help="average photo size (default 102400)")
    parser.add_argument("--dir", type=Path, default=None, help="where the throwaway home goes (default: temp)")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bench-vault-", dir=args.dir))
    try:
        print(f"throwaway home under {root}; cpus={os.cpu_count()}")
        if args.small:
            bench_case("contact", "recipient_contact", args.small, pool_of(args.small_bytes, 0.0, 2), root)
        if args.blobs:
            bench_case("blob", "photo", args.blobs, pool_of(args.blob_bytes, 0.33, 1), root)
        if args.photos:
            bench_case("photo", "photo", args.photos, pool_of(args.photo_bytes, 0.33, 3), root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
