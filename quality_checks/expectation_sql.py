"""Great Expectations' column expectations evaluated as DuckDB SQL, with GE's own result shape.

A suite stays a Great Expectations suite (quality_checks/expectations/<table>.yaml); this module evaluates
the expectation types listed in SQL_TYPES with one SQL file each (quality_checks/sql/expectations/) over a
range of daily partitions at once, and hands back per partition exactly what GE's pandas engine returns for
the same batch: an `ExpectationValidationResult` whose `result` GE's own formatter built from the counts
(element_count, unexpected_count, unexpected_percent, partial_unexpected_list, missing_count, ...,
partial_unexpected_counts, partial_unexpected_index_list). An expectation whose type, column type or
arguments this module does not cover is reported by `sql_plan` as None and runs on GE itself.

Identifiers come from the suite and are quoted; values (value sets, bounds, regexes, flags) are bound
parameters. Regexes are Python's (GE's pandas engine uses `str.contains`): they are translated to RE2 with
the same meaning (Unicode classes, `$` before a final newline), and a pattern that cannot be translated
faithfully runs on GE.
"""

import contextlib
import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from lastmile.warehouse import PARAM, sql_text

PKG = "quality_checks"
PARTIAL = 20  # GE's SUMMARY result format: partial_unexpected_count
NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
           "FLOAT", "DOUBLE", "DECIMAL")  # fmt: skip
FLOATS = ("FLOAT", "DOUBLE")
TIMES = ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE")
SQL_TYPES = (
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_unique",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_not_be_in_set",
    "expect_column_values_to_match_regex",
    "expect_column_values_to_not_match_regex",
    "expect_column_values_to_be_between",
    "expect_column_pair_values_a_to_be_greater_than_b",
)
# GE options this module honours; any other option set on an expectation (row_condition, result_format,
# catch_exceptions, meta ...) sends it to GE itself.
_COMMON = {"column", "mostly", "id", "notes", "description", "meta", "rendered_content", "severity",
           "windows", "batch_id"}  # fmt: skip
_OPTIONS = {
    "expect_column_values_to_be_in_set": {"value_set"},
    "expect_column_values_to_not_be_in_set": {"value_set"},
    "expect_column_values_to_match_regex": {"regex"},
    "expect_column_values_to_not_match_regex": {"regex"},
    "expect_column_values_to_be_between": {"min_value", "max_value", "strict_min", "strict_max"},
    "expect_column_pair_values_a_to_be_greater_than_b": {"column_A", "column_B", "or_equal", "ignore_row_if"},
}


@dataclass(frozen=True)
class SqlExpectation:
    """One expectation as a filled SQL file plus its bound parameters."""

    kind: str
    flags_sql: str  # the type's SELECT over `batch`, identifiers filled in
    params: dict[str, Any] = field(default_factory=dict)
    counts_missing: bool = True  # False for not_be_null: GE reports no missing_* keys for it
    kinds: tuple[str, ...] = ("other",)  # per column: 'number', 'time' or 'other' (how pandas holds its values)
    mostly: float = 1.0


def quote(identifier: str) -> str:
    """A DuckDB identifier, quoted (embedded quotes doubled) so any column name from a suite is safe."""
    return '"' + identifier.replace('"', '""') + '"'


