"""The SQL path of the expectation suites gives Great Expectations' own pandas result on the same data."""

import datetime as dt

import duckdb
import pytest

from quality_checks.expectation_sql import (
    SQL_TYPES,
    column_types,
    evaluate_counts,
    map_result,
    plain_result,
    python_regex_to_re2,
    sql_plan,
)
from quality_checks.expectations import Suite, _camel, _gx, _gx_context, _quiet, validate_suite

DAYS = (dt.date(2026, 10, 5), dt.date(2026, 10, 6))
T = dt.datetime(2026, 10, 5, 8, tzinfo=dt.UTC)
NAN = float("nan")
# (s VARCHAR, x DOUBLE, n BIGINT, i BIGINT, t0 TIMESTAMPTZ, t1 TIMESTAMPTZ) per day; nulls, NaN, duplicates,
# Unicode spaces and digits, trailing newlines, boundary values.
ROWS = {
    DAYS[0]: [
        ("a", 0.0, 1, 1, T, T + dt.timedelta(hours=1)),
        ("b", 10.0, 2, 5, T, T),
        ("bxy", None, None, 3, T, None),
        ("b x", NAN, 2, 2, None, None),
        ("b\u00a0x", -0.5, 7, 7, T + dt.timedelta(hours=2), T),
        ("x\n", 10.5, 2, 1, None, T),
        ("\u0663\u0664", 5.0, None, 4, T, T + dt.timedelta(minutes=1)),
        ("a\nb", 3.0, 9, 9, T, T),
        (None, 1.0, 10, 0, T, T + dt.timedelta(days=1)),
        ("", None, 10, 11, T, T - dt.timedelta(seconds=1)),
        ("a_\u00e9", NAN, 3, 3, T, T),
        ("a", 2.0, 4, 8, T, T),
        (None, 3.0, 5, 5, T, T),
    ],
    DAYS[1]: [
        ("a", 1.0, 1, 0, T, T + dt.timedelta(hours=1)),
        ("b", 2.0, 2, 1, T, T + dt.timedelta(hours=1)),
        ("c", 3.0, 3, 2, T, T + dt.timedelta(hours=1)),
    ],
}

CASES = [
    ("expect_column_values_to_not_be_null", {"column": "s"}),
    ("expect_column_values_to_not_be_null", {"column": "x"}),
    ("expect_column_values_to_not_be_null", {"column": "n", "mostly": 0.8}),
    ("expect_column_values_to_not_be_null", {"column": "t1"}),
    ("expect_column_values_to_be_unique", {"column": "s"}),
    ("expect_column_values_to_be_unique", {"column": "n"}),
    ("expect_column_values_to_be_unique", {"column": "x", "mostly": 0.5}),
    ("expect_column_values_to_be_in_set", {"column": "s", "value_set": ["a", "b", ""]}),
    ("expect_column_values_to_be_in_set", {"column": "s", "value_set": ["a", "b", "c", "bxy"], "mostly": 0.3}),
    ("expect_column_values_to_not_be_in_set", {"column": "s", "value_set": ["a", "x\n"]}),
    ("expect_column_values_to_match_regex", {"column": "s", "regex": r"^(a|b\S+)$"}),
    ("expect_column_values_to_match_regex", {"column": "s", "regex": r"^\w+$"}),
    ("expect_column_values_to_match_regex", {"column": "s", "regex": r"\d"}),
    ("expect_column_values_to_match_regex", {"column": "s", "regex": r"^x$"}),
    ("expect_column_values_to_match_regex", {"column": "s", "regex": r"^a.b$"}),
    ("expect_column_values_to_match_regex", {"column": "s", "regex": r"[^\s]{3}", "mostly": 0.4}),
    ("expect_column_values_to_match_regex", {"column": "s", "regex": r"^[]a]\Z"}),
    ("expect_column_values_to_not_match_regex", {"column": "s", "regex": r"\s"}),
    ("expect_column_values_to_not_match_regex", {"column": "s", "regex": r"(?P<first>a)|^$"}),
    ("expect_column_values_to_be_between", {"column": "x", "min_value": 0, "max_value": 10}),
    ("expect_column_values_to_be_between", {"column": "x", "min_value": 0, "max_value": 10, "strict_min": True}),
    ("expect_column_values_to_be_between", {"column": "x", "min_value": 0, "max_value": 10, "strict_max": True}),
    ("expect_column_values_to_be_between",
     {"column": "x", "min_value": 0, "max_value": 10, "strict_min": True, "strict_max": True}),
    ("expect_column_values_to_be_between", {"column": "x", "min_value": 2.5}),
    ("expect_column_values_to_be_between", {"column": "n", "max_value": 5, "strict_max": True, "mostly": 0.5}),
    ("expect_column_values_to_be_between", {"column": "i", "min_value": 1, "max_value": 9}),
    ("expect_column_pair_values_a_to_be_greater_than_b", {"column_A": "t1", "column_B": "t0"}),
    ("expect_column_pair_values_a_to_be_greater_than_b",
     {"column_A": "t1", "column_B": "t0", "ignore_row_if": "either_value_is_missing"}),
    ("expect_column_pair_values_a_to_be_greater_than_b",
     {"column_A": "t1", "column_B": "t0", "ignore_row_if": "neither", "or_equal": True}),
    ("expect_column_pair_values_a_to_be_greater_than_b", {"column_A": "n", "column_B": "i", "or_equal": True}),
    ("expect_column_pair_values_a_to_be_greater_than_b",
     {"column_A": "n", "column_B": "i", "ignore_row_if": "neither", "mostly": 0.2}),
]  # fmt: skip


