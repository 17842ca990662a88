"""Partner mappings as data: one YAML file per carrier format, one small YAML file per partner.

A *format* file (``formats/<format>.yaml``: shipped in ``lastmile/partners/formats/``, or added by a user in
``LASTMILE_HOME/partners/formats/``, which wins) says where a carrier's payload keeps the shipments, their
tracking numbers and events, each event's time (with its offset or zone), status code, reason code,
location and proof-of-delivery fields, and holds the code tables: carrier status code -> canonical status
(optionally ``status/exception_code``), carrier reason code -> canonical exception code. A code mapped to
``~`` is known and informational (no event). Tables hold exact codes and, tried after every exact entry,
patterns: ``re:<regular expression>`` (anchored: it must match the whole code) or ``<prefix>*``.
Every key is validated against the published JSON Schema (``format.schema.json``, built by
``lastmile.partners.schema``); an error names the file, the line and the key.

A *partner* file (``<partner_id>.yaml``: shipped in ``lastmile/partners/config/``, or added by a user in
``LASTMILE_HOME/partners/``, which wins) names the format a partner_id uses and may add or override codes
of that format for this partner (``statuses:``, ``reasons:``); its entries come before the format's.
"""

import difflib
import re
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from lastmile.codes import EXCEPTION_CODES, STATUSES
from lastmile.errors import LastmileError
from lastmile.partners.schema import SYNTAXES, format_schema

PARTNER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# Statuses whose carrier reason code is consulted (they need an exception code, CONTRACT §2 / §4).
STATUSES_WITH_REASON = ("delivery_attempted", "exception")
REGEX_PREFIX = "re:"
__all__ = ["SYNTAXES", "CodeTable", "Format", "MappingError", "Partner", "PartnerRegistry", "Target", "TimeSpec"]


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
    timezone: str | None = None  # IANA zone a time without offset is read in (default: the network's)


@dataclass(frozen=True)
class CodeTable:
    """Exact codes first, then patterns in the order written. Each match names the entry that matched."""

    exact: Mapping[str, Any] = field(default_factory=dict)
    patterns: tuple[tuple[str, Callable[[str], bool], Any], ...] = ()

    def __len__(self) -> int:
        return len(self.exact) + len(self.patterns)

    def __contains__(self, code: object) -> bool:
        return code in self.exact


def _pattern(entry: str) -> Callable[[str], bool] | None:
    """The matcher of a pattern entry (None for an exact code); raises re.error on a bad expression."""
    if entry.startswith(REGEX_PREFIX):
        return re.compile(entry[len(REGEX_PREFIX) :]).fullmatch  # type: ignore[return-value]
    if entry.endswith("*") and len(entry) > 1:
        prefix = entry[:-1]
        return lambda code: code.startswith(prefix)
    return None


def _first_match(tables: tuple[CodeTable, ...], key: str) -> tuple[str, Any] | None:
    for table in tables:
        if key in table.exact:
            return key, table.exact[key]
    for table in tables:
        for entry, matches, value in table.patterns:
            if matches(key):
                return entry, value
    return None


@dataclass(frozen=True)
class Format:
    name: str
    syntax: str
    description: str
    shipments: tuple[str, ...]  # every path is read; shipments in document order
    tracking_number: tuple[str, ...]
    events: tuple[str, ...]  # every path is read, from each shipment; events in document order
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
    statuses: CodeTable
    reasons: CodeTable
    source: str
    tracking_number_from_file_name: str | None = None
    signer_statuses: tuple[str, ...] | None = None  # None: any event's signer is taken

    def normalize(self, code: str) -> str:
        code = code.strip()
        if self.code_style == "integer" and code.isdigit():
            return str(int(code))
        return code

    @property
    def tracking_keys(self) -> frozenset[str]:
        """Keys that name a tracking number (the last step of each tracking_number path): an object in a
        payload holding one of them is a shipment, read or reported."""
        return _tracking_keys(self.tracking_number)


@cache
def _tracking_keys(paths: tuple[str, ...]) -> frozenset[str]:
    keys = set()
    for path in paths:
        last = path.split(".")[-1].removesuffix("[]")
        if last not in ("", "^", "*", "."):
            keys.add(last)
    return frozenset(keys)


