"""Partner mappings as data: one YAML file per carrier format, one small YAML file per partner.

A *format* file (``lastmile/partners/formats/<format>.yaml``) says where a carrier's payload keeps the
tracking number, each event's time (with its offset or zone), status code, reason code, location and
proof-of-delivery fields, and holds the code tables: carrier status code -> canonical status (optionally
``status/exception_code``), carrier reason code -> canonical exception code. A code mapped to ``~`` is
known and informational (no event).

A *partner* file (``<partner_id>.yaml``: shipped in ``lastmile/partners/config/``, or added by a user in
``LASTMILE_HOME/partners/``, which wins) names the format a partner_id uses and may add or override codes
of that format for this partner (``statuses:``, ``reasons:``).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from lastmile.codes import EXCEPTION_CODES, STATUSES
from lastmile.errors import LastmileError

PARTNER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
SYNTAXES = ("json", "xml")
# Statuses whose carrier reason code is consulted (they need an exception code, CONTRACT §2 / §4).
STATUSES_WITH_REASON = ("delivery_attempted", "exception")


class MappingError(LastmileError):
    """A mapping or partner file that cannot be used (one line naming the file and the problem)."""


@dataclass(frozen=True)
class Target:
    """What one carrier code means: a canonical status (None = informational) and an exception code."""

    status: str | None
    exception_code: str | None = None


@dataclass(frozen=True)
class TimeSpec:
    parts: tuple[str, ...]
    format: str  # 'iso' or a strptime format applied to the parts joined by one space
    offset: str | None = None  # path of a UTC offset field (e.g. -05:00)
    zone: str | None = None  # path of a time-zone abbreviation field, resolved by the format's zones
    utc: bool = False  # the parts are UTC
    zfill: int = 0  # zero-fill all-digit parts shorter than this (e.g. time 74700 -> 074700)


@dataclass(frozen=True)
class Format:
    name: str
    syntax: str
    description: str
    shipments: tuple[str, ...]  # alternatives: the first path that finds shipments is used
    tracking_number: tuple[str, ...]
    events: str
    status_code: str
    reason_code: str | None
    description_field: str | None
    occurred_at: tuple[TimeSpec, ...]
    recorded_at: tuple[TimeSpec, ...]
    location: tuple[str, ...]
    lat: str | None
    lon: str | None
    signer: str | None
    shipment_signer: str | None
    zones: Mapping[str, str]
    code_style: str  # 'text' (exact, trimmed) | 'integer' (leading zeros ignored)
    statuses: Mapping[str, Target]
    reasons: Mapping[str, str]
    source: str

    def normalize(self, code: str) -> str:
        code = code.strip()
        if self.code_style == "integer" and code.isdigit():
            return str(int(code))
        return code


@dataclass(frozen=True)
class Partner:
    partner_id: str
    format: Format
    statuses: Mapping[str, Target] = field(default_factory=dict)
    reasons: Mapping[str, str] = field(default_factory=dict)
    source: str = ""

    def status_target(self, code: str) -> Target | None:
        key = self.format.normalize(code)
        if key in self.statuses:
            return self.statuses[key]
        return self.format.statuses.get(key)

    def is_status_mapped(self, code: str) -> bool:
        key = self.format.normalize(code)
        return key in self.statuses or key in self.format.statuses

    def reason_target(self, code: str) -> str | None:
        key = self.format.normalize(code)
        return self.reasons.get(key, self.format.reasons.get(key))


def _fail(source: str, problem: str) -> MappingError:
    return MappingError(f"partner mapping {source}: {problem}")


def _target(value: Any, source: str, code: str) -> Target:
    if value is None:
        return Target(None)
    if not isinstance(value, str):
        raise _fail(source, f"code {code!r}: expected 'status' or 'status/exception_code', got {value!r}")
    status, _, exc = value.strip().partition("/")
    if status not in STATUSES:
        raise _fail(source, f"code {code!r}: {status!r} is not a canonical status")
    if exc and exc not in EXCEPTION_CODES:
        raise _fail(source, f"code {code!r}: {exc!r} is not a canonical exception code")
    return Target(status, exc or None)


def _codes(raw: Any, source: str, name: str, style: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _fail(source, f"{name} must be a mapping of code -> value")
    out: dict[str, Any] = {}
    for code, value in raw.items():
        text = str(code).strip()
        key = str(int(text)) if style == "integer" and text.isdigit() else text
        out[key] = value
    return out


def _statuses(raw: Any, source: str, style: str) -> dict[str, Target]:
    return {k: _target(v, source, k) for k, v in _codes(raw, source, "statuses", style).items()}


def _reasons(raw: Any, source: str, style: str) -> dict[str, str]:
    out = {}
    for code, value in _codes(raw, source, "reasons", style).items():
        if value not in EXCEPTION_CODES:
            raise _fail(source, f"reason {code!r}: {value!r} is not a canonical exception code")
        out[code] = str(value)
    return out


def _paths(value: Any, source: str, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _fail(source, f"{name} must be a path or a list of paths")


def _times(value: Any, source: str, name: str) -> tuple[TimeSpec, ...]:
    if value is None:
        return ()
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise _fail(source, f"{name} must be a list of time specs")
    specs = []
    for item in value:
        if not isinstance(item, dict) or "parts" not in item:
            raise _fail(source, f"{name}: each spec needs 'parts'")
        unknown = set(item) - {"parts", "format", "offset", "zone", "utc", "zfill"}
        if unknown:
            raise _fail(source, f"{name}: unknown key {sorted(unknown)[0]!r}")
        specs.append(
            TimeSpec(
                parts=_paths(item["parts"], source, f"{name}.parts"),
                format=str(item.get("format", "iso")),
                offset=item.get("offset"),
                zone=item.get("zone"),
                utc=bool(item.get("utc", False)),
                zfill=int(item.get("zfill", 0)),
            )
        )
    return tuple(specs)


def _load_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _fail(source, f"not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise _fail(source, "expected a mapping at the top level")
    return data


def parse_format(text: str, source: str) -> Format:
    d = _load_yaml(text, source)
    for key in ("format", "syntax", "shipments", "tracking_number", "events", "event"):
        if key not in d:
            raise _fail(source, f"missing {key!r}")
    if d["syntax"] not in SYNTAXES:
        raise _fail(source, f"syntax must be one of {', '.join(SYNTAXES)}")
    ev = d["event"]
    if not isinstance(ev, dict) or "status_code" not in ev or "occurred_at" not in ev:
        raise _fail(source, "event needs status_code and occurred_at")
    style = str(d.get("code_style", "text"))
    if style not in ("text", "integer"):
        raise _fail(source, "code_style must be text or integer")
    shipment = d.get("shipment") or {}
    zones = {str(k): str(v) for k, v in (d.get("zones") or {}).items()}
    occurred = _times(ev["occurred_at"], source, "event.occurred_at")
    if not occurred:
        raise _fail(source, "event.occurred_at needs at least one spec")
    return Format(
        name=str(d["format"]),
        syntax=str(d["syntax"]),
        description=str(d.get("description", "")),
        shipments=_paths(d["shipments"], source, "shipments"),
        tracking_number=_paths(d["tracking_number"], source, "tracking_number"),
        events=str(d["events"]),
        status_code=str(ev["status_code"]),
        reason_code=ev.get("reason_code"),
        description_field=ev.get("description"),
        occurred_at=occurred,
        recorded_at=_times(ev.get("recorded_at"), source, "event.recorded_at"),
        location=_paths(ev.get("location"), source, "event.location"),
        lat=ev.get("lat"),
        lon=ev.get("lon"),
        signer=ev.get("signer"),
        shipment_signer=shipment.get("signer"),
        zones=zones,
        code_style=style,
        statuses=_statuses(d.get("statuses"), source, style),
        reasons=_reasons(d.get("reasons"), source, style),
        source=source,
    )


@cache
def shipped_format(name: str) -> Format:
    """A format shipped in lastmile/partners/formats/."""
    ref = resources.files("lastmile.partners").joinpath("formats", f"{name}.yaml")
    if not ref.is_file():
        known = ", ".join(shipped_format_names())
        raise MappingError(f"unknown partner format {name!r} (known: {known})")
    return parse_format(ref.read_text(encoding="utf-8"), f"formats/{name}.yaml")


def shipped_format_names() -> list[str]:
    folder = resources.files("lastmile.partners").joinpath("formats")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def parse_partner(text: str, source: str, expected_id: str) -> Partner:
    d = _load_yaml(text, source)
    partner_id = str(d.get("partner_id", expected_id))
    if partner_id != expected_id:
        raise _fail(source, f"partner_id {partner_id!r} does not match the file name {expected_id!r}")
    if "format" not in d:
        raise _fail(source, "missing 'format'")
    fmt = shipped_format(str(d["format"]))
    return Partner(
        partner_id=partner_id,
        format=fmt,
        statuses=_statuses(d.get("statuses"), source, fmt.code_style),
        reasons=_reasons(d.get("reasons"), source, fmt.code_style),
        source=source,
    )


class PartnerRegistry:
    """Partner configs: LASTMILE_HOME/partners/<id>.yaml (if given) first, then the shipped ones."""

    def __init__(self, user_dir: Path | None = None) -> None:
        self.user_dir = user_dir
        self._cache: dict[str, Partner | None] = {}

    def get(self, partner_id: str) -> Partner | None:
        """The partner's mapping, or None when no config names this partner_id."""
        if partner_id in self._cache:
            return self._cache[partner_id]
        partner: Partner | None = None
        if PARTNER_ID.fullmatch(partner_id):
            user = self.user_dir / f"{partner_id}.yaml" if self.user_dir else None
            if user is not None and user.is_file():
                partner = parse_partner(user.read_text(encoding="utf-8"), str(user), partner_id)
            else:
                ref = resources.files("lastmile.partners").joinpath("config", f"{partner_id}.yaml")
                if ref.is_file():
                    partner = parse_partner(ref.read_text(encoding="utf-8"), f"config/{partner_id}.yaml", partner_id)
        self._cache[partner_id] = partner
        return partner

    def known(self) -> list[str]:
        names = {p.name[:-5] for p in resources.files("lastmile.partners").joinpath("config").iterdir()
                 if p.name.endswith(".yaml")}  # fmt: skip
        if self.user_dir and self.user_dir.is_dir():
            names |= {p.stem for p in self.user_dir.glob("*.yaml")}
        return sorted(names)
