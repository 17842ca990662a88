"""Inputs the benchmarks cache under bench/out, reused only while the code that made them is unchanged.

A generated landing (or a warehouse ingested from one) is expensive to make, so benchmarks keep it; but an
input made by an older generator measures the past (a cached landing without partner feeds once hid a
quadratic ingest path). Each cached input carries a stamp beside it: a SHA-256 over the source files of the
packages that made it. A benchmark asks `current(path, packages)` and remakes the input when the stamp is
missing or differs, then calls `stamp(path, packages)`.
"""

import hashlib
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("*.py", "*.sql", "*.yaml", "*.json", "*.txt")

GENERATOR = ("lastmile/generator",)
# a warehouse ingested from a generated landing: the generator and everything the ingest runs
INGESTED = (*GENERATOR, "lastmile/ingest", "lastmile/partners", "lastmile/vault", "lastmile/warehouse")


def fingerprint(packages: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for package in packages:
        base = ROOT / package
        files = sorted({p for pattern in SOURCES for p in base.rglob(pattern) if "__pycache__" not in p.parts})
        for path in files:
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".made-by")


def current(path: Path, packages: tuple[str, ...]) -> bool:
    """Whether `path` exists and was made by today's code of `packages`."""
    stamp = _stamp_path(path)
    return path.exists() and stamp.exists() and stamp.read_text().strip() == fingerprint(packages)


def stamp(path: Path, packages: tuple[str, ...]) -> None:
    _stamp_path(path).write_text(fingerprint(packages) + "\n")


def discard(path: Path) -> None:
    """Remove a stale cached input and its stamp, so that it is made again."""
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    _stamp_path(path).unlink(missing_ok=True)
