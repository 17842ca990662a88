"""Ingest: read new landing files, validate, deduplicate, quarantine, encrypt, account; publish partitions."""

import contextlib
import datetime as dt
import gc
import hashlib
import json
import os
import re
import stat
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from lastmile import contact
from lastmile.codes import ORDER_TYPES, PROOF_KINDS, SERVICE_TYPES, SOURCES, STATUSES
from lastmile.faults import crash_point
from lastmile.ingest.api import FileAccount, IngestResult
from lastmile.ingest.context import (
    MAX_WHOLE_FILE_KEPT,
    PUBLISHED_TABLES,
    IngestContext,
    SealedAhead,
    VaultLike,
    artifact,
    encrypt_ahead,
    landing_file_id,
    mark_unpublished,
    seal_all,
)
from lastmile.ingest.landing import TABLE_SUFFIXES, LandingFile, list_landing_files
from lastmile.ingest.messages_params import message_params
from lastmile.ingest.parse import ROW, Parsed, Unreadable, read_csv, read_jsonl, read_parquet
from lastmile.ingest.stage import QuarantineFn, check, classify, faults_and_conflicts
from lastmile.messages.ingest import HANDLERS as MESSAGE_HANDLERS
from lastmile.messages.ingest import PREPARE as MESSAGE_PREPARE
from lastmile.settings import Settings
from lastmile.vault import BLOB_KINDS, Artifact
from lastmile.warehouse import checkpoint, committed, exclusive, run_sql, session_cursor, transaction

SQL = "lastmile.ingest"
INTAKE_LOCK = "lastmile.ingest.intake"
BLOB_READ = 1 << 20  # bytes per read of a proof blob
READ_AHEAD_BYTES = 256 << 20  # prepared landing files held ahead of the one being read (_ReadAhead)

COLUMNS: dict[str, tuple[str, ...]] = {
    "orders": (
        "order_id", "created_at", "service_type", "depot_id", "zone_id", "address_line", "postcode",
        "city", "country", "address_lat", "address_lon", "window_start", "window_end",
        "recipient_name", "recipient_phone", "recipient_email", "partner_id", "partner_tracking_number",
        "order_type", "original_order_id",
    ),
    "events": (
        "event_id", "order_id", "status", "exception_code", "occurred_at", "recorded_at", "courier_id",
        "source", "lat", "lon",
    ),
    "proofs": (
        "proof_id", "order_id", "kind", "captured_at", "recorded_at", "lat", "lon", "blob_path", "sha256",
    ),
    # CONTRACT §8 (lastmile.messages)
    "messages": (
        "message_id", "order_id", "channel", "purpose", "address", "template_id", "template_version",
        "trigger_event_id", "sent_at", "delivery_status", "variant", "body",
    ),
    "consents": ("consent_id", "channel", "address", "purpose", "state", "at", "source"),
    "templates": (
        "template_id", "version", "channel", "purpose", "status", "exception_code", "body", "sensitive",
        "approved_by", "reviewed_by", "approved_at", "retired_at",
    ),
}  # fmt: skip
CONTACT_COLUMNS = ("recipient_name", "recipient_phone", "recipient_email")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"

Progress = Callable[[str, int, int], None]  # (label, done, total)


