"""Ingest of partner feeds: LANDING/partners/<partner_id>/<any path> -> partner_events, events, proofs.

Called by `lastmile.ingest.load.ingest_landing` for each new file version under `partners/`, in the
same lexicographic reading order as every other landing file, with the same guarantees: a file version
(path, sha256) is read once; every partner event in it is counted once as loaded, duplicate or
quarantined (`rows_read = rows_loaded + rows_duplicate + rows_revised + rows_quarantined`); the touched
partitions are returned so that the daily `events` and `proofs` partitions get published.
"""

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa

from lastmile import contact
from lastmile.faults import crash_point
from lastmile.ingest.api import FileAccount
from lastmile.ingest.context import MAX_WHOLE_FILE_KEPT, IngestContext, artifact, landing_file_id, mark_unpublished
from lastmile.ingest.landing import LandingFile
from lastmile.partners.feed import FeedEvent, PayloadError, read_payload
from lastmile.partners.mapping import Partner, PartnerRegistry
from lastmile.warehouse import run_sql, transaction

SQL = "lastmile.partners"
FOLDER = "partners"
ENTITY = "partners"
PAYLOAD_KIND = "partner_payload"
# Quarantine reasons particular to partner feeds (the others are ingest's: unreadable_file,
# missing_required, bad_timestamp, conflict).
PARTNER_QUARANTINE_REASONS = {
    "unknown_partner": "a file under partners/ whose folder names no configured partner; quarantined whole",
    "unrecognised_payload": "the payload parses but has none of its format's shipments; quarantined whole",
    "unmapped_code": "a partner event whose status or reason code has no mapping; no event is invented",
}

_ROW_SCHEMA = pa.schema([
    ("event_id", pa.string()), ("partner_id", pa.string()), ("tracking_number", pa.string()),
    ("order_id", pa.string()), ("order_matched", pa.bool_()), ("status_code", pa.string()),
    ("status_mapped", pa.bool_()), ("reason_code", pa.string()), ("reason_consulted", pa.bool_()),
    ("reason_mapped", pa.bool_()), ("description", pa.string()), ("status", pa.string()),
    ("exception_code", pa.string()), ("occurred_at", pa.timestamp("us", tz="UTC")), ("occurred_text", pa.string()),
    ("utc_offset", pa.string()), ("recorded_at", pa.timestamp("us", tz="UTC")), ("location", pa.string()),
    ("lat", pa.float64()), ("lon", pa.float64()), ("signed", pa.bool_()), ("signer_name_hash", pa.string()),
    ("proof_id", pa.string()), ("outcome", pa.string()), ("row_number", pa.int64()),
])  # fmt: skip


def list_partner_files(landing: Path) -> list[LandingFile]:
    """Every file under LANDING/partners/ (any depth; hidden files skipped), sorted by relative path."""
    folder = landing / FOLDER
    if not folder.is_dir():
        return []
    found = []
    for path in folder.rglob("*"):
        rel = path.relative_to(landing)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        stat = path.stat()
        found.append(LandingFile(rel.as_posix(), ENTITY, path, stat.st_size, stat.st_mtime_ns))
    found.sort(key=lambda f: f.relpath)
    return found


def partner_of(relpath: str) -> str | None:
    """The partner_id a file belongs to: the folder right under partners/ (None for a file directly there)."""
    parts = relpath.split("/")
    return parts[1] if len(parts) >= 3 else None


def orphan_order_id(partner_id: str, tracking_number: str) -> str:
    """The order_id of a partner event whose tracking number matches no order: it lands as an orphan."""
    return f"{partner_id}:{tracking_number}"