@dataclass(frozen=True)
class Partner:
    partner_id: str
    format: Format
    statuses: CodeTable = field(default_factory=CodeTable)
    reasons: CodeTable = field(default_factory=CodeTable)
    source: str = ""
    _memo: dict[tuple[str, str], tuple[str, Any] | None] = field(default_factory=dict, compare=False, repr=False)

    def status_match(self, code: str) -> tuple[str, Target] | None:
        """(the table entry that matched, its target) for a carrier status code, or None (unmapped)."""
        return self._match("s", code, (self.statuses, self.format.statuses))

    def reason_match(self, code: str) -> tuple[str, str] | None:
        """(the table entry that matched, exception code) for a carrier reason code, or None (unmapped)."""
        return self._match("r", code, (self.reasons, self.format.reasons))

    def _match(self, kind: str, code: str, tables: tuple[CodeTable, ...]) -> Any:
        key = self.format.normalize(code)
        memo = (kind, key)
        if memo not in self._memo:
            self._memo[memo] = _first_match(tables, key)
        return self._memo[memo]

    def status_target(self, code: str) -> Target | None:
        found = self.status_match(code)
        return found[1] if found else None

    def is_status_mapped(self, code: str) -> bool:
        return self.status_match(code) is not None

    def reason_target(self, code: str) -> str | None:
        found = self.reason_match(code)
        return found[1] if found else None


# ------------------------------------------------------------------------------------------ YAML with lines


Where = tuple[str | int, ...]


