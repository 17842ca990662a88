"""The shared middle of reading one landing file of a keyed entity: validate its rows, classify them
against what the warehouse holds (first wins, or revisions for orders), quarantine the faults and
conflicts, and leave the accepted rows staged for insertion. Landing files (`lastmile.ingest.load`) and
customer messages (`lastmile.messages.ingest`) both call these, so neither reaches into the other."""

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import duckdb
import pyarrow as pa

from lastmile.ingest.context import IngestContext
from lastmile.ingest.landing import LandingFile
from lastmile.ingest.parse import ROW
from lastmile.warehouse import run_sql

SQL = "lastmile.ingest"
KEY = {"orders": "order_id", "events": "event_id", "proofs": "proof_id", "messages": "message_id",
       "consents": "consent_id", "templates": "template_id"}  # fmt: skip

QuarantineFn = Callable[..., None]


def check(cursor: duckdb.DuckDBPyConnection, entity: str, rows: pa.Table, params: dict[str, Any]) -> pa.Table:
    """Type and validate one file's rows (sql/validate_<entity>.sql): every row typed, with its key, content
    hash and fault. It reads no warehouse table, so the ingest runs it on its read-ahead thread, with a
    cursor of its own (`warehouse.session_cursor`: the warehouse's time zone dates the rows)."""
    cursor.register("_raw", rows)
    try:
        return run_sql(cursor, SQL, f"sql/validate_{entity}.sql", params).fetch_arrow_table()
    finally:
        cursor.unregister("_raw")


def classify(ctx: IngestContext, lf: LandingFile, file_id: str, checked: pa.Table) -> None:
    """Register a file's checked rows (`check`) as view _checked (the Arrow table itself, not a copy; the
    loader unregisters it after the file), and classify them against what the warehouse holds into temp
    table _classified."""
    conn = ctx.conn
    conn.register("_checked", checked)
    if lf.entity != "orders":
        run_sql(conn, SQL, f"sql/existing_{lf.entity}.sql")
        run_sql(conn, SQL, "sql/classify_first_wins.sql", {"file_id": file_id})
    else:
        run_sql(conn, SQL, "sql/classify_orders.sql")


def faults_and_conflicts(
    ctx: IngestContext,
    lf: LandingFile,
    raw_rows: pa.Table,
    quarantine_row: QuarantineFn,
    counts: Counter[str],
    encrypt: bool,
) -> None:
    conn = ctx.conn
    key_col = KEY[lf.entity]
    faults = run_sql(conn, SQL, "sql/faults.sql").fetchall()
    if lf.entity != "orders":
        faults += run_sql(conn, SQL, "sql/conflicts.sql").fetchall()
    faults.sort()
    if faults:
        index = {r: i for i, r in enumerate(raw_rows.column(ROW).to_pylist())}
        wanted = [index[f[0]] for f in faults]
        records = raw_rows.take(pa.array(wanted)).drop_columns([ROW]).to_pylist()
        for (row, reason, detail, key, order_id), record in zip(faults, records, strict=True):
            raw = json.dumps(record, ensure_ascii=False, sort_keys=False)
            quarantine_row(
                row,
                reason,
                detail,
                raw,
                encrypt=encrypt,
                entity_id=key,
                order_id=order_id if key_col != "order_id" else key,
            )
    for outcome, n in conn.execute(
        "SELECT outcome, count(*) FROM _classified WHERE outcome <> 'conflict' GROUP BY outcome"
    ).fetchall():
        counts[outcome] += n
    ctx.pending = True
