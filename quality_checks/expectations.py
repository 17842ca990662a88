"""Great Expectations suites: one editable YAML file per published table, run per daily partition (the
tables kept whole, consents and templates: the whole table as one batch, dated as_of's day).

The suites are declarative table contracts (columns, value sets, ranges, keys) that users can read and
change without touching code, written with Great Expectations' own expectation names and arguments. The
expectation types of expectation_sql.SQL_TYPES run as DuckDB SQL generated from the suite, over all the
run's days at once, with GE's result shape and success rule; any other entry runs on GE's pandas engine
(GE 1.x cannot run SQL expectations on DuckDB; see DESIGN.md), one partition at a time. Results land in the
same history as the SQL checks: one `dq_check_runs` row per suite and partition (check_id
`expectations.<table>`, evaluated = expectations run, failed = expectations that failed) and one
`dq_findings` row per failed expectation (entity `expectation`, id `<type>:<column>`).
"""

import datetime as dt
import json
import logging
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import yaml

from lastmile.errors import LastmileError
from lastmile.warehouse import committed, run_sql
from quality_checks.expectation_sql import (
    ExpectationResult,
    SuiteResult,
    arguments,
    evaluate_counts,
    map_result,
    partition_sizes,
    plain_result,
    table_sql_plans,
)
from quality_checks.runner import PKG, ensure_schema

# Published daily: each suite validates the run's days, one partition at a time.
DAILY_SUITE_TABLES = ("orders", "events", "proofs", "messages")
# Kept whole (CONTRACT §8: an old consent still decides; the template registry is one table): the suite
# validates the whole table at as_of as one batch, recorded on as_of's day like the template.* checks.
WHOLE_SUITE_TABLES = ("consents", "templates")
SUITE_TABLES = DAILY_SUITE_TABLES + WHOLE_SUITE_TABLES


@dataclass(frozen=True)
class Suite:
    table: str
    severity: str
    expectations: tuple[tuple[str, dict[str, Any]], ...]  # (snake_case type, kwargs)
    source: str

    @property
    def check_id(self) -> str:
        return f"expectations.{self.table}"

    @property
    def whole(self) -> bool:
        return self.table in WHOLE_SUITE_TABLES


LOG = logging.getLogger("quality_checks.expectations")


@contextmanager
def _quiet() -> Iterator[None]:
    """Warnings raised inside Great Expectations go to the log, not to the user's terminal.

    GE 1.24 calls pandas APIs that pandas 3 deprecates (pandas.errors.Pandas4Warning, a DeprecationWarning)
    and imports deprecated stdlib modules: those are GE's to fix and say nothing about the data, so they are
    dropped. Any other warning (pandas' "pattern has match groups" for a regex with groups, ...) is written
    to this module's logger (the `lastmile` command logs to LASTMILE_HOME/logs/lastmile.log)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        yield
    for w in caught:
        LOG.warning("%s: %s (%s:%s)", w.category.__name__, w.message, w.filename, w.lineno)


def _gx() -> Any:
    """Great Expectations, imported quietly: GE 1.24 imports deprecated stdlib modules (sre_constants,
    sre_parse) and would otherwise report to an analytics service, which this machine must never call."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    with _quiet():
        import great_expectations as gx
    return gx


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def suite_path(table: str, folder: Path | None = None) -> Path:
    if folder is not None:
        return folder / f"{table}.yaml"
    return Path(str(resources.files(PKG).joinpath("expectations", f"{table}.yaml")))


