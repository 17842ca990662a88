"""What one ingest run shares with every reader of its files: the run's context, the file id, and how a
sealed artifact is named. Landing files (`lastmile.ingest.load`) and partner feeds
(`lastmile.partners.ingest`) both build on this module, so neither imports the other's internals."""

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import duckdb

from lastmile.settings import Settings
from lastmile.vault import Artifact, Encrypted
from lastmile.warehouse import run_sql

# The tables published per network-timezone day (delete-then-insert per partition).
PUBLISHED_TABLES = ("orders", "events", "proofs", "messages")
MAX_WHOLE_FILE_KEPT = 16 * 1024 * 1024  # a quarantined whole file up to this size is kept encrypted


class VaultLike(Protocol):
    """The part of lastmile.vault.Vault that ingest uses."""

    def seal_many(self, items: Iterable[Any], *, now: dt.datetime) -> int: ...

    def encrypt(self, items: Iterable[Any]) -> Encrypted: ...

    def seal_encrypted(self, encrypted: Encrypted, *, now: dt.datetime) -> int: ...

    def shred_pending(self) -> int: ...

    def keyed_hash(self, value: str | None) -> str | None: ...


def artifact(artifact_id: str, kind: str, order_id: str | None, plaintext: bytes) -> Artifact:
    """One artifact to seal in the vault."""
    return Artifact(artifact_id, kind, order_id, plaintext)


@dataclass
class SealedAhead:
    """What a file's preparation encrypted ahead (on the read-ahead thread): at most one artifact per row,
    keyed by the row's `_row`. The loader stores those of the rows that turn out loaded (`of`)."""

    encrypted: Encrypted
    places: dict[int, int]  # _row -> its artifact's place in `encrypted`

    def of(self, rows: Sequence[int]) -> Encrypted:
        """The artifacts of these rows, in that order. Every row asked for must have one: the preparation
        encrypts, by the same rule, every row the loader can load (a row it did not is a bug, not data)."""
        missing = [row for row in rows if row not in self.places]
        if missing:
            raise AssertionError(f"rows {missing[:5]} were loaded but nothing was encrypted for them ahead")
        return self.encrypted.take([self.places[row] for row in rows])


def encrypt_ahead(vault: VaultLike, rows: Sequence[int], items: Sequence[Artifact]) -> SealedAhead:
    """Encrypt one artifact per listed row (`rows[i]` owns `items[i]`)."""
    return SealedAhead(vault.encrypt(items), {row: i for i, row in enumerate(rows)})


def seal_all(vault: VaultLike, sealed: list[Artifact | Encrypted], *, now: dt.datetime) -> None:
    """Seal what a file's handler collected: artifacts, and parts of what its preparation encrypted ahead
    (on the read-ahead thread) for the rows that turned out loaded."""
    artifacts = [item for item in sealed if not isinstance(item, Encrypted)]
    if artifacts:
        vault.seal_many(artifacts, now=now)
    for item in sealed:
        if isinstance(item, Encrypted) and len(item):
            vault.seal_encrypted(item, now=now)


def landing_file_id(relpath: str, sha256: str) -> str:
    """The stable id of one version of one landing file (its path and content digest)."""
    return hashlib.sha256(f"{relpath}\0{sha256}".encode()).hexdigest()[:20]


def mark_unpublished(conn: duckdb.DuckDBPyConnection, touched: dict[str, set[dt.date]], *, run_id: str,
                     now: dt.datetime) -> None:  # fmt: skip
    """Record the days a file's accepted rows touch as read but not yet published. Call it inside the
    transaction that inserts those rows, so that a killed process leaves either both or neither.

    Each day is recorded for every published table, as publishing does (one range, every table): a
    publish completed after a kill then covers exactly the range an uninterrupted one would have.
    """
    days = sorted(set().union(*touched.values())) if touched else []
    pairs = [(table, day) for table in PUBLISHED_TABLES for day in days]
    if pairs:
        params = {"tables": [t for t, _ in pairs], "days": [d for _, d in pairs], "run_id": run_id, "now": now}
        run_sql(conn, "lastmile.ingest", "sql/mark_unpublished.sql", params)


@dataclass
class IngestContext:
    conn: duckdb.DuckDBPyConnection
    landing: Path
    vault: VaultLike
    settings: Settings
    run_id: str
    now: dt.datetime
    blobs_root: Path
    blobs_have_symlinks: bool
    params: dict[str, Any]
    # The daily partitions lastmile publishes (first, last), network timezone; a row dated outside them is
    # quarantined (`outside_partitions`). None: no bound (callers that publish every day they read).
    partitions: tuple[dt.date, dt.date] | None = None
    pending: bool = False  # the current file left accepted rows in _checked/_classified to insert
