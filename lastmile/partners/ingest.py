"""Partner payload files in one ingest: parsed, classified and stored in a few set-based passes.

Called by lastmile.ingest when it reaches the partner files of a landing folder (they are contiguous in
the reading order: every path starts with partners/). Guarantees are ingest's, per file:

* one `ingest_files` row per file version, with `rows_read = rows_loaded + rows_duplicate + rows_revised +
  rows_quarantined` (a row is one partner event, or one report of a shipment that gave no event), and
  `shipments_found = shipments_read + shipments_reported`;
* a partner event already seen (in an earlier file, earlier in the same file, or by an earlier ingest)
  is a duplicate; one whose id an `events/` file already used is quarantined (`conflict`); an unmapped one
  is quarantined (`unmapped_code`) and kept in `partner_events`, and loads when a later payload repeats it
  after its code got a mapping;
* everything lands in one transaction, after the vault sealed the payloads (see lastmile.ingest.load).

The passes: (1) each file is read by its partner's format (Python; events go into Arrow batches, the
payload bytes into the vault in shares); (2) one SQL pass classifies every event of every file against what
the warehouse already holds (window functions over the whole batch); (3) one transaction inserts. Tracking
numbers are matched to orders with one query per ingest (the current revision of every order that names a
partner), not one per file.

Parsing a payload (`read_feed`) is pure Python on bytes, so with many files it runs in worker processes,
on consecutive chunks of files: this process reads each file's bytes (the same bytes it digests, parses
and seals), the workers parse them, and the results are taken back strictly in reading order, so rows,
row numbers, accounting and quarantine are exactly the serial path's. Everything that needs the
warehouse or the vault's keys (order lookup, keyed hashes, sealing) stays in this process. Workers are
started with `spawn` (a forked copy of a process running DuckDB's threads could inherit a held lock), so,
as for any Python multiprocessing, a script that calls ingest must guard its entry point with
`if __name__ == "__main__":` (the `lastmile` command, Dagster and pytest do). Should a worker die, the
files not yet taken are parsed in this process: the result is the same.
"""

import datetime as dt
import json
import multiprocessing
import os
import zoneinfo
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from lastmile import contact
from lastmile.faults import crash_point
from lastmile.ingest.api import FileAccount
from lastmile.ingest.context import MAX_WHOLE_FILE_KEPT, IngestContext, artifact, landing_file_id, mark_unpublished
from lastmile.ingest.landing import LandingFile
from lastmile.partners.feed import SHIPMENT_WITHOUT_EVENTS, UNREAD_SHIPMENT, PayloadError, Reading, read_feed
from lastmile.partners.mapping import Partner, PartnerRegistry
from lastmile.warehouse import run_sql, transaction

SQL = "lastmile.partners"
FOLDER = "partners"
ENTITY = "partners"
PAYLOAD_KIND = "partner_payload"
SEAL_SHARE = 512  # payload files sealed per vault call
EVENT_BATCH = 65536  # events per Arrow record batch while reading
# Parsing in worker processes: only for this many files or more (starting a worker costs about a second of
# imports), CHUNK_FILES consecutive files per task, at most IN_FLIGHT_PER_WORKER tasks ahead per worker.
PARALLEL_MIN_FILES = 1000
CHUNK_FILES = 128
IN_FLIGHT_PER_WORKER = 3
# Quarantine reasons particular to partner feeds (the others are ingest's: unreadable_file,
# missing_required, bad_timestamp, bad_number, partial_coordinates, conflict).
PARTNER_QUARANTINE_REASONS = {
    "unknown_partner": "a file under partners/ whose folder names no configured partner; quarantined whole",
    "unrecognised_payload": "the payload parses but has none of its format's shipments; quarantined whole",
    "unmapped_code": "a partner event whose status or reason code has no mapping; no event is invented",
    SHIPMENT_WITHOUT_EVENTS: "a shipment the format found that gave no event (tracking number and path kept)",
    UNREAD_SHIPMENT: "an object of the payload carrying a tracking number the format did not read",
}

