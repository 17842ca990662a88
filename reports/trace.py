"""The auditor's trace: one order's whole story, from its rows and events to its outcome and purge.

`build_trace` gathers, for one order: every accepted version of the order (address corrections shown as
changes, each with the file and row it came from), every event (source, exception code and who the code is
attributed to), every proof with its retention state (sealed, held, purged when and by which run), legal
holds, data-quality findings, quarantined rows naming it, the final outcome, and the audit entries that
touched it, each with its RFC 9162 inclusion proof against the latest signed checkpoint. A `timeline`
merges all of it in time order. `render_html` renders it with autoescaping (every value from the data is
text, never markup); `run_trace` is the audited use the command and the Dagster job make of it.

Time is passed in (`at`); nothing here reads the clock.
"""

import datetime as dt
import hashlib
import json
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import jinja2

from lastmile.access import Access
from lastmile.audit import AuditTrail, canonical_bytes, verify_checkpoint, verify_inclusion
from lastmile.audit.log import record
from lastmile.audit.trail import canonical_details, canonical_time
from lastmile.codes import ATTEMPT_STATUSES, EXCEPTION_ATTRIBUTION, RETURN_PICKUP, TERMINAL_STATUSES
from lastmile.errors import LastmileError
from lastmile.settings import Home
from lastmile.warehouse import run_sql

SQL = "reports"
FORMATS = ("html", "json")
OPTIONAL_TABLES = ["vault_artifacts", "legal_holds", "retention_ledger", "dq_findings", "audit_entries"]
# Columns of an order version compared between revisions (what a correction can change).
REVISED_FIELDS = (
    "created_at", "service_type", "depot_id", "zone_id", "address_line", "postcode", "city", "country",
    "address_lat", "address_lon", "window_start", "window_end", "partner_id", "partner_tracking_number",
    "order_type", "original_order_id",
)  # fmt: skip
CONTACT_FIELDS = ("recipient_name_hash", "recipient_phone_hash", "recipient_email_hash")
OUTCOMES = {"delivered": "delivered", "returned_to_sender": "returned", "cancelled": "cancelled",
            "return_received": "return received"}  # fmt: skip
_KIND_ORDER = {"order": 0, "revision": 1, "event": 2, "proof": 3, "quarantine": 4, "finding": 5, "hold": 6,
               "purge": 7, "audit": 8, "message": 9}  # fmt: skip


class TraceError(LastmileError):
    """The order cannot be traced (unknown order, bad format, output problem)."""


# ------------------------------------------------------------------------------------------- reading