def _countries() -> list[str]:
    text = resources.files("lastmile").joinpath("iso3166_alpha2.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_DRIVE = re.compile(r"^[A-Za-z]:")


def _has_symlinks(root: Path) -> bool:
    if not root.is_dir():
        return False
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.is_symlink():
                    return True
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
    return False


def blob_path_escapes(blob_path: str, root: Path, *, check_links: bool = True) -> bool:
    """True when `blob_path` is absolute or would leave `root` (lexically, or through a symlink)."""
    if blob_path.startswith(("/", "\\")) or _DRIVE.match(blob_path) or "\x00" in blob_path:
        return True
    depth = 0
    for part in blob_path.replace("\\", "/").split("/"):
        depth = depth - 1 if part == ".." else depth + (part not in ("", "."))
        if depth < 0:
            return True
    if check_links:
        real = Path(os.path.realpath(root / blob_path))
        return not real.is_relative_to(Path(os.path.realpath(root)))
    return False


# Generation 0 is collected after this many net new containers (Python's default: 700); then every 20th
# collection is of generation 1, and every 20th of those of everything.
GC_THRESHOLDS = (50_000, 20, 20)


def ingest_landing(
    conn: duckdb.DuckDBPyConnection,
    landing: Path,
    *,
    vault: VaultLike,
    settings: Settings,
    run_id: str,
    now: dt.datetime,
    progress: Progress | None = None,
    partner_dir: Path | None = None,
    partitions: tuple[dt.date, dt.date] | None = None,
    partner_workers: int | None = None,
) -> IngestResult:
    """Read every file version of `landing` not read before; see the package docstring.

    Partner feeds under `partners/<partner_id>/` are read in the same order by lastmile.partners, with
    partner configs from `partner_dir` (LASTMILE_HOME/partners) before the shipped ones.
    `partitions` (first, last day, network timezone) are the daily partitions that get published: a row
    dated outside them is quarantined (`outside_partitions`) rather than loaded where nothing publishes it.
    Every partition that accepted rows touch is recorded in `unpublished_partitions` in the same
    transaction as the rows; `result.unpublished` is every partition still waiting to be published.
    `partner_workers`: processes that parse partner payloads (None: one per core when there are many files;
    1: in this process). The result is the same whatever it is.
    """
    if partitions is not None and partitions[1] < partitions[0]:
        raise ValueError(f"empty partition range {partitions[0]}..{partitions[1]}")
    # Two workers sharing a DuckLake read the landing one at a time, so each file version is read once
    # (the warehouse has no unique key to refuse the second reading); publishing stays parallel.
    with exclusive(conn, INTAKE_LOCK), _fewer_collections():
        from lastmile.partners.ingest import ingest_partner_files, list_partner_files
        from lastmile.partners.mapping import PartnerRegistry

        landing = Path(landing)
        files = sorted([*list_landing_files(landing), *list_partner_files(landing)], key=lambda f: f.relpath)
        partners = PartnerRegistry(partner_dir)
        result = IngestResult(run_id=run_id, landing=str(landing.resolve()), files_seen=len(files))
        done = {(p, s) for p, s in conn.execute("SELECT path, sha256 FROM ingest_files").fetchall()}
        blobs_root = landing / "blobs"
        ctx = IngestContext(
            conn=conn, landing=landing, vault=vault, settings=settings, run_id=run_id, now=now,
            blobs_root=blobs_root, blobs_have_symlinks=_has_symlinks(blobs_root),
            params={
                "statuses": list(STATUSES), "sources": list(SOURCES), "kinds": list(PROOF_KINDS),
                "service_types": list(SERVICE_TYPES), "countries": _countries(), "order_types": list(ORDER_TYPES),
                **message_params(),
                "first_day": partitions[0] if partitions else None, "last_day": partitions[1] if partitions else None,
            },
            partitions=partitions,
        )  # fmt: skip
        run_sql(conn, SQL, "sql/run_started.sql", {"run_id": run_id, "landing": result.landing, "now": now})
        reasons: Counter[str] = Counter()

        def account_for(account: FileAccount, touched: dict[str, set[dt.date]], file_reasons: Counter[str]) -> None:
            result.files.append(account)
            reasons.update(file_reasons)
            for table, days in touched.items():
                result.touched.setdefault(table, set()).update(days)

        # Partner files are contiguous in the reading order (every path starts with partners/): they are read
        # as one set-based batch once the last of them is reached, so files before and after them see the
        # same warehouse as if each had been read alone.
        partner_files: list[tuple[LandingFile, str]] = []

        def read_partner_files() -> None:
            if partner_files:
                batch = ingest_partner_files(ctx, partner_files, partners, workers=partner_workers)
                result.files.extend(batch.accounts)
                reasons.update(batch.reasons)
                for table, days in batch.touched.items():
                    result.touched.setdefault(table, set()).update(days)
                partner_files.clear()

        # Up to READ_AHEAD_BYTES of prepared files ahead, another thread hashes the coming files, parses them,
        # does their row-wise Python work (keyed hashes, blob reads, encryption) and types and validates their
        # rows (validate_<entity>.sql), none of which depends on the warehouse, while this thread classifies
        # and stores the current file (DuckDB releases the GIL): the SQL-heavy events files are read while the
        # Python-heavy files after them get prepared. Files are still committed one at a time, in order, and
        # classified against everything committed before them.
        ctx.vault.keyed_hash("")  # the hash key is loaded here, once, before the other thread uses it
        ctx.vault.encrypt([])  # and the current KEK, which that thread encrypts proof blobs and bodies under
        reader = session_cursor(conn)
        ahead = _ReadAhead(lambda lf: _prepare(ctx, lf, reader, done), files, READ_AHEAD_BYTES)
        try:
            for i, lf in enumerate(files):
                prepared = ahead.get(i)
                if progress:
                    progress(f"ingest {lf.relpath}", i, len(files))
                if lf.entity != "partners":
                    read_partner_files()
                if (lf.relpath, prepared.sha) in done:
                    result.skipped.append(lf.relpath)
                    continue
                done.add((lf.relpath, prepared.sha))
                if lf.entity == "partners":
                    partner_files.append((lf, prepared.sha))
                else:
                    account_for(*_ingest_file(ctx, lf, prepared))
        finally:
            ahead.close()
        reader.close()
        read_partner_files()
        if progress:
            progress("ingest", len(files), len(files))
        result.quarantined_by_reason = dict(sorted(reasons.items()))
        crash_point("ingest.before_checkpoint")
        if result.files:
            checkpoint(conn)
        conn.execute(
            "UPDATE ingest_runs SET finished_at = ?, files_seen = ?, files_new = ?, rows_read = ?,"
            " rows_loaded = ?, rows_duplicate = ?, rows_revised = ?, rows_quarantined = ? WHERE run_id = ?",
            [now, result.files_seen, len(result.files), result.rows_read, result.rows_loaded,
             result.rows_duplicate, result.rows_revised, result.rows_quarantined, run_id],
        )  # fmt: skip
        crash_point("ingest.after_run")
        result.unpublished = unpublished_partitions(conn)
        return result


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run Python's cyclic garbage collector less often while a landing is read, then as before.

    An ingest makes millions of short-lived containers (rows fetched from DuckDB, per-row lists, artifacts
    to seal), and with the default thresholds the collector traversed them again and again: about 3% of
    an ingest's CPU, all of it holding the GIL the read-ahead thread waits for. Reference counting still
    frees everything as soon as it is unused; only reference cycles wait a little longer."""
    before = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def unpublished_partitions(conn: duckdb.DuckDBPyConnection) -> dict[str, set[dt.date]]:
    """Every partition read but not yet published (a killed ingest or publish leaves some): table -> days."""
    pending: dict[str, set[dt.date]] = {}
    for table, day in run_sql(conn, SQL, "sql/unpublished.sql").fetchall():
        pending.setdefault(table, set()).add(day)
    return pending


def _parse(conn: duckdb.DuckDBPyConnection, lf: LandingFile) -> Parsed:
    columns = COLUMNS[lf.entity]
    readers = {"csv": read_csv, "jsonl": read_jsonl, "parquet": read_parquet}
    return readers[lf.format](conn, lf.path, columns)


@dataclass
class _Prepared:
    """What is known of one landing file before the warehouse is asked anything: its digest, its rows (or
    why it cannot be read), its entity's row-wise preparation (`PREPARE`), and its rows typed and validated
    (`stage.check`)."""

    sha: str
    parsed: Parsed | None = None
    unreadable: str | None = None
    prep: Any = None
    checked: pa.Table | None = None

    @property
    def nbytes(self) -> int:
        """About the memory it holds: its tables, and what its preparation derived and encrypted (every
        PREPARE result has `derived` and `ahead`)."""
        tables = [self.parsed.table if self.parsed else None, self.checked, getattr(self.prep, "derived", None)]
        ahead = getattr(self.prep, "ahead", None)
        return sum(t.nbytes for t in tables if t is not None) + (ahead.encrypted.nbytes if ahead else 0)


class _ReadAhead:
    """Prepares the landing files, in order, on a thread of its own, ahead of the loader: as far ahead as
    `budget` bytes of prepared files allow (`_Prepared.nbytes`; one file at least, however large), so that
    a stretch of files whose work is mostly SQL (the loader's) lets the thread get ahead into files whose
    work is mostly Python (its own). An error preparing a file is raised to the loader when it asks for that
    file; the thread stops there."""

    def __init__(self, prepare: Callable[[LandingFile], _Prepared], files: Sequence[LandingFile], budget: int):
        self._prepare, self._files, self._budget = prepare, files, budget
        self._ready: dict[int, tuple[_Prepared | BaseException, int]] = {}
        self._held = 0
        self._closed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="ingest-read-ahead", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for i, lf in enumerate(self._files):
            with self._changed:
                while not self._closed and self._ready and self._held >= self._budget:
                    self._changed.wait()
                if self._closed:
                    return
            got: _Prepared | BaseException
            try:
                got = self._prepare(lf)
                size = got.nbytes
            except BaseException as exc:  # raised in the loader's thread, for this file
                got, size = exc, 0
            with self._changed:
                self._ready[i] = (got, size)
                self._held += size
                self._changed.notify_all()
            if isinstance(got, BaseException):
                return

    def get(self, i: int) -> _Prepared:
        """The i-th file prepared (waiting for it); each is asked for once, in order."""
        with self._changed:
            while i not in self._ready:
                if not self._thread.is_alive():
                    raise AssertionError(f"the read-ahead thread stopped before file {i}")
                self._changed.wait(timeout=1.0)
            got, size = self._ready.pop(i)
            self._held -= size
            self._changed.notify_all()
        if isinstance(got, BaseException):
            raise got
        return got

    def close(self) -> None:
        """Stop preparing (the file under way is finished first) and wait for the thread."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._thread.join()


def _prepare(
    ctx: IngestContext, lf: LandingFile, reader: duckdb.DuckDBPyConnection, done: set[tuple[str, str]]
) -> _Prepared:
    """Hash the file; unless it was read before (or is a partner payload, read by lastmile.partners), parse
    it with `reader` (a cursor of its own), prepare its rows and type and validate them. Reads files only
    (no warehouse table): safe on another thread while the warehouse connection is in use."""
    sha = _file_digest(lf.path)
    if lf.entity == "partners" or (lf.relpath, sha) in done or lf.format not in TABLE_SUFFIXES.values():
        return _Prepared(sha)
    try:
        parsed = _parse(reader, lf)
    except Unreadable as exc:
        return _Prepared(sha, unreadable=str(exc))
    if not parsed.table.num_rows:
        return _Prepared(sha, parsed)
    prepare = PREPARE.get(lf.entity)
    prep = prepare(ctx, parsed.table) if prepare else None
    # validate_<entity>.sql reads the preparation's `derived` rows (keyed hashes in place of personal data,
    # facts of the filesystem) where there is one, else the rows as parsed.
    rows = prep.derived if prep is not None else parsed.table
    return _Prepared(sha, parsed, prep=prep, checked=check(reader, lf.entity, rows, ctx.params))


def _ingest_file(
    ctx: IngestContext, lf: LandingFile, prepared: _Prepared
) -> tuple[FileAccount, dict[str, set[dt.date]], Counter[str]]:
    sha = prepared.sha
    file_id = landing_file_id(lf.relpath, sha)
    conn = ctx.conn
    reasons: Counter[str] = Counter()
    quarantine: list[dict[str, Any]] = []
    sealed: list[Any] = []
    touched: dict[str, set[dt.date]] = {}
    counts = Counter[str]()

    def quarantine_row(
        row: int,
        reason: str,
        detail: str | None,
        raw: str | bytes,
        encrypt: bool,
        entity_id: str | None = None,
        order_id: str | None = None,
    ) -> None:
        qid = f"{file_id}:{row}"
        artifact_id = None
        if encrypt:
            artifact_id = f"quarantine:{qid}"
            payload = raw if isinstance(raw, bytes) else raw.encode()
            sealed.append(artifact(artifact_id, "quarantined_record", order_id, payload))
        quarantine.append({
            "quarantine_id": qid, "run_id": ctx.run_id, "file_id": file_id, "path": lf.relpath,
            "entity": lf.entity, "row_number": row, "reason": reason, "detail": detail,
            "entity_id": entity_id, "order_id": order_id,
            "raw_record": None if encrypt else raw, "raw_artifact_id": artifact_id, "ingested_at": ctx.now,
        })  # fmt: skip
        reasons[reason] += 1

    status = "loaded"
    parsed = prepared.parsed
    if lf.format not in TABLE_SUFFIXES.values():
        status = "unreadable"
        whole_reason, whole_detail = "unsupported_file", f"not .csv, .jsonl or .parquet: {lf.relpath}"
    elif prepared.unreadable is not None:
        status = "unreadable"
        whole_reason, whole_detail = "unreadable_file", prepared.unreadable
    if parsed is None:
        size = lf.path.stat().st_size
        raw: str | bytes = (
            lf.path.read_bytes() if size <= MAX_WHOLE_FILE_KEPT
            else json.dumps({"note": "file too large to keep; it stays in the landing folder", "sha256": sha})
        )  # fmt: skip
        quarantine_row(0, whole_reason, whole_detail, raw, encrypt=isinstance(raw, bytes))
        rows_read = 1
    else:
        rows_read = parsed.rows_read
        for row, raw_text in parsed.malformed:
            quarantine_row(row, "malformed_row", "line does not parse", raw_text, encrypt=True)
        if parsed.table.num_rows:
            handlers: dict[str, Callable[..., None]] = {
                "orders": _orders, "events": _events, "proofs": _proofs, **MESSAGE_HANDLERS,
            }  # fmt: skip
            handler = handlers[lf.entity]
            classify(ctx, lf, file_id, prepared.checked)  # the handler finds _checked and _classified
            handler(ctx, lf, file_id, parsed.table, prepared.prep, quarantine_row, sealed, counts, touched)

    account = FileAccount(
        file_id=file_id, path=lf.relpath, entity=lf.entity, format=lf.format, sha256=sha,
        size_bytes=lf.size, status=status, rows_read=rows_read, rows_loaded=counts["loaded"],
        rows_duplicate=counts["duplicate"], rows_revised=counts["revised"], rows_quarantined=len(quarantine),
    )  # fmt: skip
    if account.rows_read != (
        account.rows_loaded + account.rows_duplicate + account.rows_revised + account.rows_quarantined
    ):
        raise AssertionError(f"ingest accounting broken for {lf.relpath}: {account}")
    # The artifacts are sealed in the file's own transaction (one commit per file): if this process dies
    # before it commits, neither the file nor its artifacts are in the warehouse (their ciphertexts in the
    # packs are under data keys committed nowhere), and the next ingest reads the file again.
    with transaction(conn):
        if sealed:
            seal_all(ctx.vault, sealed, now=ctx.now)
            crash_point("ingest.after_seal")
        if quarantine:
            q = pa.Table.from_pylist(quarantine)
            conn.register("_quarantine_rows", q)
            conn.execute("INSERT INTO quarantine BY NAME SELECT * FROM _quarantine_rows")
            conn.unregister("_quarantine_rows")
        _insert_staged(ctx, lf, file_id)
        conn.execute(
            "INSERT INTO ingest_files (file_id, run_id, path, entity, format, sha256, size_bytes, status, rows_read,"
            " rows_loaded, rows_duplicate, rows_revised, rows_quarantined, ingested_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [account.file_id, ctx.run_id, account.path, account.entity, account.format, account.sha256,
             account.size_bytes, account.status, account.rows_read, account.rows_loaded,
             account.rows_duplicate, account.rows_revised, account.rows_quarantined, ctx.now],
        )  # fmt: skip
        mark_unpublished(conn, touched, run_id=ctx.run_id, now=ctx.now)
    crash_point("ingest.after_file")
    if sealed:
        ctx.vault.shred_pending()  # blobs of artifacts sealed again (a file read after a kill): zeroed now
    run_sql(conn, SQL, "sql/drop_scratch.sql")
    conn.unregister("_checked")  # registered by stage.classify
    return account, touched, reasons


def _insert_staged(ctx: IngestContext, lf: LandingFile, file_id: str) -> None:
    """Insert the rows classified as accepted (the handler left _checked/_classified behind)."""
    if not ctx.pending:
        return
    params = {"file_id": file_id, "run_id": ctx.run_id, "now": ctx.now}
    run_sql(ctx.conn, SQL, f"sql/insert_{lf.entity}.sql", params)
    ctx.pending = False


def _events(
    ctx: IngestContext,
    lf: LandingFile,
    file_id: str,
    table: pa.Table,
    prep: None,
    quarantine_row: QuarantineFn,
    sealed: list[Any],
    counts: Counter[str],
    touched: dict[str, set[dt.date]],
) -> None:
    faults_and_conflicts(ctx, lf, table, quarantine_row, counts, encrypt=False)
    days = ctx.conn.execute(
        "SELECT DISTINCT c.partition_date FROM _checked c JOIN _classified k USING (_row) WHERE k.outcome = 'loaded'"
    ).fetchall()
    touched.setdefault("events", set()).update(d for (d,) in days)


# What the loader stores of each proof's blob (insert_proofs.sql joins it as _blobs), one row per proof row
# whose blob_path names a file inside the blobs folder.
BLOB_SCHEMA = pa.schema([
    (ROW, pa.int64()), ("blob_present", pa.bool_()), ("blob_size", pa.int64()), ("blob_sha256", pa.string()),
    ("blob_format", pa.string()), ("blob_artifact_id", pa.string()),
])  # fmt: skip


@dataclass
class _ProofBlobs:
    derived: pa.Table  # the rows with _blob_escape: the blob_path is absolute or leaves the blobs folder
    blobs: pa.Table  # BLOB_SCHEMA: each named blob's facts (absent, a folder, unreadable: not present)
    ahead: SealedAhead  # the non-empty blobs, encrypted under each row's proof id, kind and order as written


def _blob_format(head: bytes) -> str:
    return "png" if head.startswith(PNG_MAGIC) else "jpeg" if head.startswith(JPEG_MAGIC) else "unknown"


def _prepare_proofs(ctx: IngestContext, table: pa.Table) -> _ProofBlobs:
    """Which blob paths escape the blobs folder, and the size, digest and format of every other named blob,
    with its bytes encrypted for the vault (read and encrypted before the rows are classified: a duplicate
    or quarantined row's blob is encrypted for nothing, which is rare). No blob byte is kept in the clear."""
    root = ctx.blobs_root
    root_text = str(root)  # joined as text: a pathlib join per row cost a third of this function
    rows = table.column(ROW).to_pylist()
    escapes: list[bool] = []
    wanted: list[tuple[int, str]] = []
    for row, path in zip(rows, table.column("blob_path").to_pylist(), strict=True):
        escape = bool(path) and blob_path_escapes(path, root, check_links=ctx.blobs_have_symlinks)
        escapes.append(escape)
        if path and not escape:
            wanted.append((row, os.path.join(root_text, path)))
    # One thread, raw file descriptors: on page-cached landings a pool of readers measured slower than one
    # (the per-file Python work holds the GIL), and io.open's buffered reader tripled the cost per blob.
    read = _read_blobs([p for _, p in wanted])
    by_row = dict(zip(rows, zip(table.column("proof_id").to_pylist(), table.column("kind").to_pylist(),
                                table.column("order_id").to_pylist(), strict=True), strict=True))  # fmt: skip
    facts: list[tuple[int, bool, int | None, str | None, str | None, str | None]] = []
    owners: list[int] = []
    items: list[Artifact] = []
    for (row, _), got in zip(wanted, read, strict=True):
        proof_id, kind, order_id = by_row[row]
        if got is None:  # absent, a folder, unreadable: judged by proof.invalid
            facts.append((row, False, None, None, None, None))
            continue
        data, digest = got
        if not data:  # present and empty: nothing to store
            facts.append((row, True, 0, digest, None, None))
            continue
        facts.append((row, True, len(data), digest, _blob_format(data[:8]), proof_id or None))
        vault_kind = "photo" if kind == "pin" else kind
        # A loaded row has a proof id and a known kind; any other row's blob is not worth encrypting.
        if proof_id and vault_kind in BLOB_KINDS:
            owners.append(row)
            items.append(artifact(proof_id, vault_kind, order_id or None, data))
    derived = table.append_column("_blob_escape", pa.array(escapes, type=pa.bool_()))
    columns = list(zip(*facts, strict=True)) if facts else [()] * len(BLOB_SCHEMA)
    blobs = pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(columns, BLOB_SCHEMA, strict=True)],
                                 schema=BLOB_SCHEMA)  # fmt: skip
    return _ProofBlobs(derived, blobs, encrypt_ahead(ctx.vault, owners, items))