def column_types(conn: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """The table's columns and types, as a query of `table` resolves it: a temporary table (the copy a
    whole-table suite validates) before one of the warehouse."""
    rows = conn.execute(
        "SELECT table_catalog, column_name, data_type FROM information_schema.columns"
        " WHERE table_name = ? AND table_catalog IN ('temp', current_database()) AND table_schema = 'main'"
        " ORDER BY ordinal_position",
        [table],
    ).fetchall()
    catalogs = {str(catalog) for catalog, _, _ in rows}
    chosen = "temp" if "temp" in catalogs else next(iter(catalogs), None)
    return {name: str(kind).upper() for catalog, name, kind in rows if catalog == chosen}


# ------------------------------------------------------------------------------------------------ regex

_WS = r"\t-\r\x{1c}-\x{1f}\x{85}\p{Z}"  # Python's str.isspace() set, as RE2 class items
_WORD = r"\p{L}\p{N}_"
_OUTSIDE = {"d": r"\p{Nd}", "D": r"\P{Nd}", "w": f"[{_WORD}]", "W": f"[^{_WORD}]", "s": f"[{_WS}]",
            "S": f"[^{_WS}]", "Z": r"\z"}  # fmt: skip
_INSIDE = {"d": r"\p{Nd}", "w": _WORD, "s": _WS}
_UNSAFE = set("bB123456789gN")  # word boundaries and back-references differ or do not exist in RE2


def python_regex_to_re2(pattern: str) -> str | None:
    """RE2 text with the meaning `re.search(pattern, text)` has on str values, or None when not faithful."""
    try:
        re.compile(pattern)
    except re.error:
        return None
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                return None
            e = pattern[i + 1]
            if e in _UNSAFE or e in "uUN":
                return None
            if in_class:
                if e in "DWS":
                    return None
                out.append(_INSIDE.get(e, "\\" + e))
            else:
                out.append(_OUTSIDE.get(e, "\\" + e))
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
            elif c == "[" and i + 1 < n and pattern[i + 1] in ":=.":
                return None  # a POSIX-looking class: a literal in Python, a class in RE2
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":  # a leading ']' is a literal in Python
                out.append(r"\]")
                i += 1
            continue
        if c == "(" and pattern.startswith("(?", i) and not pattern.startswith(("(?:", "(?P<"), i):
            return None  # inline flags, look-around, atomic groups, conditionals: leave them to Python
        if c == "$":
            out.append(r"(?:\n?\z)")  # Python's `$` also matches before a final newline
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _re2_compiles(conn: duckdb.DuckDBPyConnection, pattern: str) -> bool:
    try:
        conn.execute("SELECT regexp_matches('', $regex)", {"regex": pattern}).fetchall()
    except duckdb.Error:
        return False
    return True


# ------------------------------------------------------------------------------------------------- plan


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _fill(kind: str, columns: dict[str, str], types: dict[str, str]) -> str:
    """The type's SQL file with its identifier placeholders filled by quoted names."""
    text = sql_text(PKG, f"sql/expectations/{kind}.sql").strip().rstrip(";")
    for placeholder, column in columns.items():
        quoted = quote(column)
        base = types[column].split("(")[0]
        missing = f"({quoted} IS NULL OR isnan({quoted}))" if base in FLOATS else f"({quoted} IS NULL)"
        suffix = "" if placeholder == "col" else f"_{placeholder}"
        text = text.replace(f"{{missing{suffix}}}", missing).replace(f"{{{placeholder}}}", quoted)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))


