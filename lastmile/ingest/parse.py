"""Reading one landing file into a table of strings, row by row, without losing a line.

Every file becomes a pyarrow table whose columns are all strings (or null), plus `_row`: the 1-based
number of the data record in the file (CSV: records after the header, blank lines not counted; JSON
Lines: non-blank lines; Parquet: row index + 1). Lines that cannot be parsed become `malformed` entries
with their row number and raw text. A file that cannot be read as a table at all raises `Unreadable`.

Well-formed files take DuckDB's fast readers; a file DuckDB refuses is re-read line by line in Python,
which finds exactly which lines are broken and keeps the rest.
"""

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

ROW = "_row"


class Unreadable(Exception):
    """The file is not a table at all (wrong encoding, corrupt Parquet, no header...)."""


@dataclass
class Parsed:
    table: pa.Table  # string columns + _row (int64)
    malformed: list[tuple[int, str]] = field(default_factory=list)  # (row, raw text)

    @property
    def rows_read(self) -> int:
        return self.table.num_rows + len(self.malformed)


def _with_rows(table: pa.Table, rows: Sequence[int] | None = None) -> pa.Table:
    numbers = pa.array(rows if rows is not None else range(1, table.num_rows + 1), type=pa.int64())
    return table.append_column(ROW, numbers)


def _ensure_columns(table: pa.Table, columns: Sequence[str]) -> pa.Table:
    for name in columns:
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, type=pa.string()))
    return table


def read_csv(conn: duckdb.DuckDBPyConnection, path: Path, columns: Sequence[str]) -> Parsed:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"not UTF-8 text (byte {exc.start})") from None
    if "\x00" in text:
        raise Unreadable("contains NUL bytes: not a CSV text file")
    first = next(csv.reader(io.StringIO(text, newline="")), None)
    if not first or not any(h.strip() for h in first):
        if text.strip():
            raise Unreadable("no header row")
        return Parsed(_ensure_columns(_with_rows(pa.table({})), columns))
    header = [h.strip() for h in first]
    if len(set(header)) != len(header):
        raise Unreadable("duplicate column names in the header")
    try:
        rel = conn.execute(
            "SELECT * FROM read_csv(?, header = true, auto_detect = false, columns = ?, delim = ',',"
            " quote = '\"', escape = '\"', strict_mode = true, all_varchar = true, null_padding = false)",
            [str(path), {h: "VARCHAR" for h in header}],
        )
        table = rel.fetch_arrow_table()
        return Parsed(_ensure_columns(_with_rows(table), columns))
    except duckdb.Error:
        pass  # some line is broken: find which, line by line
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader)
    records = [record for record in reader if record]  # a record's number is its place here (1-based)
    width = len(header)
    malformed = [
        (n, json.dumps({"fields": record}, ensure_ascii=False))
        for n, record in enumerate(records, 1)
        if len(record) != width
    ]
    numbers: Sequence[int] = range(1, len(records) + 1)
    if malformed:
        numbers = [n for n, record in enumerate(records, 1) if len(record) == width]
        records = [record for record in records if len(record) == width]
    # Column by column (one transposition), not a dict per record: this is the ingest's costliest Python
    # work on a file with one broken line.
    values = list(zip(*records, strict=True)) if records else [()] * width
    columns_read = {h: pa.array(v, type=pa.string()) for h, v in zip(header, values, strict=True)}
    table = _with_rows(pa.table(columns_read), numbers)
    return Parsed(_ensure_columns(table, columns), malformed)


def read_jsonl(conn: duckdb.DuckDBPyConnection, path: Path, columns: Sequence[str]) -> Parsed:
    """JSON Lines through DuckDB in one pass (sql/read_jsonl.sql): a broken line costs nothing extra."""
    from lastmile.warehouse import run_sql

    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"not UTF-8 text (byte {exc.start})") from None
    paths = [f'$."{c}"' for c in columns]
    try:
        table = run_sql(conn, "lastmile.ingest", "sql/read_jsonl.sql", {"path": str(path), "paths": paths})
        result = table.fetch_arrow_table()
    except duckdb.Error as exc:
        raise Unreadable(str(exc).splitlines()[0][:200]) from None
    ok = result.column("ok").to_pylist()
    rows = result.column(ROW).to_pylist()
    malformed = [
        (r, json.dumps({"line": bad}, ensure_ascii=False))
        for r, good, bad in zip(rows, ok, result.column("bad").to_pylist(), strict=True)
        if not good
    ]
    good_rows = result.filter(result.column("ok"))
    values = good_rows.column("vals")
    table = pa.table({c: pc.list_element(values, i).cast(pa.string()) for i, c in enumerate(columns)})
    return Parsed(table.append_column(ROW, good_rows.column(ROW).cast(pa.int64())), malformed)


def read_parquet(conn: duckdb.DuckDBPyConnection, path: Path, columns: Sequence[str]) -> Parsed:
    try:
        described = conn.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
        present = {row[0] for row in described}
        select = ", ".join(
            f'CAST("{c}" AS VARCHAR) AS "{c}"' if c in present else f'NULL::VARCHAR AS "{c}"' for c in columns
        )
        # Column names come from the contract (a fixed list), never from the data.
        table = conn.execute(
            f"SELECT {select} FROM read_parquet(?, file_row_number = true) ORDER BY file_row_number",
            [str(path)],
        ).fetch_arrow_table()
    except duckdb.Error as exc:
        raise Unreadable(str(exc).splitlines()[0][:200]) from None
    return Parsed(_with_rows(table))