def _proofs(
    ctx: IngestContext,
    lf: LandingFile,
    file_id: str,
    table: pa.Table,
    prep: _ProofBlobs,
    quarantine_row: QuarantineFn,
    sealed: list[Any],
    counts: Counter[str],
    touched: dict[str, set[dt.date]],
) -> None:
    faults_and_conflicts(ctx, lf, table, quarantine_row, counts, encrypt=False)
    conn = ctx.conn
    _temp_table(conn, "_blobs", prep.blobs)
    days = conn.execute(
        "SELECT DISTINCT c.partition_date FROM _checked c JOIN _classified k USING (_row) WHERE k.outcome = 'loaded'"
    ).fetchall()
    if days:
        touched.setdefault("proofs", set()).update(d for (d,) in days)
    # The loaded rows' blobs go to the vault: each loaded row with a blob of at least one byte.
    stored = conn.execute(
        "SELECT k._row FROM _classified k JOIN _blobs b USING (_row)"
        " WHERE k.outcome = 'loaded' AND b.blob_artifact_id IS NOT NULL ORDER BY k._row"
    ).fetch_arrow_table()
    sealed.append(prep.ahead.of(stored.column(ROW).to_pylist()))


def _read_blobs(paths: list[str]) -> list[tuple[bytes, str] | None]:
    """Each file's bytes and SHA-256, or None where it cannot be read as a regular file (absent, a folder,
    a FIFO or device, no permission)."""
    out: list[tuple[bytes, str] | None] = []
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)  # O_NONBLOCK: a FIFO cannot hang us
    for path in paths:
        try:
            fd = os.open(path, flags)
        except OSError:
            out.append(None)
            continue
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                out.append(None)
                continue
            # Ask for the size fstat gave plus one byte: one read, of a buffer the blob's size, ends a file
            # that did not grow (asking for BLOB_READ each time allocated a mebibyte per blob).
            want = min(info.st_size + 1, BLOB_READ)
            data = os.read(fd, want)
            if len(data) == want:  # larger than BLOB_READ, or it grew since fstat: read on to its end
                chunks = [data, os.read(fd, BLOB_READ)]
                while chunks[-1]:
                    chunks.append(os.read(fd, BLOB_READ))
                data = b"".join(chunks)
        except OSError:
            out.append(None)
            continue
        finally:
            os.close(fd)
        out.append((data, hashlib.sha256(data).hexdigest()))
    return out


