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
import pyarrow.compute as pc

from lastmile.ingest.context import IngestContext, SealedAhead, artifact, encrypt_ahead
from lastmile.ingest.landing import LandingFile
from lastmile.ingest.stage import QuarantineFn, faults_and_conflicts
from lastmile.messages import CONSENT_RECORD_KIND, MESSAGE_BODY_KIND, normalize_address
from lastmile.vault import Artifact


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


def _loaded_rows(ctx: IngestContext, columns: str) -> pa.Table:
    """The loaded rows of this file, as Arrow (a Python tuple per row cost more than the query); `columns` is
    a fixed list written by the callers below, never data."""
    return ctx.conn.execute(
        f"SELECT c._row, {columns} FROM _checked c JOIN _classified k USING (_row)"
        " WHERE k.outcome = 'loaded' ORDER BY c._row"
    ).fetch_arrow_table()


@dataclass
class PreparedMessages:
    derived: pa.Table  # the rows with address and body replaced by their keyed hashes
    ahead: SealedAhead  # each row's body with a message id, encrypted under its message and order id as written


def prepare_messages(ctx: IngestContext, table: pa.Table) -> PreparedMessages:
    """The rows with address and body replaced by their keyed hashes, and the bodies encrypted for the vault
    (row-wise, pure: the ingest runs it on its read-ahead thread, before the rows are classified; the body of
    a row that turns out not loaded was encrypted for nothing, which is rare)."""
    derived, _ = _hash_addresses(ctx, table)
    bodies = _strings(table, "body")
    derived = derived.drop_columns(["body"])
    derived = derived.append_column("has_body", pa.array([b is not None for b in bodies], type=pa.bool_()))
    derived = derived.append_column("body_hash", pa.array([ctx.vault.keyed_hash(b) for b in bodies], type=pa.string()))
    owners: list[int] = []
    items: list[Artifact] = []
    columns = [table.column(c).to_pylist() for c in ("_row", "message_id", "order_id")]
    for row, message_id, order_id, body in zip(*columns, bodies, strict=True):
        if body is not None and message_id:
            owners.append(row)
            items.append(artifact(f"message:{message_id}", MESSAGE_BODY_KIND, order_id or None, body.encode()))
    return PreparedMessages(derived, encrypt_ahead(ctx.vault, owners, items))


@dataclass
class PreparedConsents:
    derived: pa.Table  # the rows with the address replaced by has_address and address_hash
    ahead: SealedAhead  # each row's consent record (channel, address), encrypted under `consent:<consent_id>`


def _consent_payload(channel: str | None, address: str | None) -> bytes:
    return json.dumps({"channel": channel, "address": address}, ensure_ascii=False).encode()


def prepare_consents(ctx: IngestContext, table: pa.Table) -> PreparedConsents:
    """The rows with the address replaced by its keyed hash, and each row's consent record (channel and
    address) encrypted for the vault (on the read-ahead thread; only the loaded rows' are stored)."""
    derived, addresses = _hash_addresses(ctx, table)
    owners: list[int] = []
    items: list[Artifact] = []
    columns = [table.column(c).to_pylist() for c in ("_row", "consent_id", "channel")]
    for row, consent_id, channel, address in zip(*columns, addresses, strict=True):
        if consent_id:
            owners.append(row)
            payload = _consent_payload(channel or None, address)
            items.append(artifact(f"consent:{consent_id}", CONSENT_RECORD_KIND, None, payload))
    return PreparedConsents(derived, encrypt_ahead(ctx.vault, owners, items))


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
    faults_and_conflicts(ctx, lf, table, quarantine_row, counts, encrypt=True)
    loaded = _loaded_rows(ctx, "c.has_body, c.partition_date")
    touched.setdefault("messages", set()).update(pc.unique(loaded.column("partition_date")).to_pylist())
    sealed.append(prep.ahead.of(loaded.filter(loaded.column("has_body")).column("_row").to_pylist()))


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
    faults_and_conflicts(ctx, lf, table, quarantine_row, counts, encrypt=True)
    sealed.append(prep.ahead.of(_loaded_rows(ctx, "c.consent_id").column("_row").to_pylist()))


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
    faults_and_conflicts(ctx, lf, table, quarantine_row, counts, encrypt=False)


HANDLERS: dict[str, Callable[..., None]] = {
    "messages": ingest_messages, "consents": ingest_consents, "templates": ingest_templates,
}  # fmt: skip
# Row-wise preparation of a file's rows, before the warehouse is asked anything (the handler gets it as `prep`).
PREPARE: dict[str, Callable[..., Any]] = {"messages": prepare_messages, "consents": prepare_consents}
