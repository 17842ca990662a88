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
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from lastmile.ingest.context import IngestContext, artifact
from lastmile.ingest.landing import LandingFile
from lastmile.ingest.stage import QuarantineFn, faults_and_conflicts, validate
from lastmile.messages import CONSENT_RECORD_KIND, MESSAGE_BODY_KIND, normalize_address
from lastmile.vault import Artifact, Encrypted


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


@dataclass
class PreparedMessages:
    derived: pa.Table  # the rows with address and body replaced by their keyed hashes
    bodies: list[str | None]
    encrypted: Encrypted  # the bodies sealed ahead, under each row's message and order id as written
    encrypted_at: list[int | None]  # per row: its body's place in `encrypted`


def prepare_messages(ctx: IngestContext, table: pa.Table) -> PreparedMessages:
    """The rows with address and body replaced by their keyed hashes, and the bodies encrypted for the vault
    (row-wise, pure: the ingest runs it on its read-ahead thread, before the rows are classified; the body of
    a row that turns out not loaded was encrypted for nothing, which is rare)."""
    derived, _ = _hash_addresses(ctx, table)
    bodies = _strings(table, "body")
    derived = derived.drop_columns(["body"])
    derived = derived.append_column("has_body", pa.array([b is not None for b in bodies], type=pa.bool_()))
    derived = derived.append_column("body_hash", pa.array([ctx.vault.keyed_hash(b) for b in bodies], type=pa.string()))
    items: list[Artifact] = []
    encrypted_at: list[int | None] = []
    message_ids = table.column("message_id").to_pylist()
    order_ids = table.column("order_id").to_pylist()
    for message_id, order_id, body in zip(message_ids, order_ids, bodies, strict=True):
        if body is None or not message_id:
            encrypted_at.append(None)
            continue
        encrypted_at.append(len(items))
        items.append(artifact(f"message:{message_id}", MESSAGE_BODY_KIND, order_id or None, body.encode()))
    return PreparedMessages(derived, bodies, ctx.vault.encrypt(items), encrypted_at)


@dataclass
class PreparedConsents:
    derived: pa.Table  # the rows with the address replaced by has_address and address_hash
    addresses: list[str | None]
    encrypted: Encrypted  # each row's consent record sealed ahead, under `consent:<consent_id as written>`
    encrypted_at: list[int | None]  # per row: its record's place in `encrypted`


def _consent_payload(channel: str | None, address: str | None) -> bytes:
    return json.dumps({"channel": channel, "address": address}, ensure_ascii=False).encode()


def prepare_consents(ctx: IngestContext, table: pa.Table) -> PreparedConsents:
    """The rows with the address replaced by its keyed hash, and each row's consent record (channel and
    address) encrypted for the vault (on the read-ahead thread; only the loaded rows' are stored)."""
    derived, addresses = _hash_addresses(ctx, table)
    items: list[Artifact] = []
    encrypted_at: list[int | None] = []
    consent_ids = table.column("consent_id").to_pylist()
    for consent_id, channel, address in zip(consent_ids, table.column("channel").to_pylist(), addresses, strict=True):
        if not consent_id:
            encrypted_at.append(None)
            continue
        encrypted_at.append(len(items))
        payload = _consent_payload(channel or None, address)
        items.append(artifact(f"consent:{consent_id}", CONSENT_RECORD_KIND, None, payload))
    return PreparedConsents(derived, addresses, ctx.vault.encrypt(items), encrypted_at)


def ingest_messages(
    ctx: IngestContext,
    lf: LandingFile,
    file_id: str,
    table: pa.Table,
    prep: PreparedMessages,
    quarantine_row: QuarantineFn,
    sealed: list[Any],
    counts: Counter[str],
    touched: dict[str, set[dt.date]],
) -> None:
    validate(ctx, lf, file_id, prep.derived)
    faults_and_conflicts(ctx, lf, table, quarantine_row, counts, encrypt=True)
    index = {r: i for i, r in enumerate(table.column("_row").to_pylist())}
    days = touched.setdefault("messages", set())
    encrypted_at: list[int] = []
    for row, message_id, order_id, day in _loaded_rows(ctx, "c.message_id, c.order_id, c.partition_date"):
        days.add(day)
        i = index[row]
        body = prep.bodies[i]
        at = prep.encrypted_at[i]
        if at is not None:
            encrypted_at.append(at)
        elif body is not None:
            sealed.append(artifact(f"message:{message_id}", MESSAGE_BODY_KIND, order_id, body.encode()))
    if encrypted_at:
        sealed.append(prep.encrypted.take(encrypted_at))


def ingest_consents(
    ctx: IngestContext,
    lf: LandingFile,
    file_id: str,
    table: pa.Table,
    prep: PreparedConsents,
    quarantine_row: QuarantineFn,
    sealed: list[Any],
    counts: Counter[str],
    touched: dict[str, set[dt.date]],
) -> None:
    validate(ctx, lf, file_id, prep.derived)
    faults_and_conflicts(ctx, lf, table, quarantine_row, counts, encrypt=True)
    index = {r: i for i, r in enumerate(table.column("_row").to_pylist())}
    encrypted_at: list[int] = []
    for row, consent_id, channel in _loaded_rows(ctx, "c.consent_id, c.channel"):
        at = prep.encrypted_at[index[row]]
        if at is not None:
            encrypted_at.append(at)
        else:
            payload = _consent_payload(channel, prep.addresses[index[row]])
            sealed.append(artifact(f"consent:{consent_id}", CONSENT_RECORD_KIND, None, payload))
    if encrypted_at:
        sealed.append(prep.encrypted.take(encrypted_at))


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
PREPARE: dict[str, Callable[..., Any]] = {"messages": prepare_messages, "consents": prepare_consents}
