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


def test_message_suites_hold_the_contract_codes():
    """The suites of CONTRACT §8's tables allow exactly the codes lastmile/codes.py defines."""
    from lastmile import codes

    def value_set(table: str, column: str) -> set[str]:
        suite = load_suite(suite_path(table))
        (found,) = [k["value_set"] for t, k in suite.expectations
                    if t == "expect_column_values_to_be_in_set" and k["column"] == column]  # fmt: skip
        return set(found)

    assert value_set("messages", "channel") == set(codes.CHANNELS) == value_set("consents", "channel")
    assert value_set("messages", "purpose") == set(codes.MESSAGE_PURPOSES) == value_set("templates", "purpose")
    assert value_set("messages", "delivery_status") == set(codes.MESSAGE_DELIVERY_STATUSES)
    assert value_set("consents", "purpose") == set(codes.CONSENT_PURPOSES)
    assert value_set("consents", "state") == set(codes.CONSENT_STATES)
    assert value_set("templates", "channel") == set(codes.CHANNELS)
    assert value_set("templates", "status") == set(codes.STATUSES)
    assert value_set("templates", "exception_code") == {*codes.EXCEPTION_CODES, "*"}


def test_message_consent_and_template_suites_run_as_sql_and_record_failures(tmp_path, warehouse, vault, settings):
    """messages is validated per day like events; consents and templates (kept whole) as one batch on the
    day given (as_of's day), consents dated outside it included."""
    from quality_checks.expectation_sql import table_sql_plans
    from tests.messages_kit import CONSENT, MESSAGE, TEMPLATE

    landing = tmp_path / "landing"
    write_csv(landing / "orders/a.csv", [row(ORDER)])
    write_csv(landing / "events/a.csv", [row(EVENT)])
    write_csv(landing / "messages/a.csv", [row(MESSAGE), row(MESSAGE, message_id="M2", body="")])
    write_csv(landing / "consents/a.csv", [row(CONSENT), row(CONSENT, consent_id="K2", at="2019-01-01T00:00:00Z")])
    write_csv(
        landing / "templates/a.csv", [row(TEMPLATE), row(TEMPLATE, version="2", retired_at="2026-10-01T00:00:00Z")]
    )
    ingest(warehouse, landing, vault, settings)
    day = dt.date(2026, 10, 5)
    suites = {t: load_suite(suite_path(t)) for t in ("messages", "consents", "templates")}
    assert not suites["messages"].whole and suites["consents"].whole and suites["templates"].whole
    for table, suite in suites.items():  # every entry runs as DuckDB SQL (Great Expectations is not imported)
        assert None not in table_sql_plans(warehouse, table, list(suite.expectations)), table
    clean = {t: run_suite(warehouse, s, [day], run_id="clean", now=NOW) for t, s in suites.items()}
    assert clean == {t: (len(s.expectations), 0) for t, s in suites.items()}
    # the same rows broken behind the intake's back: each suite names the broken column on the day
    warehouse.execute("UPDATE messages SET purpose = 'promo' WHERE message_id = 'M2'")
    warehouse.execute("UPDATE consents SET state = 'maybe' WHERE consent_id = 'K2'")  # dated 2019: still judged
    warehouse.execute("UPDATE templates SET retired_at = approved_at WHERE version = 2")
    for table, suite in suites.items():
        assert run_suite(warehouse, suite, [day], run_id="broken", now=NOW) == (len(suite.expectations), 1), table
    found = warehouse.execute(
        "SELECT check_id, entity_id, partition_date, observed FROM dq_findings WHERE run_id = 'broken' ORDER BY 1"
    ).fetchall()
    assert [(c, e, d) for c, e, d, _ in found] == [
        ("expectations.consents", "expect_column_values_to_be_in_set:state", day),
        ("expectations.messages", "expect_column_values_to_be_in_set:purpose", day),
        ("expectations.templates", "expect_column_pair_values_a_to_be_greater_than_b:retired_at|approved_at", day),
    ]  # fmt: skip
    assert json.loads(found[0][3])["partial_unexpected_list"] == ["maybe"]
    assert json.loads(found[1][3])["unexpected_count"] == 1
    with pytest.raises(LastmileError, match="whole table on one day"):
        run_suite(warehouse, suites["templates"], [day, day + dt.timedelta(days=1)], run_id="x", now=NOW)
