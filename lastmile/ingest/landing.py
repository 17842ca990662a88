"""The landing folder: which files it holds, in the order the contract reads them."""

from dataclasses import dataclass
from pathlib import Path

from lastmile.codes import ENTITIES
from lastmile.errors import LandingError

TABLE_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}


@dataclass(frozen=True)
class LandingFile:
    relpath: str  # e.g. 'events/2026-10-05.csv' (forward slashes)
    entity: str  # 'orders' | 'events' | 'proofs'
    path: Path
    size: int
    mtime_ns: int

    @property
    def format(self) -> str:
        return TABLE_SUFFIXES.get(self.path.suffix.lower(), self.path.suffix.lower().lstrip(".") or "none")


def list_landing_files(landing: Path) -> list[LandingFile]:
    """Every file under orders/, events/ and proofs/ (any depth), sorted by relative path.

    Hidden files (a name starting with '.') are skipped; anything else is listed, including files with
    an unsupported suffix (ingest quarantines those whole rather than ignoring them silently).
    """
    if not landing.exists():
        raise LandingError(f"landing folder {landing} does not exist")
    if not landing.is_dir():
        raise LandingError(f"landing folder {landing} is not a folder")
    found: list[LandingFile] = []
    for entity in ENTITIES:
        folder = landing / entity
        if not folder.is_dir():
            continue
        for path in folder.rglob("*"):
            rel = path.relative_to(landing)
            if any(part.startswith(".") for part in rel.parts) or not path.is_file():
                continue
            stat = path.stat()
            found.append(LandingFile(rel.as_posix(), entity, path, stat.st_size, stat.st_mtime_ns))
    found.sort(key=lambda f: f.relpath)
    return found
