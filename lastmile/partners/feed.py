"""Reading one partner payload into partner events, mapped to canonical statuses (no database here).

Reading order: shipments in document order (every `shipments` path of the format is read; a shipment
found by two paths is read once), each shipment's events in document order (every `events` path; carriers
list newest first; nothing is reordered). Each event gets a 1-based `row` in that order, which is its row
number in `ingest_files` accounting and in `quarantine`.

Nothing is lost silently: a shipment that yields no event, and any object of the payload that carries a
tracking number (a key named like the last step of a `tracking_number` path) that the format did not
read, is a *report* with its tracking number and the path it was found at; reports take the row numbers
after the events.
"""

import datetime as dt
import hashlib
import json
import re
import xml.etree.ElementTree as ET
import zoneinfo
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from lastmile.partners.mapping import STATUSES_WITH_REASON, Partner, TimeSpec

_OFFSET = re.compile(r"^(?:Z|([+-])(\d{1,2}):?(\d{2})?)$")
SHIPMENT_WITHOUT_EVENTS = "shipment_without_events"
UNREAD_SHIPMENT = "unread_shipment"


class PayloadError(Exception):
    """The payload cannot be read at all (not JSON/XML, not the format's shape)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class FeedEvent:
    row: int
    partner_id: str
    tracking_number: str | None
    status_code: str | None
    reason_code: str | None  # as sent (None when the format has no reason field or it is empty)
    description: str | None
    occurred_at: dt.datetime | None  # aware
    occurred_text: str | None  # the time as sent (parts joined by a space)
    utc_offset: str | None  # '+HH:MM' the partner gave (None: naive, read in the network timezone)
    recorded_at: dt.datetime | None
    location: str | None
    lat: float | None
    lon: float | None
    signer: str | None
    fault: tuple[str, str] | None = None  # (quarantine reason, detail)
    status: str | None = None
    exception_code: str | None = None
    status_mapped: bool | None = None
    status_entry: str | None = None  # the status table entry that matched (an exact code or a pattern)
    reason_consulted: bool = False
    reason_mapped: bool | None = None
    reason_entry: str | None = None
    unmapped: list[str] = field(default_factory=list)  # raw codes with no mapping
    # the event_id, worked out where the payload is read (a worker process, when ingest parses in parallel)
    known_id: str | None = None

    @property
    def event_id(self) -> str | None:
        if self.known_id is not None:
            return self.known_id
        if self.tracking_number is None or self.occurred_at is None or self.status_code is None:
            return None
        return partner_event_id(
            self.partner_id, self.tracking_number, self.occurred_at, self.status_code, self.reason_code
        )

    @property
    def outcome(self) -> str:
        """'fault' | 'unmapped' | 'informational' (a known code that is not a status) | 'mapped'."""
        if self.fault is not None:
            return "fault"
        if self.unmapped:
            return "unmapped"
        return "mapped" if self.status is not None else "informational"

    def record(self) -> dict[str, Any]:
        """What the partner said about this event, without personal data (the signer's name is left out)."""
        return {
            "partner_id": self.partner_id, "tracking_number": self.tracking_number,
            "status_code": self.status_code, "reason_code": self.reason_code, "description": self.description,
            "occurred_at": self.occurred_text, "utc_offset": self.utc_offset, "location": self.location,
            "signed": self.signer is not None,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class Report:
    """A shipment of the payload that gave no event: found by the format without events, or an object
    carrying a tracking number the format did not read."""

    row: int
    reason: str  # SHIPMENT_WITHOUT_EVENTS | UNREAD_SHIPMENT
    tracking_number: str | None
    path: str  # where in the payload, e.g. tracking_results[2].trackable_items[0]
    detail: str

    def record(self, partner_id: str) -> dict[str, Any]:
        return {"partner_id": partner_id, "tracking_number": self.tracking_number, "path": self.path}


@dataclass
class Reading:
    """One payload read: its events (rows 1..n), then its reports (rows n+1..)."""

    events: list[FeedEvent]
    reports: list[Report]
    shipments_found: int  # = shipments_read + shipments_reported
    shipments_read: int  # shipments that yielded at least one event

    @property
    def shipments_reported(self) -> int:
        return len(self.reports)

    @property
    def rows(self) -> int:
        return len(self.events) + len(self.reports)


def partner_event_id(
    partner_id: str, tracking_number: str, occurred_at: dt.datetime, status_code: str, reason_code: str | None
) -> str:
    """Deterministic id of one partner event: the same event in a re-delivered payload has the same id.

    Built from what identifies the event to the carrier: tracking number, instant (UTC, to the
    microsecond; the same instant written with another offset is the same event), status and reason code.
    """
    instant = occurred_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    key = "\x1f".join((tracking_number, instant, status_code.strip(), (reason_code or "").strip()))
    return f"partner:{partner_id}:{hashlib.sha256(key.encode()).hexdigest()[:20]}"


# ----------------------------------------------------------------------------------------------- paths

Where = tuple[str | int, ...]
# A place in the document: (value, chain of (enclosing object, its where, its position), where, position).
# `position` orders places in document order (key index within its object, item index within its list).
Found = tuple[Any, tuple[tuple[Any, Where, tuple[int, ...]], ...], Where, tuple[int, ...]]


@cache
def _steps(path: str) -> tuple[tuple[str, bool], ...]:
    """(key, many) per dotted step; key '^' = up, '*' = the single key, '' with many = items of a list."""
    if path in (".", ""):
        return ()
    out = []
    for step in path.split("."):
        many = step.endswith("[]")
        out.append((step[:-2] if many else step, many))
    return tuple(out)


def walk(obj: Any, path: str, chain: tuple[Any, ...] = (), where: Where = (), pos: tuple[int, ...] = ()) -> list[Found]:
    """Every value at `path` under `obj`, each with its chain of enclosing objects and its place.

    Steps are dot-separated keys; `key[]` steps into every item of a list (a single object counts as a
    list of one, as XML gives for a repeated element that occurs once); `[]` alone steps into the items of
    a list that is the value itself (a payload that is a JSON array); `^` steps up to the enclosing object;
    `*` is whatever single key the object has (an XML document's root element).
    """
    current: list[Found] = [(obj, chain, where, pos)]
    for key, many in _steps(path):
        nxt: list[Found] = []
        for value, ch, wh, ps in current:
            if key == "^":
                if ch:
                    parent, pwh, pps = ch[-1]
                    nxt.append((parent, ch[:-1], pwh, pps))
                continue
            if key == "" and many:
                if isinstance(value, list):
                    inner = (*ch, (value, wh, ps))
                    nxt.extend((item, inner, (*wh, i), (*ps, i)) for i, item in enumerate(value) if item is not None)
                continue
            if not isinstance(value, dict):
                continue
            name = key
            if name == "*":
                if len(value) != 1:
                    continue
                name = next(iter(value))
            child = value.get(name)
            if child is None:
                continue
            at = list(value).index(name)
            inner = (*ch, (value, wh, ps))
            if many and isinstance(child, list):
                nxt.extend(
                    (item, inner, (*wh, name, i), (*ps, at, i)) for i, item in enumerate(child) if item is not None
                )
            else:
                nxt.append((child, inner, (*wh, name), (*ps, at, 0) if many else (*ps, at)))
        current = nxt
    return current


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def scalar(obj: Any, paths: str | tuple[str, ...] | None, chain: tuple[Any, ...] = ()) -> str | None:
    """The first non-empty scalar found at any of `paths` (numbers and booleans as text)."""
    found = scalar_at(obj, paths, chain)
    return found[0] if found else None


@cache
def _plain(path: str) -> tuple[str, ...] | None:
    """The keys of a path made only of plain keys (the common case, read without bookkeeping), else None."""
    steps = _steps(path)
    return None if any(many or key in ("^", "*") for key, many in steps) else tuple(k for k, _ in steps)


def scalar_at(obj: Any, paths: str | tuple[str, ...] | None, chain: tuple[Any, ...] = ()) -> tuple[str, Any] | None:
    """(text, the object holding it) of the first non-empty scalar at any of `paths`."""
    if paths is None:
        return None
    for path in (paths,) if isinstance(paths, str) else paths:
        keys = _plain(path)
        if keys is not None:
            value, holder = obj, None
            for key in keys:
                if not isinstance(value, dict):
                    value = None
                    break
                holder, value = value, value.get(key)
            text = _text(value)
            if text is not None:
                return text, holder
            continue
        for value, ch, _, _ in walk(obj, path, chain):
            text = _text(value)
            if text is not None:
                return text, ch[-1][0] if ch else None
    return None


def where_text(where: Where) -> str:
    out = ""
    for step in where:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out or "."


# ---------------------------------------------------------------------------------------------- decode


def _xml_value(el: ET.Element) -> Any:
    children = list(el)
    if not children:
        text = (el.text or "").strip()
        return text or None
    out: dict[str, Any] = {}
    for child in children:
        tag = child.tag.rsplit("}", 1)[-1]
        value = _xml_value(child)
        if tag in out:
            if not isinstance(out[tag], list):
                out[tag] = [out[tag]]
            out[tag].append(value)
        else:
            out[tag] = value
    return out


def decode(data: bytes, syntax: str) -> Any:
    """The payload as JSON-like data. XML becomes nested dicts keyed by element name (namespaces dropped)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PayloadError("unreadable_file", f"not UTF-8 text (byte {exc.start})") from None
    if syntax == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise PayloadError("unreadable_file", f"not JSON: {exc.msg} at line {exc.lineno}") from None
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise PayloadError("unreadable_file", "XML with a DTD or entity declarations is not accepted")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise PayloadError("unreadable_file", f"not XML: {exc}") from None
    return {root.tag.rsplit("}", 1)[-1]: _xml_value(root)}


# ----------------------------------------------------------------------------------------------- times


def parse_offset(text: str) -> dt.timezone | None:
    m = _OFFSET.match(text.strip())
    if not m:
        return None
    if m.group(0) == "Z":
        return dt.UTC
    sign = -1 if m.group(1) == "-" else 1
    hours, minutes = int(m.group(2)), int(m.group(3) or 0)
    if hours > 23 or minutes > 59:
        return None
    return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))


def _offset_text(tz: dt.tzinfo, at: dt.datetime) -> str:
    delta = tz.utcoffset(at) or dt.timedelta(0)
    sign = "-" if delta < dt.timedelta(0) else "+"
    minutes = abs(int(delta.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


@cache
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def parse_time(
    obj: Any,
    specs: tuple[TimeSpec, ...],
    zones: dict[str, str],
    network_tz: zoneinfo.ZoneInfo,
    chain: tuple[Any, ...] = (),
) -> tuple[dt.datetime | None, str | None, str | None, str | None]:
    """(aware time, offset the partner gave or None, text as sent, fault detail) from the first spec
    whose parts are all present; (None, None, None, None) when no spec applies."""
    for spec in specs:
        parts = [scalar(obj, p, chain) for p in spec.parts]
        if any(p is None for p in parts):
            continue
        values = [p.zfill(spec.zfill) if spec.zfill and p.isdigit() else p for p in parts if p is not None]
        text = " ".join(values)
        try:
            parsed = (
                dt.datetime.fromisoformat(text.replace(" ", "T", 1)) if spec.format == "iso"
                else dt.datetime.strptime(text, spec.format)
            )  # fmt: skip
        except ValueError:
            return None, None, text, f"cannot read {text!r}"
        tz: dt.tzinfo | None = None
        if spec.utc:
            tz = dt.UTC
        elif spec.offset:
            raw = scalar(obj, spec.offset, chain)
            if raw is not None:
                tz = parse_offset(raw)
                if tz is None:
                    return None, None, text, f"offset {raw!r} is not a UTC offset"
                text = f"{text} {raw}"
        elif spec.zone:
            raw = scalar(obj, spec.zone, chain)
            if raw is not None:
                known = zones.get(raw.strip().upper())
                tz = parse_offset(known if known is not None else raw)
                if tz is None:
                    return None, None, text, f"time zone {raw!r} is not in the format's zones table"
                text = f"{text} {raw}"
        if tz is not None:
            aware = parsed.replace(tzinfo=tz)
            return aware, _offset_text(tz, aware), text, None
        if parsed.tzinfo is not None:
            return parsed, _offset_text(parsed.tzinfo, parsed), text, None
        if spec.timezone:  # the format says which zone its naive times are in
            aware = parsed.replace(tzinfo=_zone(spec.timezone))
            return aware, _offset_text(aware.tzinfo, aware), text, None  # type: ignore[arg-type]
        return parsed.replace(tzinfo=network_tz), None, text, None  # naive: network timezone
    return None, None, None, None


# ------------------------------------------------------------------------------------------------- map


def _float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _places(doc: Any, paths: tuple[str, ...], chain: tuple[Any, ...] = (), where: Where = (),
            pos: tuple[int, ...] = ()) -> list[Found]:  # fmt: skip
    """Every object at any of `paths`, each once, in document order."""
    seen: set[int] = set()
    out: list[Found] = []
    for path in paths:
        for found in walk(doc, path, chain, where, pos):
            if id(found[0]) not in seen and isinstance(found[0], dict | list):
                seen.add(id(found[0]))
                out.append(found)
    out.sort(key=lambda f: f[3])
    return out


def _tracking_holders(doc: Any, keys: frozenset[str]) -> list[tuple[dict[str, Any], str, Where]]:
    """Every object of the payload holding a tracking-number key with a value: (object, number, where)."""
    out: list[tuple[dict[str, Any], str, Where]] = []
    stack: list[tuple[Any, Where]] = [(doc, ())]
    while stack:
        value, where = stack.pop()
        if isinstance(value, dict):
            for key in keys:
                if key in value and (text := _text(value[key])) is not None:
                    out.append((value, text, where))
                    break
            stack.extend((v, (*where, k)) for k, v in reversed(value.items()) if isinstance(v, dict | list))
        elif isinstance(value, list):
            stack.extend((v, (*where, i)) for i, v in reversed(list(enumerate(value))) if isinstance(v, dict | list))
    return out


def read_payload(
    data: bytes, partner: Partner, network_tz: zoneinfo.ZoneInfo, file_name: str | None = None
) -> list[FeedEvent]:
    """Every event of one payload, mapped (or with its fault / unmapped codes), in reading order."""
    return read_feed(data, partner, network_tz, file_name).events


def read_feed(data: bytes, partner: Partner, network_tz: zoneinfo.ZoneInfo, file_name: str | None = None) -> Reading:
    """One payload: its events in reading order, and a report for every shipment that gave none."""
    fmt = partner.format
    doc = decode(data, fmt.syntax)
    shipments = _places(doc, fmt.shipments)
    if not shipments:
        tried = " or ".join(repr(p) for p in fmt.shipments)
        raise PayloadError("unrecognised_payload", f"no shipments at {tried}: not a {fmt.name} payload")
    from_name: str | None = None
    if fmt.tracking_number_from_file_name and file_name is not None:
        m = re.search(fmt.tracking_number_from_file_name, file_name)
        if m:
            from_name = (m.group(1) if m.re.groups else m.group(0)) or None
    events: list[FeedEvent] = []
    pending: list[tuple[str | None, str, str]] = []  # (tracking number, path, detail) of shipments without events
    read_numbers: set[str] = set()
    covered: set[int] = set()  # objects the format read: shipments, events and everything enclosing them
    seen_events: set[int] = set()
    row = 0
    read = 0
    zones = dict(fmt.zones)
    for shipment, chain, where, pos in shipments:
        found_number = scalar_at(shipment, fmt.tracking_number, chain)
        tracking = found_number[0] if found_number else from_name
        if found_number is not None and found_number[1] is not None:
            covered.add(id(found_number[1]))
        if tracking is not None:
            read_numbers.add(tracking)
        covered.add(id(shipment))
        covered.update(id(c[0]) for c in chain)
        shipment_signer = scalar(shipment, fmt.shipment_signer, chain)
        inner = (*chain, (shipment, where, pos))
        items = [f for f in _places(shipment, fmt.events, chain, where, pos) if id(f[0]) not in seen_events]
        if not items:
            place = where_text(where)
            paths = " or ".join(repr(p) for p in fmt.events)
            detail = f"tracking number {tracking!r} at {place}: no events at {paths}"
            pending.append((tracking, place, detail))
            continue
        read += 1
        for item, item_chain, _, _ in items:
            seen_events.add(id(item))
            covered.add(id(item))
            covered.update(id(c[0]) for c in item_chain)
            row += 1
            events.append(_event(row, item, item_chain or inner, partner, tracking, shipment_signer, zones,
                                 network_tz))  # fmt: skip
    reports = [Report(row + i, SHIPMENT_WITHOUT_EVENTS, t, p, d) for i, (t, p, d) in enumerate(pending, 1)]
    row += len(reports)
    for holder, number, at in _tracking_holders(doc, fmt.tracking_keys):
        if id(holder) in covered or number in read_numbers:
            continue
        row += 1
        path = where_text(at)
        detail = f"tracking number {number!r} at {path}: the format reads no shipment there"
        reports.append(Report(row, UNREAD_SHIPMENT, number, path, detail))
        read_numbers.add(number)  # one report per unread tracking number
    return Reading(events, reports, shipments_found=read + len(reports), shipments_read=read)


def _event(
    row: int,
    item: Any,
    chain: tuple[Any, ...],
    partner: Partner,
    tracking: str | None,
    shipment_signer: str | None,
    zones: dict[str, str],
    network_tz: zoneinfo.ZoneInfo,
) -> FeedEvent:
    fmt = partner.format
    occurred, offset, text, bad_time = parse_time(item, fmt.occurred_at, zones, network_tz, chain)
    recorded = parse_time(item, fmt.recorded_at, zones, network_tz, chain)[0] if fmt.recorded_at else None
    location_parts = [scalar(item, p, chain) for p in fmt.location]
    ev = FeedEvent(
        row=row, partner_id=partner.partner_id, tracking_number=tracking,
        status_code=scalar(item, fmt.status_code, chain), reason_code=scalar(item, fmt.reason_code, chain),
        description=scalar(item, fmt.description_field, chain), occurred_at=occurred, occurred_text=text,
        utc_offset=offset, recorded_at=recorded, location=", ".join(p for p in location_parts if p) or None,
        lat=_float(scalar(item, fmt.lat, chain)), lon=_float(scalar(item, fmt.lon, chain)),
        signer=scalar(item, fmt.signer, chain),
    )  # fmt: skip
    if tracking is None:
        ev.fault = ("missing_required", "tracking_number")
    elif (ev.lat is None) != (ev.lon is None):
        ev.fault = ("partial_coordinates", "lat without lon" if ev.lon is None else "lon without lat")
    elif ev.lat is not None and ev.lon is not None and (abs(ev.lat) > 90 or abs(ev.lon) > 180):
        ev.fault = ("bad_number", f"lat/lon: {ev.lat}, {ev.lon}")
    elif ev.status_code is None:
        ev.fault = ("missing_required", "status_code")
    elif bad_time is not None:
        ev.fault = ("bad_timestamp", f"occurred_at: {bad_time}")
    elif occurred is None:
        ev.fault = ("missing_required", "occurred_at")
    else:
        _map(ev, partner)
        if ev.status == "delivered" and ev.signer is None and shipment_signer is not None:
            ev.signer = shipment_signer
        if fmt.signer_statuses is not None and (ev.status or "informational") not in fmt.signer_statuses:
            ev.signer = None  # the format takes signers only from the events it names
    if ev.recorded_at is None and ev.occurred_at is not None:
        ev.recorded_at = ev.occurred_at  # no record time in the payload: the carrier's event time
    ev.known_id = ev.event_id
    return ev


def _map(ev: FeedEvent, partner: Partner) -> None:
    assert ev.status_code is not None
    found = partner.status_match(ev.status_code)
    ev.status_mapped = found is not None
    if found is None:
        ev.unmapped.append(ev.status_code)
        return
    ev.status_entry, target = found
    if target.status is None:
        return
    ev.status = target.status
    ev.exception_code = target.exception_code
    if target.status in STATUSES_WITH_REASON and ev.reason_code is not None:
        ev.reason_consulted = True
        reason = partner.reason_match(ev.reason_code)
        ev.reason_mapped = reason is not None
        if reason is None:
            ev.unmapped.append(ev.reason_code)
        else:
            ev.reason_entry, ev.exception_code = reason
    if ev.unmapped:  # no event is invented from a half-understood one
        ev.status = ev.exception_code = None