class Located:
    """A parsed YAML document with the line of every key and item (1-based), for one-line errors."""

    def __init__(self, text: str, source: str, kind: str) -> None:
        self.source, self.kind = source, kind
        self.lines: dict[Where, int] = {(): 1}
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            self.data = self._build(loader, node, ()) if node is not None else None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f"line {mark.line + 1}: " if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise MappingError(f"{kind} {source}: {line}not valid YAML ({problem})") from None
        finally:
            loader.dispose()

    def _build(self, loader: yaml.SafeLoader, node: yaml.Node, where: Where) -> Any:
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else str(key_node)
                self.lines[(*where, key)] = key_node.start_mark.line + 1
                out[key] = self._build(loader, value_node, (*where, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            items = []
            for i, item in enumerate(node.value):
                self.lines[(*where, i)] = item.start_mark.line + 1
                items.append(self._build(loader, item, (*where, i)))
            return items
        return loader.construct_object(node, deep=True)

    def line(self, where: Where) -> int:
        while where not in self.lines:
            where = where[:-1]
        return self.lines[where]

    def fail(self, where: Where, problem: str) -> MappingError:
        key = _key_text(where)
        return MappingError(f"{self.kind} {self.source}: line {self.line(where)}: {key + ': ' if key else ''}{problem}")


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def _key_text(where: Where) -> str:
    out = ""
    for step in where:
        if isinstance(step, int):
            out += f"[{step}]"
        elif _IDENT.fullmatch(step):
            out += f".{step}" if out else step
        else:
            out += f"[{step!r}]"
    return out


def _schema_problem(error: jsonschema.ValidationError) -> tuple[Where, str]:
    where: Where = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(schema.get("properties", {}))
        extra = next(k for k in error.instance if k not in allowed)
        hint = difflib.get_close_matches(extra, allowed, n=1)
        return (*where, extra), "unknown key" + (f" (did you mean {hint[0]!r}?)" if hint else "")
    if error.validator == "required":
        return where, error.message.replace("is a required property", "is missing (required)")
    if "description" in schema and error.validator in ("enum", "anyOf", "oneOf", "pattern", "type"):
        return where, f"expected {schema['description']}, got {error.instance!r}"
    return where, error.message


def validate(doc: Located) -> None:
    """Raise the first schema violation (by line) as a one-line MappingError."""
    validator = jsonschema.Draft202012Validator(format_schema())
    problems = []
    for error in validator.iter_errors(doc.data):
        best = jsonschema.exceptions.best_match([error])
        where, problem = _schema_problem(best)
        problems.append((doc.line(where), where, problem))
    if problems:
        _, where, problem = min(problems, key=lambda p: p[0])
        raise doc.fail(where, problem)


# ------------------------------------------------------------------------------------------------- parsing


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


def _reason(value: Any, source: str, code: str) -> str:
    if value not in EXCEPTION_CODES:
        raise _fail(source, f"reason {code!r}: {value!r} is not a canonical exception code")
    return str(value)


def _table(
    raw: Any, style: str, convert: Callable[[Any, str], Any], bad: Callable[[str, str], MappingError]
) -> CodeTable:
    """A code table from its YAML mapping; `bad(code, problem)` makes the error for one entry."""
    if raw is None:
        return CodeTable()
    if not isinstance(raw, dict):
        raise bad("", "must be a mapping of code -> value")
    exact: dict[str, Any] = {}
    patterns = []
    for code, value in raw.items():
        text = str(code).strip()
        try:
            matcher = _pattern(text)
        except re.error as exc:
            raise bad(text, f"not a valid regular expression ({exc})") from None
        if matcher is not None:
            patterns.append((text, matcher, convert(value, text)))
            continue
        key = str(int(text)) if style == "integer" and text.isdigit() else text
        exact[key] = convert(value, text)
    return CodeTable(exact, tuple(patterns))


def _config_table(raw: Any, source: str, name: str, style: str) -> CodeTable:
    def bad(code: str, problem: str) -> MappingError:
        return _fail(source, f"{name} {code!r}: {problem}" if code else f"{name} {problem}")

    if name == "statuses":
        return _table(raw, style, lambda v, c: _target(v, source, c), bad)
    return _table(raw, style, lambda v, c: _reason(v, source, c), bad)


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _times(value: Any, doc: Located, where: Where) -> tuple[TimeSpec, ...]:
    if value is None:
        return ()
    specs = []
    for i, item in enumerate([value] if isinstance(value, dict) else value):
        tz = item.get("timezone")
        if tz is not None:
            try:
                zoneinfo.ZoneInfo(tz)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                at = (*where, "timezone") if isinstance(value, dict) else (*where, i, "timezone")
                raise doc.fail(at, f"{tz!r} is not an IANA time zone") from None
        specs.append(TimeSpec(
            parts=_as_tuple(item["parts"]), format=str(item.get("format", "iso")), offset=item.get("offset"),
            zone=item.get("zone"), utc=bool(item.get("utc", False)), zfill=int(item.get("zfill", 0)), timezone=tz,
        ))  # fmt: skip
    return tuple(specs)


def parse_format(text: str, source: str, expected_name: str | None = None) -> Format:
    """A format file, validated against the format schema; errors name the file, line and key."""
    doc = Located(text, source, "partner format")
    if not isinstance(doc.data, dict):
        raise doc.fail((), "expected a mapping of keys at the top level")
    validate(doc)
    d: dict[str, Any] = doc.data
    if expected_name is not None and d["format"] != expected_name:
        raise doc.fail(("format",), f"{d['format']!r} does not match the file name {expected_name!r}")
    style = str(d.get("code_style", "text"))

    def table(name: str) -> CodeTable:
        def bad(code: str, problem: str) -> MappingError:
            return doc.fail((name, code) if code else (name,), problem)

        if name == "statuses":
            return _table(d.get(name), style, lambda v, c: _target(v, source, c), bad)
        return _table(d.get(name), style, lambda v, c: str(v), bad)

    pattern = d.get("tracking_number_from_file_name")
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise doc.fail(("tracking_number_from_file_name",), f"not a valid regular expression ({exc})") from None
    ev = d["event"]
    shipment = d.get("shipment") or {}
    signer_statuses = ev.get("signer_statuses")
    return Format(
        name=str(d["format"]),
        syntax=str(d["syntax"]),
        description=str(d.get("description", "")),
        shipments=_as_tuple(d["shipments"]),
        tracking_number=_as_tuple(d["tracking_number"]),
        events=_as_tuple(d["events"]),
        status_code=str(ev["status_code"]),
        reason_code=ev.get("reason_code"),
        description_field=ev.get("description"),
        occurred_at=_times(ev["occurred_at"], doc, ("event", "occurred_at")),
        recorded_at=_times(ev.get("recorded_at"), doc, ("event", "recorded_at")),
        location=_as_tuple(ev.get("location")),
        lat=ev.get("lat"),
        lon=ev.get("lon"),
        signer=ev.get("signer"),
        shipment_signer=shipment.get("signer"),
        zones={str(k).strip().upper(): str(v) for k, v in (d.get("zones") or {}).items()},
        code_style=style,
        statuses=table("statuses"),
        reasons=table("reasons"),
        source=source,
        tracking_number_from_file_name=pattern,
        signer_statuses=tuple(signer_statuses) if signer_statuses else None,
    )


@cache
def shipped_format(name: str) -> Format:
    """A format shipped in lastmile/partners/formats/."""
    ref = resources.files("lastmile.partners").joinpath("formats", f"{name}.yaml")
    if not PARTNER_ID.fullmatch(name) or not ref.is_file():
        known = ", ".join(shipped_format_names())
        raise MappingError(f"unknown partner format {name!r} (known: {known})")
    return parse_format(ref.read_text(encoding="utf-8"), f"formats/{name}.yaml", name)


def shipped_format_names() -> list[str]:
    folder = resources.files("lastmile.partners").joinpath("formats")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _load_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _fail(source, f"not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise _fail(source, "expected a mapping at the top level")
    return data


def parse_partner(
    text: str, source: str, expected_id: str, formats: Callable[[str], Format] = shipped_format
) -> Partner:
    d = _load_yaml(text, source)
    partner_id = str(d.get("partner_id", expected_id))
    if partner_id != expected_id:
        raise _fail(source, f"partner_id {partner_id!r} does not match the file name {expected_id!r}")
    if "format" not in d:
        raise _fail(source, "missing 'format'")
    fmt = formats(str(d["format"]))
    return Partner(
        partner_id=partner_id,
        format=fmt,
        statuses=_config_table(d.get("statuses"), source, "statuses", fmt.code_style),
        reasons=_config_table(d.get("reasons"), source, "reasons", fmt.code_style),
        source=source,
    )


class PartnerRegistry:
    """Partner configs and formats: LASTMILE_HOME/partners/<id>.yaml and LASTMILE_HOME/partners/formats/
    <format>.yaml (if a user folder is given) first, then the shipped ones."""

    def __init__(self, user_dir: Path | None = None) -> None:
        self.user_dir = user_dir
        self._cache: dict[str, Partner | None] = {}
        self._formats: dict[str, Format] = {}

    @property
    def formats_dir(self) -> Path | None:
        return self.user_dir / "formats" if self.user_dir else None

    def format(self, name: str) -> Format:
        """The format `name`: the user's file of that name if there is one, else the shipped one."""
        if name not in self._formats:
            user = self.formats_dir / f"{name}.yaml" if self.formats_dir and PARTNER_ID.fullmatch(name) else None
            if user is not None and user.is_file():
                self._formats[name] = parse_format(user.read_text(encoding="utf-8"), str(user), name)
            elif PARTNER_ID.fullmatch(name) and name in shipped_format_names():
                self._formats[name] = shipped_format(name)
            else:
                raise MappingError(f"unknown partner format {name!r} (known: {', '.join(self.format_names())})")
        return self._formats[name]

    def format_names(self) -> list[str]:
        names = set(shipped_format_names())
        if self.formats_dir and self.formats_dir.is_dir():
            names |= {p.stem for p in self.formats_dir.glob("*.yaml")}
        return sorted(names)

    def get(self, partner_id: str) -> Partner | None:
        """The partner's mapping, or None when no config names this partner_id."""
        if partner_id in self._cache:
            return self._cache[partner_id]
        partner: Partner | None = None
        if PARTNER_ID.fullmatch(partner_id):
            user = self.user_dir / f"{partner_id}.yaml" if self.user_dir else None
            if user is not None and user.is_file():
                partner = parse_partner(user.read_text(encoding="utf-8"), str(user), partner_id, self.format)
            else:
                ref = resources.files("lastmile.partners").joinpath("config", f"{partner_id}.yaml")
                if ref.is_file():
                    text = ref.read_text(encoding="utf-8")
                    partner = parse_partner(text, f"config/{partner_id}.yaml", partner_id, self.format)
        self._cache[partner_id] = partner
        return partner

    def known(self) -> list[str]:
        names = {p.name[:-5] for p in resources.files("lastmile.partners").joinpath("config").iterdir()
                 if p.name.endswith(".yaml")}  # fmt: skip
        if self.user_dir and self.user_dir.is_dir():
            names |= {p.stem for p in self.user_dir.glob("*.yaml")}
        return sorted(names)