def arguments(kind: str, kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """The arguments of a SQL-evaluated expectation with GE's defaults filled in, or None when the entry
    uses an option this module does not honour (it then runs on GE). Raises ValueError, in GE's terms,
    for an argument GE would reject."""
    if kind not in SQL_TYPES or set(kwargs) - _COMMON - _OPTIONS.get(kind, set()):
        return None
    args = dict(kwargs)
    mostly = args.setdefault("mostly", 1)
    if not _is_number(mostly) or not 0 <= mostly <= 1:
        raise ValueError("mostly must be a number between 0 and 1")
    names = ("column_A", "column_B") if kind.startswith("expect_column_pair") else ("column",)
    for name in names:
        if not isinstance(args.get(name), str) or not args[name]:
            raise ValueError(f"{name}: field required (a column name)")
    if "value_set" in _OPTIONS.get(kind, ()) and not isinstance(args.get("value_set"), list):
        raise ValueError("value_set: field required (a list of values)")
    if "regex" in _OPTIONS.get(kind, ()):
        if not isinstance(args.get("regex"), str):
            raise ValueError("regex: field required (a regular expression)")
        try:
            re.compile(args["regex"])
        except re.error as exc:
            raise ValueError(f"regex: {exc}") from None
    if kind == "expect_column_values_to_be_between":
        args.setdefault("min_value", None)
        args.setdefault("max_value", None)
        args["strict_min"] = bool(args.get("strict_min") or False)
        args["strict_max"] = bool(args.get("strict_max") or False)
        if args["min_value"] is None and args["max_value"] is None:
            raise ValueError("min_value and max_value cannot both be None")
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        args["or_equal"] = bool(args.get("or_equal") or False)
        args.setdefault("ignore_row_if", "both_values_are_missing")
        if args["ignore_row_if"] not in ("both_values_are_missing", "either_value_is_missing", "neither"):
            raise ValueError("ignore_row_if must be both_values_are_missing, either_value_is_missing or neither")
    return args


def sql_plan(
    conn: duckdb.DuckDBPyConnection, kind: str, kwargs: dict[str, Any], types: dict[str, str]
) -> SqlExpectation | None:
    """How to evaluate one suite entry in SQL, or None when Great Expectations itself must run it."""
    try:
        args = arguments(kind, kwargs)
    except ValueError:
        return None  # GE reports the bad argument in its own words
    if args is None:
        return None
    base = {name: types[name].split("(")[0] for name in types}
    mostly = float(args["mostly"])
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = args["column_A"], args["column_B"]
        if a not in types or b not in types or not {base[a], base[b]} <= {*NUMERIC, *TIMES}:
            return None
        if (base[a] in NUMERIC) != (base[b] in NUMERIC):
            return None
        params = {"or_equal": args["or_equal"], "ignore_row_if": args["ignore_row_if"]}
        kinds = tuple("number" if base[c] in NUMERIC else "time" for c in (a, b))
        return SqlExpectation(kind, _fill(kind, {"a": a, "b": b}, types), params, kinds=kinds, mostly=mostly)
    column = args["column"]
    if column not in types:
        return None  # GE reports the missing column in its own words
    col_type = base[column]
    params = {}
    if kind in ("expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set"):
        values = args["value_set"]
        if col_type != "VARCHAR" or not values or not all(isinstance(v, str) for v in values):
            return None
        params["value_set"] = sorted(set(values))
    elif kind in ("expect_column_values_to_match_regex", "expect_column_values_to_not_match_regex"):
        translated = python_regex_to_re2(args["regex"]) if col_type == "VARCHAR" else None
        if translated is None or not _re2_compiles(conn, translated):
            return None
        params["regex"] = translated
    elif kind == "expect_column_values_to_be_between":
        low, high = args["min_value"], args["max_value"]
        if col_type not in NUMERIC or any(v is not None and not _is_number(v) for v in (low, high)):
            return None
        if low is not None and high is not None and low > high:
            return None  # GE raises; let it say so
        params.update(min_value=None if low is None else float(low), max_value=None if high is None else float(high),
                      strict_min=args["strict_min"], strict_max=args["strict_max"])  # fmt: skip
    return SqlExpectation(kind, _fill(kind, {"col": column}, types), params,
                          counts_missing=kind != "expect_column_values_to_not_be_null",
                          kinds=("number" if col_type in NUMERIC else "other",), mostly=mostly)  # fmt: skip


# ------------------------------------------------------------------------------------------------- run


@dataclass
class DayCounts:
    element_count: int
    missing_count: int
    unexpected_count: int
    sample: list[tuple[int, Any]] = field(default_factory=list)  # (index in the batch, value), first PARTIAL


def _wrapped(wrapper: str, table: str, plan: SqlExpectation) -> str:
    text = sql_text(PKG, f"sql/expectations/{wrapper}").replace("{table}", quote(table))
    return text.replace("/* expectation */", plan.flags_sql)


def _execute(conn: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    used = {k: params[k] for k in dict.fromkeys(PARAM.findall(sql))}
    return conn.execute(sql, used or None).fetchall()


def _pair_item(value: Any, kind: str) -> Any:
    import numpy as np

    if kind == "number":
        return float("nan") if value is None else float(value)
    if value is None:
        return np.datetime64("NaT", "us")
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return np.datetime64(value, "us")


def _value(value: Any, kinds: tuple[str, ...]) -> Any:
    """A value as GE's pandas engine lists it: a null of a numeric column is a NaN of its own (so GE's
    partial_unexpected_counts counts each separately, as on pandas); a pair is a tuple of numpy values."""
    if isinstance(value, dict):  # a column pair: GE lists (A, B)
        return tuple(_pair_item(v, k) for v, k in zip(value.values(), kinds, strict=True))
    return float("nan") if value is None and kinds[0] == "number" else value


def partition_sizes(conn: duckdb.DuckDBPyConnection, table: str, start: dt.date, end: dt.date) -> dict[dt.date, int]:
    text = sql_text(PKG, "sql/expectations/partition_sizes.sql").replace("{table}", quote(table))
    return {day: int(n) for day, n in conn.execute(text, {"start": start, "end": end}).fetchall()}


def evaluate_counts(
    conn: duckdb.DuckDBPyConnection, table: str, plan: SqlExpectation, start: dt.date, end: dt.date
) -> dict[dt.date, DayCounts]:
    """Counts per partition in [start, end] (one scan), plus the first unexpected rows where there are any."""
    params = {**plan.params, "start": start, "end": end}
    days = {
        day: DayCounts(int(total), int(missing), int(unexpected))
        for day, total, missing, unexpected in _execute(conn, _wrapped("counts.sql", table, plan), params)
    }
    failing = [day for day, c in days.items() if c.unexpected_count]
    if failing:
        params = {**plan.params, "days": failing, "limit": PARTIAL}
        for day, index, value in _execute(conn, _wrapped("sample.sql", table, plan), params):
            days[day].sample.append((int(index), _value(value, plan.kinds)))
    return days


@dataclass(frozen=True)
class ExpectationResult:
    """One expectation's result on one batch, field for field GE's ExpectationValidationResult
    (`to_great_expectations()` builds that object; importing GE costs seconds, so it is done on demand)."""

    success: bool
    expectation_type: str
    kwargs: dict[str, Any]
    result: dict[str, Any]
    exception_info: dict[str, Any] = field(
        default_factory=lambda: {"raised_exception": False, "exception_traceback": None, "exception_message": None}
    )

    def to_great_expectations(self) -> Any:
        from great_expectations.core import ExpectationValidationResult
        from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

        return ExpectationValidationResult(
            success=self.success, result=self.result, exception_info=self.exception_info,
            expectation_config=ExpectationConfiguration(type=self.expectation_type, kwargs=self.kwargs),
        )  # fmt: skip


@dataclass(frozen=True)
class SuiteResult:
    """One suite's results on one batch, field for field GE's ExpectationSuiteValidationResult."""

    success: bool
    results: list[Any]  # ExpectationResult, or GE's own ExpectationValidationResult for GE-run entries
    suite_name: str
    statistics: dict[str, Any]

    def to_great_expectations(self) -> Any:
        from great_expectations.core import ExpectationSuiteValidationResult

        results = [r.to_great_expectations() if isinstance(r, ExpectationResult) else r for r in self.results]
        return ExpectationSuiteValidationResult(success=self.success, results=results, suite_name=self.suite_name,
                                                statistics=self.statistics)  # fmt: skip


def summary_output(
    element_count: int, nonnull_count: int | None, unexpected_count: int, sample: list[tuple[int, Any]]
) -> dict[str, Any]:
    """GE's SUMMARY result of a map expectation (great_expectations.expectations.expectation._format_map_output
    with result_format SUMMARY), from the counts and the first unexpected (index, value) pairs."""
    values = [value for _, value in sample][:PARTIAL]
    missing = None if nonnull_count is None else element_count - nonnull_count
    percent_total = unexpected_count / element_count * 100 if element_count > 0 else None
    missing_percent = percent_nonmissing = None
    if element_count > 0:
        if missing is not None:
            missing_percent = missing / element_count * 100
            percent_nonmissing = unexpected_count / nonnull_count * 100 if nonnull_count else None
        else:
            percent_nonmissing = percent_total
    out: dict[str, Any] = {"element_count": element_count, "unexpected_count": unexpected_count,
                           "unexpected_percent": percent_nonmissing, "partial_unexpected_list": values}  # fmt: skip
    if missing is not None:
        out.update(missing_count=missing, missing_percent=missing_percent, unexpected_percent_total=percent_total,
                   unexpected_percent_nonmissing=percent_nonmissing)  # fmt: skip
    with contextlib.suppress(TypeError):  # GE leaves the counts out when the values cannot be ordered
        out["partial_unexpected_counts"] = [
            {"value": key, "count": n}
            for key, n in sorted(Counter(values).most_common(PARTIAL), key=lambda x: (-x[1], x[0]))
        ]
    out["partial_unexpected_index_list"] = [index for index, _ in sample][:PARTIAL]
    return out


def map_result(kind: str, kwargs: dict[str, Any], plan: SqlExpectation, counts: DayCounts) -> ExpectationResult:
    """The result GE's pandas engine gives for this expectation on one partition (same success rule)."""
    total = counts.element_count
    considered = total - counts.missing_count
    if not plan.counts_missing:
        success = True if total == 0 else (total - counts.unexpected_count) / total >= plan.mostly
    elif total == 0 or considered == 0:
        success = True
    else:
        success = (considered - counts.unexpected_count) / considered >= plan.mostly
    result = summary_output(total, considered if plan.counts_missing else None, counts.unexpected_count, counts.sample)
    return ExpectationResult(success, kind, dict(kwargs), result)


def plain(value: Any) -> Any:
    """A JSON-friendly form of a value GE lists (numpy scalars, pandas timestamps, NaN/NaT as None)."""
    if value is None:
        return None
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if type(value).__name__ == "NaTType":
        return None
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    elif hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC)
    return value


def plain_result(result: dict[str, Any] | None) -> dict[str, Any]:
    """A GE result dict with every listed value in `plain` form (to store, or to compare two engines)."""
    out = dict(result or {})
    if "partial_unexpected_list" in out:
        out["partial_unexpected_list"] = [plain(v) for v in out["partial_unexpected_list"]]
    if "partial_unexpected_counts" in out:
        out["partial_unexpected_counts"] = [
            {**c, "value": plain(c["value"])} if "value" in c else c for c in out["partial_unexpected_counts"]
        ]
    return out


def table_sql_plans(
    conn: duckdb.DuckDBPyConnection, table: str, expectations: Sequence[tuple[str, dict[str, Any]]]
) -> list[SqlExpectation | None]:
    types = column_types(conn, table)
    return [sql_plan(conn, kind, kwargs, types) for kind, kwargs in expectations]
