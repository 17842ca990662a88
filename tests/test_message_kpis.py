"""The six messaging KPIs of CONTRACT §8 in kpi_weekly, on a small hand-built week."""

import datetime as dt

import pytest

from reports.kpi import compute_kpis, kpi_rows
from tests.landing_kit import ORDER, row
from tests.messages_kit import MESSAGE
from tests.test_checks import T0, check, ev, ts
from tests.test_message_checks import consent, load, tpl

WEEK = dt.date(2026, 10, 5)


@pytest.fixture
def kpis(tmp_path, warehouse, vault, settings):  # type: ignore[no-untyped-def]
    orders = [row(ORDER), row(ORDER, order_id="O2", zone_id="Z2", recipient_phone="", recipient_email="")]
    events = [
        ev("E1", "out_for_delivery", 0), ev("A1", "delivery_attempted", 60),
        ev("E1b", "out_for_delivery", 1440), ev("D1", "delivered", 1500),
        ev("X1", "out_for_delivery", 0, order="O2"), ev("A2", "delivery_attempted", 30, order="O2"),
        ev("A3", "delivery_attempted", 1470, order="O2"),
    ]  # fmt: skip
    templates = [
        tpl("T-OFD"),
        tpl("T-ATT", status="delivery_attempted", exception_code="*", body="{reason} {next_step} {reschedule_url}"),
        tpl("T-MKT-E", channel="email", purpose="marketing", status=""),
    ]
    other = "+44 7700 900123"
    messages = [
        row(MESSAGE, message_id="m1", sent_at=ts(2)),
        row(MESSAGE, message_id="m2", template_id="T-ATT", trigger_event_id="A1", sent_at=ts(62), variant="a"),
        row(MESSAGE, message_id="m3", order_id="O2", template_id="T-ATT", trigger_event_id="A2", sent_at=ts(41),
            variant="b", delivery_status="failed", address=other),
        row(MESSAGE, message_id="m4", channel="email", purpose="marketing", template_id="T-MKT-E",
            trigger_event_id="", sent_at=ts(120), delivery_status="bounced", address="ann@example.com"),
    ]  # fmt: skip
    consents = [
        consent("W-sms", 100, "withdrawn", purpose="marketing", source="sms_stop"),
        consent("W-email-old", -7 * 1440, "withdrawn", channel="email", address="ann@example.com"),  # week before
    ]
    load(tmp_path, warehouse, vault, settings, orders=orders, events=events, templates=templates,
         messages=messages, consents=consents)  # fmt: skip
    missing = check(warehouse, settings, "message.missing", as_of=T0 + dt.timedelta(days=3))
    assert set(missing) == {"E1b", "D1"}
    compute_kpis(warehouse, settings, [WEEK])
    return {(r["kpi_id"], r["dimension"], r["dimension_value"]): (r["numerator"], r["denominator"], r["value"])
            for r in kpi_rows(warehouse, [WEEK])}  # fmt: skip


def test_messaging_kpis(kpis) -> None:  # type: ignore[no-untyped-def]
    assert kpis[("notification_coverage_rate", "all", None)] == (2, 4, 0.5)  # O2 has no contact: not evaluated
    assert kpis[("notification_coverage_rate", "zone", "Z1")] == (2, 4, 0.5)
    assert ("notification_coverage_rate", "zone", "Z2") not in kpis
    assert kpis[("message_delivery_rate", "all", None)] == (2, 4, 0.5)
    assert kpis[("message_delivery_rate", "channel", "sms")] == (2, 3, pytest.approx(2 / 3))
    assert kpis[("message_delivery_rate", "channel", "email")] == (0, 1, 0.0)
    # three (channel, address) pairs were sent to; the sms address of O1 withdrew in the week
    assert kpis[("opt_out_rate", "all", None)] == (1, 3, pytest.approx(1 / 3))
    assert kpis[("opt_out_rate", "channel", "sms")] == (1, 2, 0.5)
    assert kpis[("opt_out_rate", "channel", "email")] == (0, 1, 0.0)  # its withdrawal was the week before
    # latencies of the triggered messages: 60 s, 60 s, 600 s
    assert kpis[("message_latency_p50_s", "all", None)] == (None, None, pytest.approx(60.0))
    assert kpis[("message_latency_p95_s", "all", None)] == (None, None, pytest.approx(60 + 0.9 * 540))
    # arm a: O1's next attempt after A1 is delivered; arm b: O2's next attempt is another failure
    assert kpis[("reattempt_success_rate", "variant", "T-ATT:a")] == (1, 1, 1.0)
    assert kpis[("reattempt_success_rate", "variant", "T-ATT:b")] == (0, 1, 0.0)
