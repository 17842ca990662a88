"""Logging into the audit trail from any domain: append entries and sign a checkpoint in one call.

    from lastmile.audit.log import record
    record(conn, home, "hold.place", f"order:{order_id}", {"hold_id": h, "reason": why}, at=now)

The actor defaults to `lastmile.actor.current_actor()` (LASTMILE_ACTOR, else the OS user). Subjects name
what was touched: 'order:<id>', 'proof:<id>', 'contact:<order_id>', 'file:<path>', 'run:<id>',
'check:<check_id>', 'report:<name>'. Put `order_id` in the details of an entry about one order whose
subject is something else (a hold, a purge): `lastmile audit trace` finds it by that key.
"""

import datetime as dt
from collections.abc import Iterable
from typing import Any

import duckdb

from lastmile.actor import current_actor
from lastmile.audit.trail import AuditTrail, Checkpoint
from lastmile.settings import Home
from lastmile.warehouse import run_sql

SQL = "lastmile.audit"


def open_trail(conn: duckdb.DuckDBPyConnection, home: Home) -> AuditTrail:
    """The audit trail of LASTMILE_HOME on this (writable) warehouse connection."""
    return AuditTrail(conn, home.audit_dir)


def record_many(
    conn: duckdb.DuckDBPyConnection,
    home: Home,
    entries: Iterable[tuple[str, str, dict[str, Any]]],
    *,
    at: dt.datetime,
    actor: str | None = None,
) -> tuple[list[int], Checkpoint | None]:
    """Append (action, subject, details) entries, all by `actor` at `at`, then sign a checkpoint."""
    who = actor or current_actor()
    trail = open_trail(conn, home)
    seqs = trail.append_many((who, action, subject, details, at) for action, subject, details in entries)
    return seqs, trail.checkpoint(at=at) if seqs else None


def record(
    conn: duckdb.DuckDBPyConnection,
    home: Home,
    action: str,
    subject: str,
    details: dict[str, Any],
    *,
    at: dt.datetime,
    actor: str | None = None,
) -> int:
    """Append one entry and sign a checkpoint; returns the entry's seq."""
    seqs, _ = record_many(conn, home, [(action, subject, details)], at=at, actor=actor)
    return seqs[0]


def ingest_entries(conn: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The audit entries of one ingest run: one `ingest.file` per file version read (its SHA-256 and row
    accounting), then one `ingest.run` with the run's landing folder and totals."""
    counts = ("rows_read", "rows_loaded", "rows_duplicate", "rows_revised", "rows_quarantined")
    files = run_sql(conn, SQL, "sql/ingest_files_of_run.sql", {"run_id": run_id}).fetchall()
    run = run_sql(conn, SQL, "sql/ingest_run.sql", {"run_id": run_id}).fetchone()
    entries: list[tuple[str, str, dict[str, Any]]] = []
    for file_id, path, entity, fmt, sha256, size, status, *rows in files:
        details = {"run_id": run_id, "file_id": file_id, "path": path, "entity": entity, "format": fmt,
                   "sha256": sha256, "size_bytes": int(size), "status": status}  # fmt: skip
        details.update({name: int(value) for name, value in zip(counts, rows, strict=True)})
        entries.append(("ingest.file", f"file:{path}", details))
    summary: dict[str, Any] = {"run_id": run_id, "files_read": len(files)}
    if run is not None:
        landing, files_seen, _files_new, *totals, finished_at = run
        summary.update({"landing": landing, "files_seen": int(files_seen or 0)})
        if finished_at is None:  # killed before it finished: its totals are what its files record
            totals = [sum(int(f[7 + i]) for f in files) for i in range(len(counts))]
            summary["interrupted"] = True
        summary.update({name: int(value or 0) for name, value in zip(counts, totals, strict=True)})
    summary["sha256"] = {str(f[1]): str(f[4]) for f in files}
    entries.append(("ingest.run", f"run:{run_id}", summary))
    return entries


def log_ingest_run(
    conn: duckdb.DuckDBPyConnection, home: Home, run_id: str, *, at: dt.datetime, actor: str | None = None
) -> list[int]:
    """Log one ingest run (every file version read, with its SHA-256) and sign a checkpoint.

    Earlier runs that were killed before they logged themselves are logged first (their entries say
    `interrupted` when the run did not finish), so every file version read is in the trail.
    """
    open_trail(conn, home)  # the trail's tables exist from here on
    earlier = [r for (r,) in run_sql(conn, SQL, "sql/unlogged_ingest_runs.sql", {"current": run_id}).fetchall()]
    entries = [entry for rid in [*earlier, run_id] for entry in ingest_entries(conn, rid)]
    seqs, _ = record_many(conn, home, entries, at=at, actor=actor)
    return seqs


def log_check_run(
    conn: duckdb.DuckDBPyConnection,
    home: Home,
    check_id: str,
    details: dict[str, Any],
    *,
    at: dt.datetime,
    actor: str | None = None,
) -> int:
    """Log one check's run (run id, partitions or as_of, evaluated, failed) and sign a checkpoint."""
    return record(conn, home, "check.run", f"check:{check_id}", details, at=at, actor=actor)


def log_check_runs(
    conn: duckdb.DuckDBPyConnection,
    home: Home,
    runs: Iterable[tuple[str, dict[str, Any]]],
    *,
    at: dt.datetime,
    actor: str | None = None,
) -> list[int]:
    """Log several checks' runs (one entry each, as log_check_run) and sign one checkpoint for them all."""
    entries = [("check.run", f"check:{check_id}", details) for check_id, details in runs]
    seqs, _ = record_many(conn, home, entries, at=at, actor=actor)
    return seqs