def load_suite(path: Path) -> Suite:
    """Read and validate one suite file; a malformed file is a one-line error naming the file and entry."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LastmileError(f"expectation suite {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise LastmileError(f"expectation suite {path}{where}: not valid YAML") from None
    if not isinstance(doc, dict) or doc.get("table") not in SUITE_TABLES:
        raise LastmileError(f"expectation suite {path}: needs `table:` one of {', '.join(SUITE_TABLES)}")
    severity = doc.get("severity", "error")
    if severity not in ("warn", "error"):
        raise LastmileError(f"expectation suite {path}: severity must be warn or error, not {severity!r}")
    entries = []
    for i, entry in enumerate(doc.get("expectations") or [], start=1):
        if not isinstance(entry, dict) or len(entry) != 1:
            raise LastmileError(f"expectation suite {path}: entry {i} must be `- <expectation type>: {{arguments}}`")
        ((kind, kwargs),) = entry.items()
        if not isinstance(kwargs, dict):
            raise LastmileError(f"expectation suite {path}: entry {i}: arguments of {kind} must be a mapping")
        try:
            # the SQL-evaluated types are checked here; any other entry by GE itself (importing GE takes seconds)
            checked = arguments(str(kind), dict(kwargs))
        except ValueError as exc:
            raise LastmileError(f"expectation suite {path}: entry {i} ({kind}): {exc}") from None
        if checked is None:
            gx = _gx()
            if not re.fullmatch(r"expect_[a-z0-9_]+", str(kind)) or not hasattr(gx.expectations, _camel(str(kind))):
                raise LastmileError(f"expectation suite {path}: entry {i}: unknown expectation {kind!r}")
            try:
                with _quiet():
                    getattr(gx.expectations, _camel(str(kind)))(**kwargs)
            except Exception as exc:  # GE raises pydantic errors of its own for bad arguments
                first = str(exc).strip().splitlines()[0]
                raise LastmileError(f"expectation suite {path}: entry {i} ({kind}): {first}") from None
        entries.append((str(kind), dict(kwargs)))
    return Suite(doc["table"], severity, tuple(entries), str(path))


def _gx_context() -> Any:
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def _entity(kind: str, kwargs: dict[str, Any]) -> str:
    column = kwargs.get("column") or "|".join(str(kwargs[k]) for k in ("column_A", "column_B") if k in kwargs)
    return f"{kind}:{column}" if column else kind


def validate_suite(conn: duckdb.DuckDBPyConnection, suite: Suite, days: list[dt.date]) -> dict[dt.date, SuiteResult]:
    """The suite's result (GE's ExpectationSuiteValidationResult shape) for each day of `days` whose partition
    holds rows. A suite of a table kept whole takes one day and validates the whole table as that day's batch.

    Expectation types of expectation_sql.SQL_TYPES run as DuckDB SQL over the whole day range at once (one
    scan per expectation, GE is not even imported); any other expectation runs on Great Expectations'
    pandas engine, one partition at a time, with the partition's rows in table order (so row indexes agree
    between the two)."""
    if not days:
        return {}
    wanted = set(days)
    start, end = min(days), max(days)
    source = suite.table
    if suite.whole:
        # the whole table as one batch dated `days[0]` (a temp copy in table order; the suite names one day)
        if len(days) != 1:
            raise LastmileError(f"{suite.check_id} validates the whole table on one day, not {len(days)}")
        source = f"_suite_{suite.table}"
        run_sql(conn, PKG, f"sql/whole_{suite.table}.sql", {"day": days[0]})
    plans = table_sql_plans(conn, source, list(suite.expectations))
    rows = partition_sizes(conn, source, start, end)
    present = sorted(d for d in rows if d in wanted and rows[d])
    per_day: dict[dt.date, list[Any]] = {day: [None] * len(plans) for day in present}
    for i, plan in enumerate(plans):
        if plan is None:
            continue
        kind, kwargs = suite.expectations[i]
        counts = evaluate_counts(conn, source, plan, start, end)
        for day in present:
            per_day[day][i] = map_result(kind, kwargs, plan, counts[day])
    fallback = [i for i, plan in enumerate(plans) if plan is None]
    if fallback and present:
        gx = _gx()
        with _quiet():
            context = _gx_context()
            asset = context.data_sources.add_pandas("warehouse").add_dataframe_asset(suite.table)
            batch_definition = asset.add_batch_definition_whole_dataframe("partition")
            gx_suite = gx.ExpectationSuite(name=suite.check_id)
            for i in fallback:
                gx_suite.add_expectation(getattr(gx.expectations, _camel(suite.expectations[i][0]))(
                    **suite.expectations[i][1]))  # fmt: skip
        for day in present:
            # via Arrow: DuckDB 1.4's own .df() calls a pandas API that pandas 3.1 deprecates
            if suite.whole:
                frame = conn.execute(
                    f"SELECT * EXCLUDE (partition_date) FROM {source} ORDER BY rowid"
                ).fetch_arrow_table()
            else:
                frame = run_sql(conn, PKG, f"sql/partition_{suite.table}.sql", {"day": day}).fetch_arrow_table()
            with _quiet():
                result = batch_definition.get_batch(batch_parameters={"dataframe": frame.to_pandas()}).validate(
                    gx_suite)  # fmt: skip
            for i, r in zip(fallback, result.results, strict=True):
                per_day[day][i] = r
    if suite.whole:
        conn.execute(f"DROP TABLE IF EXISTS {source}")
    out = {}
    for day, results in per_day.items():
        passed = sum(1 for r in results if r.success)
        out[day] = SuiteResult(
            success=passed == len(results), results=results, suite_name=suite.check_id,
            statistics={"evaluated_expectations": len(results), "successful_expectations": passed,
                        "unsuccessful_expectations": len(results) - passed,
                        "success_percent": 100 * passed / len(results) if results else None},
        )  # fmt: skip
    return out


def _type_and_kwargs(result: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(result, ExpectationResult):
        return result.expectation_type, result.kwargs
    return result.expectation_config.type, dict(result.expectation_config.kwargs)


def run_suite(
    conn: duckdb.DuckDBPyConnection, suite: Suite, days: list[dt.date], *, run_id: str, now: dt.datetime
) -> tuple[int, int]:
    """Validate each day's partition of the suite's table; record history and findings. (evaluated, failed)."""
    ensure_schema(conn)
    rows: list[dict[str, Any]] = []
    for day, result in sorted(validate_suite(conn, suite, days).items()):
        for r in result.results:
            detail = plain_result(r.result)
            rows.append({
                "entity_id": _entity(*_type_and_kwargs(r)), "order_id": None, "partition_date": day,
                "failed": not r.success,
                "observed": json.dumps({
                    "element_count": detail.get("element_count"), "unexpected_count": detail.get("unexpected_count"),
                    "unexpected_percent": detail.get("unexpected_percent"),
                    "partial_unexpected_list": (detail.get("partial_unexpected_list") or [])[:10],
                    "exception": (r.exception_info or {}).get("exception_message") if not r.success else None,
                }, default=str),
            })  # fmt: skip
    schema = pa.schema([("entity_id", pa.string()), ("order_id", pa.string()), ("partition_date", pa.date32()),
                        ("failed", pa.bool_()), ("observed", pa.string())])  # fmt: skip
    table = pa.Table.from_pylist(rows, schema=schema)
    for unit in committed(conn):
        with unit:
            conn.register("_eval_rows", table)
            conn.execute("CREATE OR REPLACE TEMP TABLE _eval AS SELECT * FROM _eval_rows")
            conn.unregister("_eval_rows")
            run_sql(conn, PKG, "sql/record.sql", {
                "check_id": suite.check_id, "severity": suite.severity, "entity_kind": "expectation", "dates": days,
                "run_id": run_id, "now": now, "started_at": now, "as_of": None,
            })  # fmt: skip
            conn.execute("DROP TABLE _eval")
    return len(rows), sum(1 for r in rows if r["failed"])