@pytest.fixture(scope="module")
def conn(tmp_path_factory):  # type: ignore[no-untyped-def]
    db = duckdb.connect(str(tmp_path_factory.mktemp("sqlge") / "t.duckdb"))
    db.execute("SET TimeZone = 'UTC'")
    db.execute("CREATE TABLE events (partition_date DATE, s VARCHAR, x DOUBLE, n BIGINT, i BIGINT, "
               "t0 TIMESTAMPTZ, t1 TIMESTAMPTZ)")  # fmt: skip
    # interleave the days, so that a row's position in its partition differs from its position in the table
    longest = max(len(r) for r in ROWS.values())
    rows = [(day, *ROWS[day][k]) for k in range(longest) for day in DAYS if k < len(ROWS[day])]
    db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    yield db
    db.close()


def ge_pandas(conn, day: dt.date, kind: str, kwargs: dict) -> object:  # type: ignore[no-untyped-def]
    gx = _gx()
    with _quiet():
        context = _gx_context()
        batch = context.data_sources.add_pandas("p").add_dataframe_asset("t").add_batch_definition_whole_dataframe("b")
        suite = gx.ExpectationSuite(name="s")
        suite.add_expectation(getattr(gx.expectations, _camel(kind))(**kwargs))
        frame = conn.execute("SELECT * FROM events WHERE partition_date = ? ORDER BY rowid", [day]).arrow().read_all()
        return batch.get_batch(batch_parameters={"dataframe": frame.to_pandas()}).validate(suite).results[0]


def canonical(result: dict) -> dict:
    """A GE result dict in comparable form: NaN/None/NaT alike, timestamps as UTC instants, pairs as lists."""
    return plain_result(result)


def test_every_sql_type_is_covered() -> None:
    assert {kind for kind, _ in CASES} == set(SQL_TYPES)


@pytest.mark.parametrize(("kind", "kwargs"), CASES, ids=[f"{k[7:]}-{i}" for i, (k, _) in enumerate(CASES)])
def test_sql_result_equals_great_expectations_pandas(conn, kind, kwargs) -> None:  # type: ignore[no-untyped-def]
    plan = sql_plan(conn, kind, kwargs, column_types(conn, "events"))
    assert plan is not None, "this case must run on the SQL path"
    counts = evaluate_counts(conn, "events", plan, DAYS[0], DAYS[1])
    for day in DAYS:
        ours = map_result(kind, kwargs, plan, counts[day]).to_great_expectations()
        theirs = ge_pandas(conn, day, kind, kwargs)
        assert not theirs.exception_info.get("raised_exception"), theirs.exception_info
        assert ours.success == theirs.success, (day, ours.result, theirs.result)
        assert canonical(ours.result) == canonical(theirs.result), day
        assert ours.expectation_config.type == theirs.expectation_config.type == kind
        assert set(ours.result) >= {
            "element_count",
            "unexpected_count",
            "unexpected_percent",
            "partial_unexpected_list",
        }
    # the cases are not all trivial: the first day breaks most rules
    assert any(counts[d].unexpected_count for d in DAYS) or kind == "expect_column_values_to_be_in_set"


