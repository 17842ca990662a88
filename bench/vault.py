"""Benchmark the vault: Vault.seal_many against bare AES-256-GCM on the same bytes.

    python -m bench.vault [--blobs 20000] [--blob-bytes 6144] [--small 200000] [--small-bytes 150]

Two cases: proof blobs (kind `photo`, sizes spread around --blob-bytes, ciphertext in one file each)
and small artifacts (kind `recipient_contact`, --small-bytes each, ciphertext inline in the warehouse).
Each is sealed into a throwaway LASTMILE_HOME (warehouse + keys + vault), then the same bytes go through
bare AES-256-GCM (one key, one AESGCM object, a fresh nonce each, nothing stored). For blobs a third line
adds an atomic file write per blob to the bare encryption: the storage floor the vault cannot go below.
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

from lastmile.warehouse import connect
from retention.keyring import open_keyring
from retention.vault import Artifact, Vault

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
    print(f"  {label:<26} {n:>8,} items {mb:>9.1f} MB {seconds:>8.3f} s {mb / seconds:>9.1f} MB/s {extra}")


def bench_case(kind: str, n: int, pool: list[bytes], root: Path) -> None:
    total = sum(len(pool[i % POOL]) for i in range(n))

    def artifacts() -> Iterator[Artifact]:
        for i in range(n):
            yield Artifact(f"{kind}-{i}", kind, f"order-{i}", pool[i % POOL])

    home = root / f"home-{kind}"
    conn = connect(home / "warehouse.duckdb")
    vault = Vault(conn, home / "vault", open_keyring(home / "keys", {}))
    rss_before = peak_rss_mb()
    start = time.perf_counter()
    sealed = vault.seal_many(artifacts(), now=NOW)
    vault_s = time.perf_counter() - start
    rss_after = peak_rss_mb()
    assert sealed == n and vault.open(f"{kind}-{n - 1}") == pool[(n - 1) % POOL]
    conn.execute("CHECKPOINT")
    conn.close()

    aead = AESGCM(AESGCM.generate_key(bit_length=256))

    def bare(store: Callable[[int, bytes], None] | None) -> float:
        start = time.perf_counter()
        for i in range(n):
            ciphertext = aead.encrypt(os.urandom(12), pool[i % POOL], None)
            if store is not None:
                store(i, ciphertext)
        return time.perf_counter() - start

    bare_s = bare(None)
    print(f"{kind}: {n:,} artifacts, {total / n:,.0f} bytes on average")
    line("vault.seal_many", n, total, vault_s, f"peak RSS {rss_before:,.0f} -> {rss_after:,.0f} MB")
    line("bare AES-256-GCM", n, total, bare_s)
    if kind == "photo":
        files = root / "bare-files"
        for i in range(256):
            (files / f"{i:02x}").mkdir(parents=True, exist_ok=True)

        def write(i: int, data: bytes) -> None:
            path = files / f"{i % 256:02x}" / f"{i}.bin"
            tmp = path.with_name(path.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, data)
            os.close(fd)
            os.replace(tmp, path)

        files_s = bare(write)
        line("bare AES-256-GCM + files", n, total, files_s)
        print(f"  ratio vault/bare speed: {bare_s / vault_s:.3f}  (vault/bare+files: {files_s / vault_s:.3f})")
    else:
        print(f"  ratio vault/bare speed: {bare_s / vault_s:.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.vault", description=__doc__.splitlines()[0])
    parser.add_argument("--blobs", type=int, default=20_000, help="number of proof blobs (default 20000)")
    parser.add_argument("--blob-bytes", type=int, default=6144, help="average blob size (default 6144)")
    parser.add_argument("--small", type=int, default=200_000, help="number of small artifacts (default 200000)")
    parser.add_argument("--small-bytes", type=int, default=150, help="small artifact size (default 150)")
    parser.add_argument("--dir", type=Path, default=None, help="where the throwaway home goes (default: temp)")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bench-vault-", dir=args.dir))
    try:
        print(f"throwaway home under {root}; cpus={os.cpu_count()}")
        if args.blobs:
            bench_case("photo", args.blobs, pool_of(args.blob_bytes, 0.33, 1), root)
        if args.small:
            bench_case("recipient_contact", args.small, pool_of(args.small_bytes, 0.0, 2), root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