_EVENT_SCHEMA = pa.schema([
    ("file_ord", pa.int64()), ("file_id", pa.string()), ("path", pa.string()), ("event_id", pa.string()),
    ("partner_id", pa.string()), ("tracking_number", pa.string()), ("order_id", pa.string()),
    ("order_matched", pa.bool_()), ("status_code", pa.string()), ("status_mapped", pa.bool_()),
    ("status_entry", pa.string()), ("reason_code", pa.string()), ("reason_consulted", pa.bool_()),
    ("reason_mapped", pa.bool_()), ("reason_entry", pa.string()), ("description", pa.string()),
    ("status", pa.string()), ("exception_code", pa.string()), ("occurred_at", pa.timestamp("us", tz="UTC")),
    ("occurred_text", pa.string()), ("utc_offset", pa.string()), ("recorded_at", pa.timestamp("us", tz="UTC")),
    ("location", pa.string()), ("lat", pa.float64()), ("lon", pa.float64()), ("signed", pa.bool_()),
    ("signer_name_hash", pa.string()), ("outcome", pa.string()), ("row_number", pa.int64()),
])  # fmt: skip
_PAYLOAD_SCHEMA = pa.schema([
    ("file_id", pa.string()), ("partner_id", pa.string()), ("format", pa.string()), ("path", pa.string()),
    ("sha256", pa.string()), ("size_bytes", pa.int64()), ("payload_artifact_id", pa.string()),
    ("events", pa.int64()),
])  # fmt: skip


def list_partner_files(landing: Path) -> list[LandingFile]:
    """Every file under LANDING/partners/ (any depth; hidden files skipped), sorted by relative path."""
    folder = landing / FOLDER
    if not folder.is_dir():
        return []
    found = []
    stack = [(folder, FOLDER)]
    while stack:  # os.scandir: one stat per file, no Path arithmetic per file (partner feeds are many files)
        directory, rel = stack.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                relpath = f"{rel}/{entry.name}"
                if entry.is_dir(follow_symlinks=False):
                    stack.append((Path(entry.path), relpath))
                elif entry.is_file():
                    stat = entry.stat()
                    found.append(LandingFile(relpath, ENTITY, Path(entry.path), stat.st_size, stat.st_mtime_ns))
    found.sort(key=lambda f: f.relpath)
    return found


def partner_of(relpath: str) -> str | None:
    """The partner_id a file belongs to: the folder right under partners/ (None for a file directly there)."""
    parts = relpath.split("/")
    return parts[1] if len(parts) >= 3 else None


def orphan_order_id(partner_id: str, tracking_number: str) -> str:
    """The order_id of a partner event whose tracking number matches no order: it lands as an orphan."""
    return f"{partner_id}:{tracking_number}"


def _too_large(sha: str) -> str:
    return json.dumps({"note": "file too large to keep; it stays in the landing folder", "sha256": sha})


def _local_day(value: dt.datetime | None, tz: dt.tzinfo) -> dt.date | None:
    """The network-timezone day of `value` (None when absent or past the end of Python's calendar)."""
    if value is None:
        return None
    try:
        return value.astimezone(tz).date()
    except OverflowError:
        return None


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.astimezone(dt.UTC) if value is not None else None


@dataclass
class _File:
    ord: int
    lf: LandingFile
    sha: str
    file_id: str
    format: str
    status: str = "loaded"
    # what the payload held (its events are not kept once they are in the batch's Arrow rows)
    rows: int = 1
    shipments: tuple[int, int, int] = (0, 0, 0)  # found, read, reported
    quarantined: int = 0
    counts: Counter[str] = field(default_factory=Counter)


@dataclass
class PartnerBatch:
    """What one ingest's partner files gave: one account per file (in reading order), the partitions
    touched, and the quarantine reasons counted."""

    accounts: list[FileAccount]
    touched: dict[str, set[dt.date]]
    reasons: Counter[str]