def test_results_hold_more_than_twenty_unexpected_rows_as_ge_does(tmp_path) -> None:
    db = duckdb.connect(str(tmp_path / "big.duckdb"))
    db.execute("CREATE TABLE events AS SELECT DATE '2026-10-05' AS partition_date, "
               "CASE WHEN i % 3 = 0 THEN NULL ELSE 'v' || (i % 7) END AS s FROM range(100) AS r(i)")  # fmt: skip
    for kind, kwargs in [("expect_column_values_to_not_be_null", {"column": "s"}),
                         ("expect_column_values_to_be_in_set", {"column": "s", "value_set": ["v1"]})]:  # fmt: skip
        plan = sql_plan(db, kind, kwargs, column_types(db, "events"))
        assert plan is not None
        ours = map_result(kind, kwargs, plan, evaluate_counts(db, "events", plan, DAYS[0], DAYS[0])[DAYS[0]])
        theirs = ge_pandas(db, DAYS[0], kind, kwargs)
        assert len(ours.result["partial_unexpected_list"]) == 20
        assert canonical(ours.result) == canonical(theirs.result)


@pytest.mark.parametrize(
    ("kind", "kwargs"),
    [
        ("expect_column_value_lengths_to_be_between", {"column": "s", "min_value": 1, "max_value": 2}),
        ("expect_column_values_to_match_regex", {"column": "s", "regex": r"\bb"}),  # \b differs in RE2
        ("expect_column_values_to_match_regex", {"column": "s", "regex": r"^(?=a)"}),  # look-ahead
        ("expect_column_values_to_be_between", {"column": "t0", "min_value": T, "max_value": T}),
        ("expect_column_values_to_be_in_set", {"column": "n", "value_set": [1, 2]}),
        ("expect_column_values_to_not_be_null", {"column": "no_such_column"}),
        ("expect_column_values_to_not_be_null", {"column": "s", "result_format": "COMPLETE"}),
    ],
)
def test_other_expectations_run_on_great_expectations(conn, kind, kwargs) -> None:  # type: ignore[no-untyped-def]
    assert sql_plan(conn, kind, kwargs, column_types(conn, "events")) is None
    suite = Suite("events", "error", (("expect_column_values_to_not_be_null", {"column": "s"}), (kind, kwargs)), "-")
    results = validate_suite(conn, suite, list(DAYS))
    assert sorted(results) == list(DAYS)
    for day in DAYS:
        sql_side, ge_side = results[day].to_great_expectations().results
        assert sql_side.expectation_config.type == "expect_column_values_to_not_be_null"
        assert ge_side.expectation_config.type == kind
        direct = ge_pandas(conn, day, kind, kwargs)
        assert ge_side.success == direct.success
        assert canonical(ge_side.result) == canonical(direct.result)
        assert results[day].statistics["evaluated_expectations"] == 2


def test_a_suite_gives_ge_suite_results_per_day(conn) -> None:  # type: ignore[no-untyped-def]
    from great_expectations.core import ExpectationSuiteValidationResult

    suite = Suite("events", "error", tuple(CASES), "-")
    results = validate_suite(conn, suite, [DAYS[1]])
    assert list(results) == [DAYS[1]]
    result = results[DAYS[1]].to_great_expectations()
    assert isinstance(result, ExpectationSuiteValidationResult)
    assert [r.expectation_config.type for r in result.results] == [k for k, _ in CASES]
    assert result.statistics["evaluated_expectations"] == len(CASES)
    assert result.success == all(r.success for r in result.results)


@pytest.mark.parametrize(
    ("pattern", "texts"),
    [
        (r"^\S+$", ["ab", "a b", "a\u00a0b", "a\u2028b", "a\x1cb", "x\n", "a\tb"]),
        (r"\d\d", ["12", "\u0663\u0664", "1a", "\u00b2\u00b3"]),
        (r"^\w+$", ["a_\u00e9", "\u0663", "a-b", "\u00b2"]),
        (r"^x$", ["x", "x\n", "x\n\n", "xx"]),
        (r"[\s,]", ["a,b", "a\u3000b", "ab"]),
    ],
)
def test_translated_regexes_keep_python_meaning(pattern, texts) -> None:  # type: ignore[no-untyped-def]
    import re

    translated = python_regex_to_re2(pattern)
    assert translated is not None
    db = duckdb.connect()
    for text in texts:
        ours = db.execute("SELECT regexp_matches($t, $r)", {"t": text, "r": translated}).fetchone()[0]  # type: ignore[index]
        assert ours == (re.search(pattern, text) is not None), (pattern, text)


