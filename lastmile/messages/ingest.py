"""Ingest handlers of the §8 folders, called by `lastmile.ingest.load` for each new file version under
`messages/`, `consents/` and `templates/` (same reading order, accounting and quarantine as every other
landing file; first content wins, a key seen again with other content is quarantined `conflict`).

The address is replaced, before anything is written, by the keyed hash of its normalised form; a message
body and a consent record's address are sealed in the vault for the rows loaded. Quarantined message and
consent rows may hold personal data, so their raw records are encrypted; template rows hold none.
"""

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from lastmile.ingest.context import IngestContext, artifact
from lastmile.ingest.landing import LandingFile
from lastmile.ingest.stage import QuarantineFn, faults_and_conflicts, validate
from lastmile.messages import CONSENT_RECORD_KIND, MESSAGE_BODY_KIND, normalize_address


def _strings(table: pa.Table, column: str) -> list[str | None]:
    return [None if v == "" else v for v in table.column(column).to_pylist()]


def _hash_addresses(ctx: IngestContext, table: pa.Table) -> tuple[pa.Table, list[str | None]]:
    """The table with `address` replaced by has_address and address_hash; also the raw addresses (pure: the
    consents' preparation, run on the ingest's read-ahead thread)."""
    channels = table.column("channel").to_pylist()
    addresses = _strings(table, "address")
    hashes = [ctx.vault.keyed_hash(normalize_address(c, a)) for c, a in zip(channels, addresses, strict=True)]
    derived = table.drop_columns(["address"])
    derived = derived.append_column("has_address", pa.array([a is not None for a in addresses], type=pa.bool_()))
    derived = derived.append_column("address_hash", pa.array(hashes, type=pa.string()))
    return derived, addresses


def _loaded_rows(ctx: IngestContext, columns: str) -> list[tuple[Any, ...]]:
    """The loaded rows of this file; `columns` is a fixed list written by the callers below, never data."""
    return ctx.conn.execute(
        f"SELECT c._row, {columns} FROM _checked c JOIN _classified k USING (_row)"
        " WHERE k.outcome = 'loaded' ORDER BY c._row"
    ).fetchall()


def prepare_messages(ctx: IngestContext, table: pa.Table) -> tuple[pa.Table, list[str | None]]:
    """The rows with address and body replaced by their keyed hashes; and the bodies (row-wise, pure: the
    ingest runs it on its read-ahead thread)."""
    derived, _ = _hash_addresses(ctx, table)
    bodies = _strings(table, "body")
    derived = derived.drop_columns(["body"])
    derived = derived.append_column("has_body", pa.array([b is not None for b in bodies], type=pa.bool_()))
    derived = derived.append_column("body_hash", pa.array([ctx.vault.keyed_hash(b) for b in bodies], type=pa.string()))
    return derived, bodies


def ingest_messages(
    ctx: IngestContext,
    lf: LandingFile,
    file_id: str,
    table: pa.Table,
    prep: tuple[pa.Table, list[str | None]],
    quarantine_row: QuarantineFn,
    sealed: list[Any],
    counts: Counter[str],
    touched: dict[str, set[dt.date]],
) -> None:
    derived, bodies = prep
    validate(ctx, lf, file_id, derived)
    faults_and_conflicts(ctx, lf, table, quarantine_row, counts, encrypt=True)
    index = {r: i for i, r in enumerate(table.column("_row").to_pylist())}
    days = touched.setdefault("messages", set())
    for row, message_id, order_id, day in _loaded_rows(ctx, "c.message_id, c.order_id, c.partition_date"):
        days.add(day)
        body = bodies[index[row]]
        if body is not None:
            sealed.append(artifact(f"message:{message_id}", MESSAGE_BODY_KIND, order_id, body.encode()))


def ingest_consents(
    ctx: IngestContext,
    lf: LandingFile,
    file_id: str,
    table: pa.Table,
    prep: tuple[pa.Table, list[str | None]],
    quarantine_row: QuarantineFn,
    sealed: list[Any],
    counts: Counter[str],
    touched: dict[str, set[dt.date]],
) -> None:
    derived, addresses = prep
    validate(ctx, lf, file_id, derived)
    faults_and_conflicts(ctx, lf, table, quarantine_row, counts, encrypt=True)
    index = {r: i for i, r in enumerate(table.column("_row").to_pylist())}
    for row, consent_id, channel in _loaded_rows(ctx, "c.consent_id, c.channel"):
        payload = json.dumps({"channel": channel, "address": addresses[index[row]]}, ensure_ascii=False)
        sealed.append(artifact(f"consent:{consent_id}", CONSENT_RECORD_KIND, None, payload.encode()))


def ingest_templates(
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

    validate(ctx, lf, file_id, table)
    faults_and_conflicts(ctx, lf, table, quarantine_row, counts, encrypt=False)


HANDLERS: dict[str, Callable[..., None]] = {
    "messages": ingest_messages, "consents": ingest_consents, "templates": ingest_templates,
}  # fmt: skip
# Row-wise preparation of a file's rows, before the warehouse is asked anything (the handler gets it as `prep`).
PREPARE: dict[str, Callable[..., Any]] = {"messages": prepare_messages, "consents": _hash_addresses}