class _Batch:
    def __init__(self, ctx: IngestContext, registry: PartnerRegistry) -> None:
        self.ctx, self.registry = ctx, registry
        self.files: list[_File] = []
        self.quarantine: list[dict[str, Any]] = []
        self.sealed: list[Any] = []
        self.reasons: Counter[str] = Counter()
        self.rows: list[tuple[Any, ...]] = []
        self.batches: list[pa.RecordBatch] = []
        self.payloads: dict[str, list[Any]] = {name: [] for name in _PAYLOAD_SCHEMA.names}
        self._orders: dict[tuple[str, str], str] | None = None

    # ------------------------------------------------------------------------------------------- lookup
    def order_of(self, partner_id: str, tracking_number: str) -> str | None:
        """The current order naming this partner and tracking number (looked up once per ingest)."""
        if self._orders is None:
            rows = run_sql(self.ctx.conn, SQL, "sql/orders_by_tracking.sql").fetchall()
            self._orders = {(p, t): o for p, t, o in rows}
        return self._orders.get((partner_id, tracking_number))

    # --------------------------------------------------------------------------------------------- read
    def quarantine_row(self, f: _File, row: int, reason: str, detail: str, raw: str | bytes,
                       entity_id: str | None = None, order_id: str | None = None) -> None:  # fmt: skip
        qid = f"{f.file_id}:{row}"
        artifact_id = None
        if isinstance(raw, bytes):  # a whole payload may hold personal data: kept encrypted
            artifact_id = f"quarantine:{qid}"
            self.sealed.append(artifact(artifact_id, "quarantined_record", order_id, raw))
        self.quarantine.append({
            "quarantine_id": qid, "run_id": self.ctx.run_id, "file_id": f.file_id, "path": f.lf.relpath,
            "entity": ENTITY, "row_number": row, "reason": reason, "detail": detail, "entity_id": entity_id,
            "order_id": order_id, "raw_record": None if isinstance(raw, bytes) else raw,
            "raw_artifact_id": artifact_id, "ingested_at": self.ctx.now,
        })  # fmt: skip
        self.reasons[reason] += 1
        f.quarantined += 1

    def take(self, item: "_Parsed") -> None:
        """Account for one file, given its bytes and what its format read from them (in reading order)."""
        lf, sha, data, partner, reading = item
        file_id = landing_file_id(lf.relpath, sha)
        partner_id = partner_of(lf.relpath)
        f = _File(len(self.files), lf, sha, file_id, partner.format.syntax if partner else (lf.format or "none"))
        self.files.append(f)
        whole: str | bytes = data if len(data) <= MAX_WHOLE_FILE_KEPT else _too_large(sha)
        if partner is None:
            known = ", ".join(self.registry.known())
            detail = (f"no partner config for {partner_id!r} (known: {known})" if partner_id
                      else "a partner feed must be in partners/<partner_id>/")  # fmt: skip
            f.status = "unreadable"
            self.quarantine_row(f, 0, "unknown_partner", detail, whole)
            return
        if isinstance(reading, PayloadError):
            f.status = "unreadable"
            self.quarantine_row(f, 0, reading.reason, reading.detail, whole)
            return
        assert reading is not None
        f.rows = reading.rows
        f.shipments = (reading.shipments_found, reading.shipments_read, reading.shipments_reported)
        pid = partner.partner_id
        orders: set[str] = set()
        rows = self.rows
        vault = self.ctx.vault
        tz, bounds = self.ctx.settings.tz, self.ctx.partitions
        for ev in reading.events:
            if ev.fault is not None:
                self.quarantine_row(f, ev.row, ev.fault[0], ev.fault[1], json.dumps(ev.record(), ensure_ascii=False))
                continue
            assert ev.tracking_number is not None
            order_id = self.order_of(pid, ev.tracking_number)
            if order_id is not None:
                orders.add(order_id)
            day = _local_day(ev.occurred_at, tz)
            if day is None or (bounds is not None and not bounds[0] <= day <= bounds[1]):
                on = f"is on {day}" if day is not None else "is past the end of the calendar"
                within = f"{bounds[0]}..{bounds[1]}" if bounds is not None else "(any day)"
                detail = f"occurred_at {ev.occurred_text or ev.occurred_at} {on}, outside the daily partitions {within}"
                raw = json.dumps(ev.record(), ensure_ascii=False)
                self.quarantine_row(f, ev.row, "outside_partitions", detail, raw, entity_id=ev.event_id,
                                    order_id=order_id)  # fmt: skip
                continue
            rows.append((
                f.ord, file_id, lf.relpath, ev.event_id, pid, ev.tracking_number,
                order_id if order_id is not None else orphan_order_id(pid, ev.tracking_number), order_id is not None,
                ev.status_code, bool(ev.status_mapped), ev.status_entry, ev.reason_code, ev.reason_consulted,
                ev.reason_mapped, ev.reason_entry, ev.description, ev.status, ev.exception_code, _utc(ev.occurred_at),
                ev.occurred_text, ev.utc_offset, _utc(ev.recorded_at), ev.location, ev.lat, ev.lon,
                ev.signer is not None,
                vault.keyed_hash(contact.normalize_name(ev.signer)) if ev.signer else None, ev.outcome, ev.row,
            ))  # fmt: skip
        for rep in reading.reports:
            order_id = self.order_of(pid, rep.tracking_number) if rep.tracking_number else None
            if order_id is not None:
                orders.add(order_id)
            self.quarantine_row(f, rep.row, rep.reason, rep.detail, json.dumps(rep.record(pid), ensure_ascii=False),
                                order_id=order_id)  # fmt: skip
        artifact_id = None
        if isinstance(whole, bytes):
            artifact_id = f"{PAYLOAD_KIND}:{file_id}"
            self.sealed.append(artifact(artifact_id, PAYLOAD_KIND, orders.pop() if len(orders) == 1 else None, data))
        for name, value in zip(_PAYLOAD_SCHEMA.names, (
            file_id, pid, partner.format.name, lf.relpath, sha, lf.size, artifact_id, len(reading.events),
        ), strict=True):  # fmt: skip
            self.payloads[name].append(value)
        if len(rows) >= EVENT_BATCH:
            self._flush_events()
        if len(self.sealed) >= SEAL_SHARE:
            self._seal()

    def _flush_events(self) -> None:
        if self.rows:
            columns = [
                pa.array(c, type=t) for c, t in zip(zip(*self.rows, strict=True), _EVENT_SCHEMA.types, strict=True)
            ]
            self.batches.append(pa.RecordBatch.from_arrays(columns, schema=_EVENT_SCHEMA))
            self.rows = []

    def _seal(self) -> None:
        # The vault commits its artifacts first; if this process dies before the batch's transaction
        # commits, no file of it is in ingest_files, so the next ingest reads them again and re-seals
        # (replacing) the same artifact ids: nothing is lost and nothing is doubled.
        if self.sealed:
            self.ctx.vault.seal_many(self.sealed, now=self.ctx.now)
            self.sealed = []

    # ---------------------------------------------------------------------------------------- classify
    def finish(self) -> PartnerBatch:
        self._flush_events()
        self._seal()
        crash_point("ingest.after_seal")
        conn, ctx = self.ctx.conn, self.ctx
        events = pa.Table.from_batches(self.batches, schema=_EVENT_SCHEMA)
        touched: dict[str, set[dt.date]] = {}
        conn.register("_partner_events_read", events)
        run_sql(conn, SQL, "sql/classify.sql")
        conn.unregister("_partner_events_read")
        for ord_, result, n in conn.execute("SELECT file_ord, result, count(*) FROM _pc GROUP BY ALL").fetchall():
            self.files[ord_].counts[result] += n
        later = conn.execute(
            "SELECT file_ord, row_number, result, event_id, order_id, detail, raw_record FROM _pc"
            " WHERE result IN ('conflict', 'unmapped') ORDER BY file_ord, row_number"
        ).fetchall()
        for ord_, row, result, event_id, order_id, detail, raw in later:
            reason = "conflict" if result == "conflict" else "unmapped_code"
            self.quarantine_row(self.files[ord_], row, reason, detail, raw, entity_id=event_id, order_id=order_id)
        for table, day in conn.execute(
            "SELECT DISTINCT 'events', partition_date FROM _pc WHERE result = 'loaded' AND outcome = 'mapped'"
            " UNION SELECT DISTINCT 'proofs', partition_date FROM _pc WHERE result = 'loaded' AND signed"
        ).fetchall():
            touched.setdefault(table, set()).add(day)
        accounts = [self._account(f) for f in self.files]
        files = pa.Table.from_pylist([{
            "file_id": a.file_id, "run_id": ctx.run_id, "path": a.path, "entity": a.entity, "format": a.format,
            "sha256": a.sha256, "size_bytes": a.size_bytes, "status": a.status, "rows_read": a.rows_read,
            "rows_loaded": a.rows_loaded, "rows_duplicate": a.rows_duplicate, "rows_revised": a.rows_revised,
            "rows_quarantined": a.rows_quarantined, "ingested_at": ctx.now, "shipments_found": a.shipments_found,
            "shipments_read": a.shipments_read, "shipments_reported": a.shipments_reported,
        } for a in accounts])  # fmt: skip
        payloads = pa.Table.from_pydict(self.payloads, schema=_PAYLOAD_SCHEMA)
        params = {"run_id": ctx.run_id, "now": ctx.now}
        with transaction(conn):
            if self.quarantine:
                conn.register("_partner_quarantine", pa.Table.from_pylist(self.quarantine))
                conn.execute("INSERT INTO quarantine BY NAME SELECT * FROM _partner_quarantine")
                conn.unregister("_partner_quarantine")
            conn.register("_partner_payloads", payloads)
            conn.register("_partner_files", files)
            run_sql(conn, SQL, "sql/insert.sql", params)
            conn.unregister("_partner_payloads")
            conn.unregister("_partner_files")
            mark_unpublished(conn, touched, run_id=ctx.run_id, now=ctx.now)
        crash_point("ingest.after_file")
        conn.execute("DROP TABLE IF EXISTS _pc")
        return PartnerBatch(accounts, touched, self.reasons)

    def _account(self, f: _File) -> FileAccount:
        found, read, reported = f.shipments
        account = FileAccount(
            file_id=f.file_id, path=f.lf.relpath, entity=ENTITY, format=f.format, sha256=f.sha,
            size_bytes=f.lf.size, status=f.status, rows_read=f.rows, rows_loaded=f.counts["loaded"],
            rows_duplicate=f.counts["duplicate"], rows_revised=0, rows_quarantined=f.quarantined,
            shipments_found=found, shipments_read=read, shipments_reported=reported,
        )  # fmt: skip
        if account.rows_read != account.rows_loaded + account.rows_duplicate + account.rows_quarantined:
            raise AssertionError(f"partner ingest accounting broken for {f.lf.relpath}: {account}")
        return account