def _rows(conn: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    cur = run_sql(conn, SQL, f"sql/{name}", params)
    cols = [d[0] for d in cur.description or []]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


class _Clock:
    """Renders every instant as ISO 8601 in the network timezone (with its offset)."""

    def __init__(self, timezone: str) -> None:
        self.tz = zoneinfo.ZoneInfo(timezone)

    def iso(self, value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return value.astimezone(self.tz).isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        return value

    def plain(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self.iso(v) for k, v in row.items()}


def _changes(previous: Mapping[str, Any] | None, current: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What one order version changed against the previous one (contact values only as 'changed')."""
    if previous is None:
        return []
    out = [
        {"field": name, "from": previous[name], "to": current[name]}
        for name in REVISED_FIELDS
        if previous[name] != current[name]
    ]
    if any(previous[name] != current[name] for name in CONTACT_FIELDS):
        out.append({"field": "recipient contact", "from": "(encrypted)", "to": "(changed, encrypted)"})
    return out


def _retention_state(artifact: Mapping[str, Any] | None, active_holds: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    if artifact is None:
        return {"state": "no blob", "purged_at": None, "purged_by_run": None, "hold_ids": []}
    if artifact["purged_at"] is not None:
        return {"state": "purged", "purged_at": artifact["purged_at"], "purged_by_run": artifact["purged_by_run"],
                "hold_ids": []}  # fmt: skip
    holds = [h["hold_id"] for h in active_holds]
    return {"state": "held" if holds else "sealed", "purged_at": None, "purged_by_run": None, "hold_ids": holds}


def _outcome(events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    attempts = [e for e in events if e["status"] in ATTEMPT_STATUSES]
    terminal = next((e for e in events if e["status"] in TERMINAL_STATUSES), None)
    result: dict[str, Any] = {
        "attempts": len(attempts),
        "failed_attempts": sum(1 for e in attempts if e["status"] == "delivery_attempted"),
        "exceptions": sorted({e["exception_code"] for e in events if e["exception_code"]}),
    }
    if terminal is None:
        last = events[-1]["status"] if events else None
        result.update(outcome="still open", status=last, at=None, event_id=None)
    else:
        result.update(
            outcome=OUTCOMES[terminal["status"]],
            status=terminal["status"],
            at=terminal["occurred_at"],
            event_id=terminal["event_id"],
        )
    return result


def _audit_section(
    trail: AuditTrail, subjects: list[str], order_id: str, file_ids: list[str], clock: _Clock
) -> dict[str, Any]:
    entries = trail.entries_touching(subjects, order_id=order_id, file_ids=file_ids)
    checkpoints = trail.checkpoints()
    public_pem = trail.public_key_pem() if checkpoints else None
    latest = checkpoints[-1] if checkpoints else None
    signed = [e.seq for e in entries if latest is not None and e.seq < latest.tree_size]
    proofs = trail.inclusion_proofs(signed, latest.tree_size) if latest is not None else {}
    out_entries = []
    for entry in entries:
        canonical = canonical_bytes(
            entry.seq,
            canonical_time(entry.at),
            entry.actor,
            entry.action,
            entry.subject,
            canonical_details(entry.details),
            None if entry.prev_hash is None else entry.prev_hash.hex(),
        )
        leaf_ok = hashlib.sha256(b"\x00" + canonical).digest() == entry.leaf_hash
        path = proofs.get(entry.seq)
        included = (
            latest is not None
            and path is not None
            and leaf_ok
            and verify_inclusion(entry.leaf_hash, entry.seq, latest.tree_size, path, latest.root_hash)
        )
        out_entries.append(
            {
                "seq": entry.seq,
                "at": clock.iso(entry.at),
                "actor": entry.actor,
                "action": entry.action,
                "subject": entry.subject,
                "details": entry.details,
                "canonical": canonical.decode(),
                "leaf_hash": entry.leaf_hash.hex(),
                "inclusion_proof": None if path is None else [h.hex() for h in path],
                "included": bool(included),
            }
        )
    checkpoint = None
    if latest is not None and public_pem is not None:
        checkpoint = {**latest.to_dict(), "signature_valid": verify_checkpoint(latest, public_pem)}
    return {
        "checkpoint": checkpoint,
        "public_key_pem": public_pem.decode() if public_pem else None,
        "log_size": trail.size(),
        "entries": out_entries,
    }


def build_trace(
    conn: duckdb.DuckDBPyConnection,
    order_id: str,
    *,
    at: dt.datetime,
    network_timezone: str,
    trail: AuditTrail | None = None,
) -> dict[str, Any]:
    """The whole story of `order_id` as plain JSON-ready data (times ISO 8601 in the network timezone)."""
    clock = _Clock(network_timezone)
    p = {"order_id": order_id}
    (mentions,) = run_sql(conn, SQL, "sql/trace_known.sql", p).fetchone() or (0,)
    if not mentions:
        raise TraceError(f"order {order_id!r} is unknown: no order row, event, proof or quarantined row names it")
    present = {r["table_name"] for r in _rows(conn, "trace_tables.sql", {"names": OPTIONAL_TABLES})}

    revisions = _rows(conn, "trace_revisions.sql", p)
    events = _rows(conn, "trace_events.sql", p)
    proofs = _rows(conn, "trace_proofs.sql", p)
    artifact_ids = [r["blob_artifact_id"] or r["proof_id"] for r in proofs] + [f"contact:{order_id}"]
    ids = {**p, "artifact_ids": artifact_ids}
    artifacts = {a["artifact_id"]: a for a in _rows(conn, "trace_artifacts.sql", ids)} if (
        "vault_artifacts" in present) else {}  # fmt: skip
    holds = _rows(conn, "trace_holds.sql", p) if "legal_holds" in present else []
    active = [h for h in holds if h["released_at"] is None]
    ledger = _rows(conn, "trace_ledger.sql", ids) if "retention_ledger" in present else []
    entity_ids = [e["event_id"] for e in events] + [r["proof_id"] for r in proofs]
    # customer messages (CONTRACT §8): template version, consent decision, findings; never address or body
    if "dq_findings" in present:
        from quality_checks import ensure_schema as ensure_check_macros

        ensure_check_macros(conn)  # template_in_force()
    messages = _rows(conn, "trace_messages.sql", p) if "dq_findings" in present else []
    entity_ids += [m["message_id"] for m in messages]
    findings = _rows(conn, "trace_findings.sql", {**p, "entity_ids": entity_ids}) if "dq_findings" in present else []
    for m in messages:
        m["findings"] = sorted({f["check_id"] for f in findings if f["entity_id"] == m["message_id"]})
    quarantine = _rows(conn, "trace_quarantine.sql", p)
    links = _rows(conn, "trace_links.sql", {**p, "return_type": RETURN_PICKUP, "terminal": list(TERMINAL_STATUSES)})

    out_revisions = []
    previous: dict[str, Any] | None = None
    for rev in revisions:
        changes = _changes(previous, rev)
        previous = rev
        shown = {k: v for k, v in rev.items() if k not in CONTACT_FIELDS}
        shown["changes"] = [{k: clock.iso(v) for k, v in c.items()} for c in changes]
        out_revisions.append(clock.plain(shown))
    for event in events:
        code = event["exception_code"]
        event["attribution"] = EXCEPTION_ATTRIBUTION.get(code) if code else None
        event["code_canonical"] = code is None or code in EXCEPTION_ATTRIBUTION
    for proof in proofs:
        artifact = artifacts.get(proof["blob_artifact_id"] or "") if proof["blob_artifact_id"] else None
        proof["retention"] = clock.plain(_retention_state(artifact, active))
    contact_artifact = artifacts.get(f"contact:{order_id}")
    contact = None
    if contact_artifact is not None:
        contact = {"artifact_id": contact_artifact["artifact_id"],
                   **clock.plain(_retention_state(contact_artifact, active))}  # fmt: skip
    for finding in findings:
        finding["observed"] = json.loads(finding["observed"]) if finding["observed"] else None

    audit = None
    if trail is not None:
        subjects = [f"order:{order_id}", f"contact:{order_id}"]
        subjects += [f"proof:{pr['proof_id']}" for pr in proofs]
        subjects += [f"quarantine:{q['quarantine_id']}" for q in quarantine]
        subjects += [f"hold:{h['hold_id']}" for h in holds]
        file_ids = sorted({r["file_id"] for r in (*revisions, *events, *proofs)})
        audit = _audit_section(trail, subjects, order_id, file_ids, clock)

    timeline = _timeline(order_id, revisions, events, proofs, artifacts, holds, findings, quarantine, audit)
    for m in messages:
        decision = "consent allows" if m["consent_allows"] else "consent does not allow"
        timeline.append({"at": m["sent_at"], "kind": "message", "ref": m["message_id"],
                         "what": f"{m['channel']} {m['purpose']} message on template {m['template_id']} "
                                 f"v{m['template_version']} ({m['delivery_status']}), {decision}"
                                 + (f"; findings: {', '.join(m['findings'])}" if m["findings"] else "")})  # fmt: skip
    timeline.sort(key=lambda i: (i["at"], _KIND_ORDER[i["kind"]], i["ref"]))
    current = out_revisions[-1] if out_revisions else None
    return {
        "order_id": order_id,
        "generated_at": clock.iso(at),
        "network_timezone": network_timezone,
        "order": current,
        "revisions": out_revisions,
        "events": [clock.plain(e) for e in events],
        "proofs": [clock.plain(pr) for pr in proofs],
        "contact": contact,
        "holds": [{**clock.plain(h), "active": h["released_at"] is None} for h in holds],
        "retention_ledger": [clock.plain(r) for r in ledger],
        "findings": [clock.plain(f) for f in findings],
        "messages": [clock.plain(m) for m in messages],
        "quarantine": [clock.plain(q) for q in quarantine],
        "outcome": clock.plain(_outcome(events)),
        "links": _links(links, clock),
        "timeline": [clock.plain(t) for t in timeline],
        "audit": audit,
    }


def _links(rows: Sequence[Mapping[str, Any]], clock: _Clock) -> dict[str, Any]:
    """The return pickup links (CONTRACT §9): the order this one returns, and the returns of this one."""
    out: dict[str, Any] = {"original": None, "returns": []}
    for row in rows:
        item = clock.plain(row)
        item["trace_file"] = default_path(Path("."), str(row["order_id"]), "html").name
        item["outcome"] = OUTCOMES.get(str(row["first_terminal"]), "still open") if row["first_terminal"] else (
            "still open")  # fmt: skip
        if row["relation"] == "original":
            out["original"] = item
        else:
            out["returns"].append(item)
    return out


def _timeline(
    order_id: str,
    revisions: Sequence[Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]],
    proofs: Sequence[Mapping[str, Any]],
    artifacts: Mapping[str, Mapping[str, Any]],
    holds: Sequence[Mapping[str, Any]],
    findings: Sequence[Mapping[str, Any]],
    quarantine: Sequence[Mapping[str, Any]],
    audit: Mapping[str, Any] | None,
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []

    def add(at: Any, kind: str, ref: str, what: str) -> None:
        items.append({"at": at, "kind": kind, "ref": ref, "what": what})

    for i, rev in enumerate(revisions):
        where = f"{rev['file_path']} row {rev['row_number']}"
        if i == 0:
            add(rev["created_at"], "order", order_id, f"order created ({rev['service_type']}), read from {where}")
        else:
            changed = ", ".join(c["field"] for c in _changes(revisions[i - 1], rev)) or "no field"
            add(rev["ingested_at"], "revision", f"revision {rev['revision']}", f"revised ({changed}) by {where}")
    for e in events:
        code = e["exception_code"]
        extra = f" {code} ({EXCEPTION_ATTRIBUTION.get(code, 'non-canonical code')})" if code else ""
        add(e["occurred_at"], "event", e["event_id"], f"{e['status']}{extra} via {e['source']}")
    for pr in proofs:
        add(pr["captured_at"], "proof", pr["proof_id"], f"{pr['kind']} captured")
    for artifact in artifacts.values():
        if artifact["purged_at"] is not None:
            add(artifact["purged_at"], "purge", artifact["artifact_id"],
                f"{artifact['artifact_kind']} purged by run {artifact['purged_by_run']}")  # fmt: skip
    for h in holds:
        add(h["placed_at"], "hold", h["hold_id"], f"legal hold placed by {h['placed_by']}: {h['reason']}")
        if h["released_at"] is not None:
            add(h["released_at"], "hold", h["hold_id"], f"legal hold released by {h['released_by']}")
    for q in quarantine:
        add(q["ingested_at"], "quarantine", q["quarantine_id"], f"{q['entity']} row quarantined: {q['reason']}")
    for f in findings:
        add(f["detected_at"], "finding", f["entity_id"], f"{f['check_id']} ({f['severity']})")
    for entry in (audit or {}).get("entries", []):
        outcome = entry["details"].get("outcome")
        note = f" ({outcome})" if isinstance(outcome, str) else ""
        add(dt.datetime.fromisoformat(entry["at"]), "audit", f"entry {entry['seq']}",
            f"{entry['action']} by {entry['actor']} on {entry['subject']}{note}")  # fmt: skip
    items.sort(key=lambda i: (i["at"], _KIND_ORDER[i["kind"]], i["ref"]))
    return items


# ------------------------------------------------------------------------------------------- writing


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=True,  # every value from the data is text, never markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=2, ensure_ascii=False, sort_keys=True)
    return env


def render_html(trace: Mapping[str, Any]) -> str:
    """The trace as one self-contained HTML page (inline CSS, no script, no external request)."""
    return _environment().get_template("trace.html.j2").render(t=trace)


def render_json(trace: Mapping[str, Any]) -> str:
    return json.dumps(trace, indent=2, ensure_ascii=False, default=str) + "\n"


def default_path(reports_dir: Path, order_id: str, fmt: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", order_id).strip(".") or "order"
    return reports_dir / f"trace-{safe}.{fmt}"


@dataclass(frozen=True)
class TraceResult:
    order_id: str
    fmt: str
    path: Path | None  # None: the JSON was returned as text for standard output
    text: str | None
    outcome: str
    audit_seq: int


def run_trace(
    conn: duckdb.DuckDBPyConnection,
    home: Home,
    order_id: str,
    *,
    fmt: str,
    out: Path | None,
    at: dt.datetime,
    actor: str,
    access: Access,
    network_timezone: str,
) -> TraceResult:
    """The audited trace: refuse (and log) an actor without a role; log the trace; write it.

    HTML goes to `out`, default LASTMILE_HOME/reports/trace-<order>.html; JSON goes to `out`, or is
    returned as text (for standard output) when `out` is None. The `audit.trace` entry is appended and
    signed before the trace is built, so the trace shows itself with its inclusion proof.
    """
    if fmt not in FORMATS:
        raise TraceError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    subject = f"order:{order_id}"
    refusal = access.refusal(actor, "audit.trace")
    if refusal is not None:
        record(conn, home, "audit.trace", subject, {"order_id": order_id, "outcome": "refused", "why": refusal},
               at=at, actor=actor)  # fmt: skip
        raise TraceError(f"refused: {refusal} (the refusal is logged)")
    (mentions,) = run_sql(conn, SQL, "sql/trace_known.sql", {"order_id": order_id}).fetchone() or (0,)
    if not mentions:
        raise TraceError(f"order {order_id!r} is unknown: no order row, event, proof or quarantined row names it")
    path = out if out is not None else (default_path(home.reports_dir, order_id, fmt) if fmt == "html" else None)
    if path is not None and path.is_dir():
        raise TraceError(f"--out {path} is a folder; give a file name")
    details = {"order_id": order_id, "outcome": "traced", "format": fmt, "out": str(path) if path else "stdout",
               "roles": sorted(access.roles_of(actor))}  # fmt: skip
    seq = record(conn, home, "audit.trace", subject, details, at=at, actor=actor)
    trail = AuditTrail(conn, home.audit_dir)
    trace = build_trace(conn, order_id, at=at, network_timezone=network_timezone, trail=trail)
    text = render_html(trace) if fmt == "html" else render_json(trace)
    if path is None:
        return TraceResult(order_id, fmt, None, text, trace["outcome"]["outcome"], seq)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise TraceError(f"cannot write {path}: {exc.strerror}") from None
    return TraceResult(order_id, fmt, path, None, trace["outcome"]["outcome"], seq)
