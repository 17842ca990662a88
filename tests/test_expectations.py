import datetime as dt
import json

import pytest

from lastmile.errors import LastmileError
from quality_checks.expectations import SUITE_TABLES, load_suite, run_suite, suite_path
from tests.conftest import NOW
from tests.landing_kit import EVENT, ORDER, row, write_csv
from tests.test_ingest import ingest


def test_shipped_suites_load():
    for table in SUITE_TABLES:
        suite = load_suite(suite_path(table))
        assert suite.table == table and len(suite.expectations) >= 5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("table: events\nexpectations:\n  - expect_column_to_be_purple: {column: a}\n", "unknown expectation"),
        ("table: events\nexpectations:\n  - expect_column_values_to_not_be_null: {colum: a}\n", "entry 1"),
        ("table: nope\n", "needs `table:`"),
        ("table: events\nseverity: fatal\n", "severity must be warn or error"),
        ("table: [events\n", "not valid YAML"),
    ],
)
def test_malformed_suites_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "events.yaml"
    path.write_text(text)
    with pytest.raises(LastmileError) as info:
        load_suite(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_suite_failures_land_in_the_check_history(tmp_path, warehouse, vault, settings):
    landing = tmp_path / "landing"
    write_csv(landing / "orders/a.csv", [row(ORDER)])
    write_csv(landing / "events/a.csv", [row(EVENT), row(EVENT, event_id="E2", lat="10", lon="20")])
    ingest(warehouse, landing, vault, settings)
    suite_file = tmp_path / "events.yaml"
    suite_file.write_text(
        "table: events\nseverity: warn\nexpectations:\n"
        "  - expect_column_values_to_be_between: {column: lat, min_value: 50, max_value: 52}\n"
        "  - expect_column_values_to_not_be_null: {column: event_id}\n"
    )
    suite = load_suite(suite_file)
    day = dt.date(2026, 10, 5)
    assert run_suite(warehouse, suite, [day], run_id="g1", now=NOW) == (2, 1)
    (entity, severity, observed) = warehouse.execute(
        "SELECT entity_id, severity, observed FROM dq_findings WHERE check_id = 'expectations.events'"
    ).fetchone()
    assert entity == "expect_column_values_to_be_between:lat" and severity == "warn"
    assert json.loads(observed)["unexpected_count"] == 1
    assert warehouse.execute(
        "SELECT evaluated, failed FROM dq_check_runs WHERE check_id = 'expectations.events'"
    ).fetchall() == [(2, 1)]
    # a second run replaces the partition's findings and adds history
    run_suite(warehouse, suite, [day], run_id="g2", now=NOW)
    assert warehouse.execute("SELECT count(*) FROM dq_findings").fetchone() == (1,)
    assert warehouse.execute("SELECT count(*) FROM dq_check_runs").fetchone() == (2,)