# One file as read: (file, digest, its bytes, its partner or None, what the format read or why it could not).
_Parsed = tuple[LandingFile, str, bytes, Partner | None, Reading | PayloadError | None]


def _parse(data: bytes, partner: Partner, tz: zoneinfo.ZoneInfo, name: str) -> Reading | PayloadError:
    try:
        return read_feed(data, partner, tz, name)
    except PayloadError as exc:
        return exc


def _serial(files: list[tuple[LandingFile, str]], registry: PartnerRegistry, tz: zoneinfo.ZoneInfo,
            start: int = 0) -> Iterator[_Parsed]:  # fmt: skip
    for lf, sha in files[start:]:
        data = lf.path.read_bytes()
        partner_id = partner_of(lf.relpath)
        partner = registry.get(partner_id) if partner_id else None
        yield lf, sha, data, partner, _parse(data, partner, tz, lf.path.name) if partner else None


# ------------------------------------------------------------------------------------ worker processes

_worker_registry: PartnerRegistry | None = None


def _worker_start(user_dir: Path | None) -> None:
    global _worker_registry
    _worker_registry = PartnerRegistry(user_dir)


def _parse_chunk(tz: zoneinfo.ZoneInfo, jobs: list[tuple[str, bytes, str]]) -> list[Reading | tuple[str, str]]:
    """In a worker: each (partner_id, payload, file name) read by the partner's format; a payload that
    cannot be read gives (reason, detail) (an exception with two arguments does not survive pickling)."""
    assert _worker_registry is not None
    out: list[Reading | tuple[str, str]] = []
    for partner_id, data, name in jobs:
        partner = _worker_registry.get(partner_id)
        assert partner is not None  # this process found it before sending the job
        got = _parse(data, partner, tz, name)
        out.append((got.reason, got.detail) if isinstance(got, PayloadError) else got)
    return out


