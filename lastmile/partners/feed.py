"""Reading one partner payload into partner events, mapped to canonical statuses (no database here).

Reading order: shipments in document order, each shipment's events in document order (carriers list
newest first; nothing is reordered). Each event gets a 1-based `row` in that order, which is its row
number in `ingest_files` accounting and in `quarantine`.
"""

import datetime as dt
import hashlib
import json
import re
import xml.etree.ElementTree as ET
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from lastmile.partners.mapping import STATUSES_WITH_REASON, Partner, TimeSpec

_OFFSET = re.compile(r"^(?:Z|([+-])(\d{1,2}):?(\d{2})?)$")


class PayloadError(Exception):
    """The payload cannot be read at all (not JSON/XML, not the format's shape)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
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
    reason_consulted: bool = False
    reason_mapped: bool | None = None
    unmapped: list[str] = field(default_factory=list)  # raw codes with no mapping

    @property
    def event_id(self) -> str | None:
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


def _steps(path: str) -> list[str]:
    return [] if path in (".", "") else path.split(".")


def walk(obj: Any, path: str, parents: tuple[Any, ...] = ()) -> list[tuple[Any, tuple[Any, ...]]]:
    """Every value at `path` under `obj`, each with its chain of enclosing objects.

    Steps are dot-separated keys; `key[]` steps into every item of a list (a single object counts as a
    list of one, as XML gives for a repeated element that occurs once); `^` steps up to the enclosing
    object; `*` is whatever single key the object has (an XML document's root element).
    """
    current: list[tuple[Any, tuple[Any, ...]]] = [(obj, parents)]
    for step in _steps(path):
        nxt: list[tuple[Any, tuple[Any, ...]]] = []
        for value, chain in current:
            if step == "^":
                if chain:
                    nxt.append((chain[-1], chain[:-1]))
                continue
            many = step.endswith("[]")
            key = step[:-2] if many else step
            if not isinstance(value, dict):
                continue
            if key == "*":
                if len(value) != 1:
                    continue
                key = next(iter(value))
            if key not in value or value[key] is None:
                continue
            child = value[key]
            if many:
                items = child if isinstance(child, list) else [child]
                nxt.extend((item, (*chain, value)) for item in items if item is not None)
            else:
                nxt.append((child, (*chain, value)))
        current = nxt
    return current


def scalar(obj: Any, paths: str | tuple[str, ...] | None, parents: tuple[Any, ...] = ()) -> str | None:
    """The first non-empty scalar found at any of `paths` (numbers and booleans as text)."""
    if paths is None:
        return None
    for path in (paths,) if isinstance(paths, str) else paths:
        for value, _ in walk(obj, path, parents):
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, int | float):
                return str(value)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


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
    """The payload as JSON-like data. XML becomes nested dicts keyed by element name."""
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


def parse_time(
    obj: Any, specs: tuple[TimeSpec, ...], zones: dict[str, str], network_tz: zoneinfo.ZoneInfo
) -> tuple[dt.datetime | None, str | None, str | None, str | None]:
    """(aware time, offset the partner gave or None, text as sent, fault detail) from the first spec
    whose parts are all present; (None, None, None, None) when no spec applies."""
    for spec in specs:
        parts = [scalar(obj, p) for p in spec.parts]
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
            raw = scalar(obj, spec.offset)
            if raw is not None:
                tz = parse_offset(raw)
                if tz is None:
                    return None, None, text, f"offset {raw!r} is not a UTC offset"
                text = f"{text} {raw}"
        elif spec.zone:
            raw = scalar(obj, spec.zone)
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


def read_payload(data: bytes, partner: Partner, network_tz: zoneinfo.ZoneInfo) -> list[FeedEvent]:
    """Every event of one payload, mapped (or with its fault / unmapped codes), in reading order."""
    fmt = partner.format
    doc = decode(data, fmt.syntax)
    shipments: list[tuple[Any, tuple[Any, ...]]] = []
    for path in fmt.shipments:
        shipments = walk(doc, path)
        if shipments:
            break
    if not shipments:
        where = " or ".join(repr(p) for p in fmt.shipments)
        raise PayloadError("unrecognised_payload", f"no shipments at {where}: not a {fmt.name} payload")
    events: list[FeedEvent] = []
    row = 0
    zones = dict(fmt.zones)
    for shipment, chain in shipments:
        tracking = scalar(shipment, fmt.tracking_number, chain)
        shipment_signer = scalar(shipment, fmt.shipment_signer, chain)
        for item, _ in walk(shipment, fmt.events, chain):
            row += 1
            occurred, offset, text, bad_time = parse_time(item, fmt.occurred_at, zones, network_tz)
            recorded, _, _, _ = parse_time(item, fmt.recorded_at, zones, network_tz) if fmt.recorded_at else (
                None, None, None, None)  # fmt: skip
            location_parts = [scalar(item, p) for p in fmt.location]
            ev = FeedEvent(
                row=row, partner_id=partner.partner_id, tracking_number=tracking,
                status_code=scalar(item, fmt.status_code), reason_code=scalar(item, fmt.reason_code),
                description=scalar(item, fmt.description_field), occurred_at=occurred, occurred_text=text,
                utc_offset=offset, recorded_at=recorded,
                location=", ".join(p for p in location_parts if p) or None,
                lat=_float(scalar(item, fmt.lat)), lon=_float(scalar(item, fmt.lon)),
                signer=scalar(item, fmt.signer),
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
            if ev.recorded_at is None and ev.occurred_at is not None:
                ev.recorded_at = ev.occurred_at  # no record time in the payload: the carrier's event time
            events.append(ev)
    return events


def _map(ev: FeedEvent, partner: Partner) -> None:
    assert ev.status_code is not None
    target = partner.status_target(ev.status_code)
    ev.status_mapped = partner.is_status_mapped(ev.status_code)
    if not ev.status_mapped or target is None:
        if not ev.status_mapped:
            ev.unmapped.append(ev.status_code)
        return
    ev.status = target.status
    ev.exception_code = target.exception_code
    if target.status in STATUSES_WITH_REASON and ev.reason_code is not None:
        ev.reason_consulted = True
        code = partner.reason_target(ev.reason_code)
        ev.reason_mapped = code is not None
        if code is None:
            ev.unmapped.append(ev.reason_code)
        else:
            ev.exception_code = code
    if ev.unmapped:  # no event is invented from a half-understood one
        ev.status = ev.exception_code = None
