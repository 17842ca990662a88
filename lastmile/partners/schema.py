"""The JSON Schema of a partner format file (formats/<format>.yaml), built from the contract's code sets.

The same schema is published as `lastmile/partners/format.schema.json`, so that an editor can check a
format while it is written (YAML language servers read a first-line comment
`# yaml-language-server: $schema=<path to format.schema.json>`). Regenerate the file after the
contract's statuses or exception codes change:

    python -m lastmile.partners.schema > lastmile/partners/format.schema.json
"""

import json
from functools import cache
from importlib import resources
from typing import Any

from lastmile.codes import EXCEPTION_CODES, STATUSES

SCHEMA_FILE = "format.schema.json"
SYNTAXES = ("json", "xml")


def _path(description: str) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "description": description}


def _paths(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "oneOf": [
            {"type": "string", "minLength": 1},
            {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
        ],
    }


def _time_spec() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "One way the time may be written; the first spec whose parts are all present is used.",
        "additionalProperties": False,
        "required": ["parts"],
        "properties": {
            "parts": _paths("paths whose values, joined by one space, are the time text"),
            "format": {
                "type": "string",
                "minLength": 1,
                "description": "'iso' (ISO 8601, the default) or a strptime format for the joined parts",
            },
            "offset": _path("path of a UTC offset field (+01:00, -0500, -7:00, Z)"),
            "zone": _path("path of a time-zone abbreviation field, resolved by the format's zones table"),
            "timezone": {
                "type": "string",
                "minLength": 1,
                "description": "IANA time zone (Europe/Brussels) a time without offset is read in",
            },
            "utc": {"type": "boolean", "description": "the parts are UTC"},
            "zfill": {
                "type": "integer",
                "minimum": 0,
                "description": "zero-fill all-digit parts shorter than this (time 74700 -> 074700)",
            },
        },
    }


def _times(description: str) -> dict[str, Any]:
    spec = {"$ref": "#/$defs/time_spec"}
    return {"description": description, "oneOf": [spec, {"type": "array", "items": spec, "minItems": 1}]}


def build_schema() -> dict[str, Any]:
    """The format schema, from lastmile.codes (the one home of the contract's sets)."""
    targets = sorted([*STATUSES, *(f"{s}/{c}" for s in STATUSES for c in EXCEPTION_CODES)])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://lastmile.invalid/partners/format.schema.json",
        "title": "lastmile partner format",
        "description": "Where a carrier's tracking payload keeps each field, and its code tables (docs/partners.md).",
        "type": "object",
        "additionalProperties": False,
        "required": ["format", "syntax", "shipments", "tracking_number", "events", "event"],
        "properties": {
            "format": {
                "type": "string",
                "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
                "description": "the format's name: the file name without .yaml",
            },
            "syntax": {"enum": list(SYNTAXES), "description": "how the payload is written"},
            "description": {"type": "string", "description": "one line for people"},
            "shipments": _paths("paths of the shipments; all are read, in document order"),
            "tracking_number": _paths("paths, from a shipment, of its tracking number; the first non-empty wins"),
            "tracking_number_from_file_name": {
                "type": "string",
                "minLength": 1,
                "description": "regular expression searched in the payload's file name when the shipment names "
                "no tracking number; its first group (or the whole match) is the tracking number",
            },
            "events": _paths("paths, from a shipment, of its events; all are read, in document order"),
            "event": {
                "type": "object",
                "description": "where each field of an event is, from the event",
                "additionalProperties": False,
                "required": ["status_code", "occurred_at"],
                "properties": {
                    "status_code": _path("the carrier's status code (or status text)"),
                    "reason_code": _path("the carrier's reason code, consulted for delivery_attempted/exception"),
                    "description": _path("the carrier's description text, kept as sent"),
                    "occurred_at": _times("when the event happened"),
                    "recorded_at": _times("when the carrier recorded it (default: occurred_at)"),
                    "location": _paths("location parts, joined by ', '"),
                    "lat": _path("latitude"),
                    "lon": _path("longitude"),
                    "signer": _path("who signed (becomes a signature proof; the name is kept only encrypted)"),
                    "signer_statuses": {
                        "type": "array",
                        "items": {"enum": [*STATUSES, "informational"]},
                        "minItems": 1,
                        "description": "take the event's signer only on events mapped to these statuses "
                        "('informational' = a code mapped to ~); default: every event",
                    },
                },
            },
            "shipment": {
                "type": "object",
                "description": "shipment-level fields, from the shipment",
                "additionalProperties": False,
                "properties": {"signer": _path("who signed, given to the shipment's delivered events")},
            },
            "zones": {
                "type": "object",
                "description": "time-zone abbreviation -> UTC offset",
                "additionalProperties": {"type": "string", "pattern": "^(Z|[+-][0-9]{1,2}(:?[0-9]{2})?)$"},
            },
            "code_style": {
                "enum": ["text", "integer"],
                "description": "'text': codes compared as written (trimmed); 'integer': leading zeros ignored",
            },
            "statuses": {
                "type": ["object", "null"],
                "description": "carrier code (exact; 're:<regex>' or '<prefix>*' patterns after them) -> "
                "canonical status, 'status/exception_code', or ~ (informational)",
                "additionalProperties": {
                    "anyOf": [{"type": "null"}, {"enum": targets}],
                    "description": "a canonical status, optionally /exception_code, or ~",
                },
            },
            "reasons": {
                "type": ["object", "null"],
                "description": "carrier reason code (exact; 're:<regex>' or '<prefix>*' patterns after them) -> "
                "canonical exception code",
                "additionalProperties": {"enum": list(EXCEPTION_CODES), "description": "a canonical exception code"},
            },
        },
        "$defs": {"time_spec": _time_spec()},
    }


@cache
def format_schema() -> dict[str, Any]:
    return build_schema()


def published_schema() -> dict[str, Any]:
    """The schema file shipped in the package."""
    text = resources.files("lastmile.partners").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def render() -> str:
    return json.dumps(build_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