def _parallel(files: list[tuple[LandingFile, str]], registry: PartnerRegistry, tz: zoneinfo.ZoneInfo,
              workers: int) -> Iterator[_Parsed]:  # fmt: skip
    """The serial path's results, in the same order, with the parsing done by `workers` processes.

    This process reads the bytes and finds each file's partner (so a bad partner config fails here, as
    serially), and sends each chunk's known-partner payloads to a worker; up to IN_FLIGHT_PER_WORKER chunks
    per worker are ahead of the one being taken. Should the pool break (a worker killed), the files not yet
    taken are read serially: the results are the same either way.
    """
    chunks = [files[i : i + CHUNK_FILES] for i in range(0, len(files), CHUNK_FILES)]
    done = 0  # files yielded
    # spawn, not fork: this process runs DuckDB's threads, and a forked child could inherit a held lock.
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_start, initargs=(registry.user_dir,))  # fmt: skip
    try:
        ahead: deque[tuple[list[tuple[LandingFile, str, bytes, Partner | None]], Future[Any]]] = deque()
        next_chunk = 0
        while done < len(files):
            while next_chunk < len(chunks) and len(ahead) < workers * IN_FLIGHT_PER_WORKER:
                read = []
                for lf, sha in chunks[next_chunk]:
                    partner_id = partner_of(lf.relpath)
                    read.append((lf, sha, lf.path.read_bytes(), registry.get(partner_id) if partner_id else None))
                jobs = [(p.partner_id, data, lf.path.name) for lf, _, data, p in read if p is not None]
                ahead.append((read, pool.submit(_parse_chunk, tz, jobs)))
                next_chunk += 1
            read, future = ahead.popleft()
            try:
                results = iter(future.result())
            except BrokenProcessPool:
                break
            for lf, sha, data, partner in read:
                got = next(results) if partner is not None else None
                reading = PayloadError(*got) if isinstance(got, tuple) else got
                yield lf, sha, data, partner, reading
                done += 1
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if done < len(files):
        yield from _serial(files, registry, tz, start=done)


def partner_workers(files: int, workers: int | None = None) -> int:
    """How many worker processes parse `files` payloads: `workers` if given (1 = parse in this process),
    else one per available core, and none for fewer than PARALLEL_MIN_FILES files or a single core."""
    if workers is not None:
        return max(1, workers)
    if files < PARALLEL_MIN_FILES:
        return 1
    return min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 8)


def ingest_partner_files(
    ctx: IngestContext,
    files: list[tuple[LandingFile, str]],
    registry: PartnerRegistry,
    *,
    workers: int | None = None,
) -> PartnerBatch:
    """Read, classify and store partner payload files (in reading order, with their SHA-256 digests).

    `workers`: processes that parse the payloads (see `partner_workers`); the result does not depend on it.
    """
    batch = _Batch(ctx, registry)
    n = partner_workers(len(files), workers)
    tz = ctx.settings.tz
    for item in _parallel(files, registry, tz, n) if n > 1 else _serial(files, registry, tz):
        batch.take(item)
    return batch.finish()