def ingest_partner_file(
    ctx: IngestContext, lf: LandingFile, sha: str, registry: PartnerRegistry
) -> tuple[FileAccount, dict[str, set[dt.date]], Counter[str]]:

    conn = ctx.conn
    file_id = landing_file_id(lf.relpath, sha)
    reasons: Counter[str] = Counter()
    quarantine: list[dict[str, Any]] = []
    sealed: list[Any] = []
    touched: dict[str, set[dt.date]] = {}
    counts: Counter[str] = Counter()
    data = lf.path.read_bytes()

    def quarantine_row(row: int, reason: str, detail: str, raw: str | bytes, entity_id: str | None = None,
                       order_id: str | None = None) -> None:  # fmt: skip
        qid = f"{file_id}:{row}"
        artifact_id = None
        if isinstance(raw, bytes):  # a whole payload may hold personal data: kept encrypted
            artifact_id = f"quarantine:{qid}"
            sealed.append(artifact(artifact_id, "quarantined_record", order_id, raw))
        quarantine.append({
            "quarantine_id": qid, "run_id": ctx.run_id, "file_id": file_id, "path": lf.relpath, "entity": ENTITY,
            "row_number": row, "reason": reason, "detail": detail, "entity_id": entity_id, "order_id": order_id,
            "raw_record": None if isinstance(raw, bytes) else raw, "raw_artifact_id": artifact_id,
            "ingested_at": ctx.now,
        })  # fmt: skip
        reasons[reason] += 1

    partner_id = partner_of(lf.relpath)
    partner = registry.get(partner_id) if partner_id else None
    events: list[FeedEvent] | None = None
    status = "loaded"
    fmt_name = partner.format.syntax if partner else (lf.format or "none")
    whole = b"" if len(data) <= MAX_WHOLE_FILE_KEPT else None
    if partner is None:
        known = ", ".join(registry.known())
        detail = (f"no partner config for {partner_id!r} (known: {known})" if partner_id
                  else "a partner feed must be in partners/<partner_id>/")  # fmt: skip
        status = "unreadable"
        quarantine_row(0, "unknown_partner", detail, data if whole is not None else _too_large(sha))
    else:
        try:
            events = read_payload(data, partner, ctx.settings.tz)
        except PayloadError as exc:
            status = "unreadable"
            quarantine_row(0, exc.reason, exc.detail, data if whole is not None else _too_large(sha))
    rows: list[dict[str, Any]] = []
    if events is not None and partner is not None:
        rows = _classify(ctx, partner, events, quarantine_row, counts, touched)
        artifact_id = None
        if whole is not None:
            artifact_id = f"{PAYLOAD_KIND}:{file_id}"
            orders = {r["order_id"] for r in rows if r["order_matched"]}
            sealed.append(artifact(artifact_id, PAYLOAD_KIND, orders.pop() if len(orders) == 1 else None, data))
    rows_read = len(events) if events is not None else 1
    account = FileAccount(
        file_id=file_id, path=lf.relpath, entity=ENTITY, format=fmt_name, sha256=sha, size_bytes=lf.size,
        status=status, rows_read=rows_read, rows_loaded=counts["loaded"], rows_duplicate=counts["duplicate"],
        rows_revised=0, rows_quarantined=len(quarantine),
    )  # fmt: skip
    if account.rows_read != account.rows_loaded + account.rows_duplicate + account.rows_quarantined:
        raise AssertionError(f"partner ingest accounting broken for {lf.relpath}: {account}")
    if sealed:  # the vault commits first; see lastmile.ingest.load for why that is safe
        ctx.vault.seal_many(sealed, now=ctx.now)
        crash_point("ingest.after_seal")
    with transaction(conn):
        if quarantine:
            conn.register("_partner_quarantine", pa.Table.from_pylist(quarantine))
            conn.execute("INSERT INTO quarantine BY NAME SELECT * FROM _partner_quarantine")
            conn.unregister("_partner_quarantine")
        if events is not None and partner is not None:
            params = {"file_id": file_id, "run_id": ctx.run_id, "now": ctx.now}
            if rows:
                conn.register("_partner_rows", pa.Table.from_pylist(rows, schema=_ROW_SCHEMA))
                run_sql(conn, SQL, "sql/insert.sql", params)
                conn.unregister("_partner_rows")
            run_sql(conn, SQL, "sql/insert_payload.sql", {
                **params, "partner_id": partner.partner_id, "format": partner.format.name, "path": lf.relpath,
                "sha256": sha, "size_bytes": lf.size, "artifact_id": artifact_id, "events": len(events),
            })  # fmt: skip
        conn.execute(
            "INSERT INTO ingest_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [account.file_id, ctx.run_id, account.path, account.entity, account.format, account.sha256,
             account.size_bytes, account.status, account.rows_read, account.rows_loaded,
             account.rows_duplicate, account.rows_revised, account.rows_quarantined, ctx.now],
        )  # fmt: skip
        mark_unpublished(conn, touched, run_id=ctx.run_id, now=ctx.now)
    crash_point("ingest.after_file")
    return account, touched, reasons


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