def _register_rows(
    conn: duckdb.DuckDBPyConnection, name: str, rows: Sequence[dict[str, Any]], schema: dict[str, pa.DataType]
) -> None:
    _temp_table(conn, name, pa.Table.from_pylist(list(rows), schema=pa.schema(list(schema.items()))))


def _temp_table(conn: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    """Keep an Arrow table as temp table `name` (a fixed name written by this module, never data)."""
    conn.register(f"{name}_arrow", table)
    try:
        conn.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_arrow")
    finally:
        conn.unregister(f"{name}_arrow")


@dataclass
class _OrderContacts:
    derived: pa.Table  # the rows with the contact columns replaced by their keyed hashes and facts
    names: list[str | None]
    phones: list[str | None]
    emails: list[str | None]
    ahead: SealedAhead  # each row's contact with an order id, encrypted under `contact:<order_id as written>`


def _contact_payload(name: str | None, phone: str | None, email: str | None) -> bytes:
    fields = {"recipient_name": name, "recipient_phone": phone, "recipient_email": email}
    return json.dumps(fields, ensure_ascii=False, sort_keys=True).encode()


def _prepare_orders(ctx: IngestContext, table: pa.Table) -> _OrderContacts:
    """The rows with the contact fields replaced by keyed hashes and shape facts, and each row's contact
    encrypted for the vault (before the rows are classified: only a loaded order's last revision in the
    file is stored)."""
    vault = ctx.vault
    names = [None if v == "" else v for v in table.column("recipient_name").to_pylist()]
    phones = [None if v == "" else v for v in table.column("recipient_phone").to_pylist()]
    emails = [None if v == "" else v for v in table.column("recipient_email").to_pylist()]
    owners: list[int] = []
    items: list[Artifact] = []
    columns = (table.column(ROW).to_pylist(), table.column("order_id").to_pylist(), names, phones, emails)
    for row, order_id, name, phone, email in zip(*columns, strict=True):
        if order_id and not (name is None and phone is None and email is None):
            owners.append(row)
            payload = _contact_payload(name, phone, email)
            items.append(artifact(f"contact:{order_id}", "recipient_contact", order_id, payload))
    derived = table.drop_columns(list(CONTACT_COLUMNS))
    derived = derived.append_column("has_recipient_name", pa.array([n is not None for n in names]))
    derived = derived.append_column(
        "recipient_name_hash",
        pa.array([vault.keyed_hash(contact.normalize_name(n)) for n in names], type=pa.string()),
    )
    derived = derived.append_column(
        "recipient_phone_hash",
        pa.array([vault.keyed_hash(contact.normalize_phone(p)) for p in phones], type=pa.string()),
    )
    derived = derived.append_column(
        "recipient_email_hash",
        pa.array([vault.keyed_hash(contact.normalize_email(e)) for e in emails], type=pa.string()),
    )
    derived = derived.append_column("recipient_phone_possible", pa.array([contact.phone_possible(p) for p in phones]))
    derived = derived.append_column("recipient_email_valid", pa.array([contact.email_valid(e) for e in emails]))
    return _OrderContacts(derived, names, phones, emails, encrypt_ahead(vault, owners, items))


def _orders(
    ctx: IngestContext,
    lf: LandingFile,
    file_id: str,
    table: pa.Table,
    prep: _OrderContacts,
    quarantine_row: QuarantineFn,
    sealed: list[Any],
    counts: Counter[str],
    touched: dict[str, set[dt.date]],
) -> None:
    names, phones, emails = prep.names, prep.phones, prep.emails
    # Quarantined order rows may hold personal data: their raw records are encrypted.
    faults_and_conflicts(ctx, lf, table, quarantine_row, counts, encrypt=True)
    accepted = ctx.conn.execute(
        "SELECT k._row, k.key, k.partition_date, k.base_partition,"
        " max(k._row) OVER (PARTITION BY k.key) = k._row AS last_of_file"
        " FROM _classified k WHERE k.outcome IN ('loaded', 'revised') ORDER BY k._row"
    ).fetchall()
    row_index = {r: i for i, r in enumerate(table.column(ROW).to_pylist())}
    contact_rows: list[dict[str, Any]] = []
    sealed_rows: list[int] = []
    days = touched.setdefault("orders", set())
    for row, order_id, day, base_day, last in accepted:
        days.add(day)
        if base_day is not None:
            days.add(base_day)
        i = row_index[row]
        if names[i] is None and phones[i] is None and emails[i] is None:
            contact_rows.append({ROW: row, "contact_artifact_id": None})
            continue
        artifact_id = f"contact:{order_id}"
        contact_rows.append({ROW: row, "contact_artifact_id": artifact_id})
        if last:
            sealed_rows.append(row)
    sealed.append(prep.ahead.of(sealed_rows))
    _register_rows(ctx.conn, "_contacts", contact_rows, {ROW: pa.int64(), "contact_artifact_id": pa.string()})


# Each entity's row-wise preparation, done on the read-ahead thread (pure: files and the hash key only).
PREPARE: dict[str, Callable[[IngestContext, pa.Table], Any]] = {
    "orders": _prepare_orders, "proofs": _prepare_proofs, **MESSAGE_PREPARE,
}  # fmt: skip


def publish_partitions(
    conn: duckdb.DuckDBPyConnection, table: str, start: dt.date, end: dt.date, *, now: dt.datetime
) -> dict[dt.date, int]:
    """Rebuild the published partitions start..end (inclusive) of `table`; returns rows per date."""
    if table not in PUBLISHED_TABLES:
        raise ValueError(f"not a published table: {table}")
    if end < start:
        raise ValueError(f"empty partition range {start}..{end}")
    for unit in committed(conn):  # on DuckLake, another worker publishing another day may win a race
        with unit:
            run_sql(conn, SQL, f"sql/publish_{table}.sql", {"start": start, "end": end, "now": now})
            run_sql(conn, SQL, "sql/clear_unpublished.sql", {"table": table, "start": start, "end": end})
            crash_point("publish.before_commit")
    crash_point("publish.after_commit")
    rows = conn.execute(
        "SELECT partition_date, row_count FROM published_partitions"
        " WHERE table_name = ? AND partition_date BETWEEN ? AND ? ORDER BY partition_date",
        [table, start, end],
    ).fetchall()
    return {d: n for d, n in rows}