def test_untranslatable_regexes_are_left_to_python() -> None:
    for pattern in (r"\bword", r"(a)\1", r"(?i)abc", r"(?<=a)b", r"[\S]", r"\u00e9", "("):
        assert python_regex_to_re2(pattern) is None, pattern


def test_shipped_suites_run_without_importing_great_expectations(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys
    from pathlib import Path

    code = """
import sys, duckdb, datetime as dt
from quality_checks.expectations import load_suite, suite_path, validate_suite
db = duckdb.connect()
db.execute("CREATE TABLE events AS SELECT DATE '2026-10-05' AS partition_date, 'e' || i AS event_id, 'o' AS order_id,"
           " TIMESTAMPTZ '2026-10-05 08:00:00+00' AS occurred_at, TIMESTAMPTZ '2026-10-05 08:00:00+00' AS recorded_at,"
           " 'created' AS status, 'partner:x' AS source, 91.0 AS lat, 0.0 AS lon FROM range(5) AS r(i)")
results = validate_suite(db, load_suite(suite_path('events')), [dt.date(2026, 10, 5)])
failed = [r.expectation_type for r in results[dt.date(2026, 10, 5)].results if not r.success]
assert failed == ['expect_column_values_to_be_between'], failed
assert 'great_expectations' not in sys.modules
print('ok')
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent.parent
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_column_types_resolve_a_temporary_table_first() -> None:
    """A whole-table suite validates a temporary copy: its columns must be found (else every expectation
    would fall back to Great Expectations), and a temporary table shadows a warehouse table of its name."""
    db = duckdb.connect()
    db.execute("CREATE TABLE t (a VARCHAR, b BIGINT)")
    db.execute("CREATE TEMP TABLE _copy AS SELECT 1.5::DOUBLE AS x, 'v' AS y")
    assert column_types(db, "_copy") == {"x": "DOUBLE", "y": "VARCHAR"}
    assert column_types(db, "t") == {"a": "VARCHAR", "b": "BIGINT"}
    db.execute("CREATE TEMP TABLE t AS SELECT TIMESTAMPTZ '2026-10-05 08:00:00+00' AS c")
    assert column_types(db, "t") == {"c": "TIMESTAMP WITH TIME ZONE"}
    assert column_types(db, "nothing") == {}


def test_whole_table_suites_run_on_sql_without_importing_great_expectations(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The consents and templates suites (whole tables, validated through a temporary copy) take the SQL
    path like the daily ones: Great Expectations is not imported, and a broken row fails its expectation."""
    import subprocess
    import sys
    from pathlib import Path

    code = f"""
import sys, datetime as dt
from lastmile.warehouse import connect
from quality_checks.expectations import load_suite, suite_path, validate_suite
db = connect({str(tmp_path / "w.duckdb")!r}, "UTC")
db.execute("INSERT INTO consents VALUES ('c1', 'fax', 'h', 'marketing', 'granted',"
           " TIMESTAMPTZ '2026-10-05 08:00:00+00', 'web', 'consent:c1', 'x', DATE '2026-10-05', 'f', 1, 'r',"
           " TIMESTAMPTZ '2026-10-05 09:00:00+00')")
db.execute("INSERT INTO templates VALUES ('t1', 1, 'sms', 'transactional', 'delivered', NULL, 'Hi', false, 'a', 'b',"
           " TIMESTAMPTZ '2026-10-05 08:00:00+00', TIMESTAMPTZ '2026-10-04 08:00:00+00', 'x', 'f', 1, 'r',"
           " TIMESTAMPTZ '2026-10-05 09:00:00+00')")
day = dt.date(2026, 10, 6)
for table, broken in (('consents', ['expect_column_values_to_be_in_set']),
                      ('templates', ['expect_column_pair_values_a_to_be_greater_than_b'])):
    results = validate_suite(db, load_suite(suite_path(table)), [day])[day].results
    failed = [r.expectation_type for r in results if not r.success]
    assert failed == broken, (table, failed)
    assert all(r.result['element_count'] == 1 for r in results), table
assert 'great_expectations' not in sys.modules
print('ok')
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent.parent
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