def _classify(
    ctx: IngestContext,
    partner: Partner,
    events: list[FeedEvent],
    quarantine_row: Any,
    counts: Counter[str],
    touched: dict[str, set[dt.date]],
) -> list[dict[str, Any]]:
    """Decide each event's outcome (loaded / duplicate / quarantined); the rows to store for the loaded."""
    conn = ctx.conn
    pid = partner.partner_id
    numbers = sorted({e.tracking_number for e in events if e.tracking_number is not None})
    matched = dict(
        run_sql(conn, SQL, "sql/orders_by_tracking.sql", {"partner_id": pid, "numbers": numbers}).fetchall()
        if numbers else []
    )  # fmt: skip
    ids = sorted({i for e in events if (i := e.event_id) is not None})
    earlier = {i: (outcome, in_events) for i, outcome, in_events in (
        run_sql(conn, SQL, "sql/existing.sql", {"ids": ids}).fetchall() if ids else [])}  # fmt: skip
    seen: set[str] = set()
    rows: list[dict[str, Any]] = []
    tz = ctx.settings.tz
    for ev in events:
        if ev.fault is not None:
            quarantine_row(ev.row, ev.fault[0], ev.fault[1], json.dumps(ev.record(), ensure_ascii=False))
            continue
        day = _local_day(ev.occurred_at, tz)
        bounds = ctx.partitions
        if day is None or (bounds is not None and not bounds[0] <= day <= bounds[1]):
            on = f"is on {day}" if day is not None else "is past the end of the calendar"
            within = f"{bounds[0]}..{bounds[1]}" if bounds is not None else "(any day)"
            detail = f"occurred_at {ev.occurred_text or ev.occurred_at} {on}, outside the daily partitions {within}"
            quarantine_row(ev.row, "outside_partitions", detail, json.dumps(ev.record(), ensure_ascii=False),
                           entity_id=ev.event_id, order_id=matched.get(ev.tracking_number or ""))  # fmt: skip
            continue
        event_id = ev.event_id
        assert event_id is not None and ev.tracking_number is not None and ev.occurred_at is not None
        order_id = matched.get(ev.tracking_number)
        event_order = order_id if order_id is not None else orphan_order_id(pid, ev.tracking_number)
        before, in_events = earlier.get(event_id, (None, False))
        outcome = ev.outcome
        if event_id in seen or (before is not None and (before != "unmapped" or outcome == "unmapped")):
            counts["duplicate"] += 1  # the same partner event again (a repeated payload, or twice in one)
            continue
        seen.add(event_id)
        if in_events and before is None:
            detail = "event_id already loaded from a file outside partners/"
            quarantine_row(ev.row, "conflict", detail, json.dumps(ev.record(), ensure_ascii=False),
                           entity_id=event_id, order_id=event_order)  # fmt: skip
            continue
        if outcome == "unmapped":
            detail = "no mapping for " + ", ".join(repr(c) for c in ev.unmapped)
            quarantine_row(ev.row, "unmapped_code", detail, json.dumps(ev.record(), ensure_ascii=False),
                           entity_id=event_id, order_id=event_order)  # fmt: skip
        else:
            counts["loaded"] += 1
        assert day is not None
        proof_id = f"{event_id}:signature" if ev.signer is not None and outcome != "unmapped" else None
        if outcome == "mapped":
            touched.setdefault("events", set()).add(day)
        if proof_id is not None:
            touched.setdefault("proofs", set()).add(day)
        rows.append({
            "event_id": event_id, "partner_id": pid, "tracking_number": ev.tracking_number, "order_id": event_order,
            "order_matched": order_id is not None, "status_code": ev.status_code,
            "status_mapped": bool(ev.status_mapped), "reason_code": ev.reason_code,
            "reason_consulted": ev.reason_consulted, "reason_mapped": ev.reason_mapped,
            "description": ev.description, "status": ev.status, "exception_code": ev.exception_code,
            "occurred_at": _utc(ev.occurred_at), "occurred_text": ev.occurred_text, "utc_offset": ev.utc_offset,
            "recorded_at": _utc(ev.recorded_at), "location": ev.location, "lat": ev.lat, "lon": ev.lon,
            "signed": ev.signer is not None,
            "signer_name_hash": ctx.vault.keyed_hash(contact.normalize_name(ev.signer)) if ev.signer else None,
            "proof_id": proof_id, "outcome": outcome, "row_number": ev.row,
        })  # fmt: skip
    return rows
