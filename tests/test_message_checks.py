"""Boundary tests for the eleven checks of CONTRACT §8 on small hand-built landing folders."""

import datetime as dt
from pathlib import Path
from typing import Any

from tests.landing_kit import ORDER, PROOF, row, write_blob, write_csv
from tests.messages_kit import CONSENT, MESSAGE, TEMPLATE
from tests.test_checks import T0, check, ev, ts
from tests.test_ingest import ingest

PHONE = "+44 20 7946 0958"


def msg(message_id: str, at: float, **kw: Any) -> dict[str, str]:
    """A message sent `at` minutes after T0 (2026-10-05 10:00 UTC)."""
    return row(MESSAGE, message_id=message_id, sent_at=ts(at), **kw)


def consent(consent_id: str, at: float, state: str = "granted", **kw: Any) -> dict[str, str]:
    return row(CONSENT, consent_id=consent_id, at=ts(at), state=state, **kw)


def tpl(template_id: str, version: int = 1, **kw: Any) -> dict[str, str]:
    return row(TEMPLATE, template_id=template_id, version=str(version), **kw)


def load(
    tmp_path: Path, conn, vault, settings, *, messages=(), consents=(), templates=(), events=(), orders=None,
    proofs=(), blobs=(),
) -> None:  # fmt: skip
    landing = tmp_path / "landing"
    for name, data in blobs:
        write_blob(landing, name, data)
    write_csv(landing / "orders/a.csv", orders if orders is not None else [row(ORDER)])
    if events:
        write_csv(landing / "events/a.csv", list(events))
    if proofs:
        write_csv(landing / "proofs/a.csv", list(proofs))
    if messages:
        write_csv(landing / "messages/a.csv", list(messages))
    if consents:
        write_csv(landing / "consents/a.csv", list(consents))
    write_csv(landing / "templates/a.csv", list(templates) or [tpl("T-OFD")])
    ingest(conn, landing, vault, settings)


MARKETING = {"template_id": "T-MKT", "purpose": "marketing", "trigger_event_id": ""}


def test_consent_rule_boundaries(tmp_path, warehouse, vault, settings):
    templates = [tpl("T-MKT", purpose="marketing", status="")]
    consents = [
        consent("G1", -60, address="+44 (20) 7946.0958", purpose="marketing"),  # grant, written with ( ) and .
        consent("W1", 0, "withdrawn", purpose="all", source="sms_stop"),  # withdraws at exactly T0
        consent("G2", 0, "granted", purpose="marketing"),  # a grant at the same instant: withdrawn wins
        consent("G3", 30, purpose="marketing"),  # re-grant at T0+30
        consent("E1", -60, channel="email", address="  Ann.Lee@Example.com", purpose="transactional"),
        consent("E0", -60, channel="email", address="ann.lee@example.com", purpose="marketing"),
        consent("E2", 10, "withdrawn", channel="email", address="ann.lee@example.com ", purpose="marketing"),
        consent("P1", 5, "withdrawn", channel="push", address="device-1", purpose="transactional"),
    ]
    messages = [
        msg("before", -1, **MARKETING),  # latest: G1 granted -> allowed
        msg("tie", 0, **MARKETING),  # W1 and G2 at the same instant: withdrawn wins
        msg("after-regrant", 30, **MARKETING),  # G3 granted at exactly sent_at: applies
        msg("tx-opted-out", 1),  # transactional, W1 (purpose all) withdrawn
        msg("no-record", 1, channel="email", address="other@example.com", **MARKETING),  # marketing, no opt-in
        msg("tx-no-record", 1, channel="email", address="other@example.com"),  # transactional, no record: allowed
        # the withdrawal one second after the message does not apply to it
        msg("email-before-stop", 10 - 1 / 60, channel="email", address="ANN.LEE@example.com", **MARKETING),
        msg("email-tx", 20, channel="email", address="ann.lee@example.com"),  # E2 is marketing only
        msg("push-stop", 5, channel="push", address="device-1"),  # withdrawn at exactly sent_at
        msg("push-case", 6, channel="push", address="DEVICE-1"),  # device id compared as given: no record
    ]
    templates += [
        tpl("T-MKT-E", channel="email", purpose="marketing", status=""),
        tpl("T-OFD-E", channel="email"),
        tpl("T-OFD-P", channel="push"),
        tpl("T-OFD"),
    ]
    for m in messages:  # templates matching their channel (template validity is not what this test is about)
        if m["channel"] == "email":
            m["template_id"] = "T-MKT-E" if m["purpose"] == "marketing" else "T-OFD-E"
        elif m["channel"] == "push":
            m["template_id"] = "T-OFD-P"
    load(tmp_path, warehouse, vault, settings, messages=messages, consents=consents, templates=templates)
    found = check(warehouse, settings, "message.without_consent")
    assert set(found) == {"tie", "tx-opted-out", "no-record", "push-stop"}
    assert found["tie"]["deciding_state"] == "withdrawn"
    assert found["tie"]["deciding_consent_id"] == "W1"
    assert found["no-record"]["deciding_state"] is None
    evaluated = warehouse.execute(
        "SELECT evaluated FROM dq_check_runs WHERE check_id = 'message.without_consent' ORDER BY finished_at DESC"
    ).fetchone()
    assert evaluated == (len(messages),)


def test_quiet_hours_boundaries_in_the_network_timezone(tmp_path, warehouse, vault, settings):
    day = "2026-10-05"

    def at(hms: str, message_id: str, **kw: Any) -> dict[str, str]:
        return row(MESSAGE, message_id=message_id, sent_at=f"{day}T{hms}", **{**MARKETING, **kw})

    messages = [
        at("07:59:59", "early"),
        at("08:00:00", "open"),
        at("20:59:59", "last"),
        at("21:00:00", "closed"),
        at("23:30:00", "tx-late", template_id="T-OFD", purpose="transactional"),
        at("07:30:00+01:00", "offset-early"),  # 06:30 UTC
    ]
    templates = [tpl("T-MKT", purpose="marketing", status=""), tpl("T-OFD")]
    load(tmp_path, warehouse, vault, settings, messages=messages, templates=templates)
    assert set(check(warehouse, settings, "message.quiet_hours")) == {"early", "closed", "offset-early"}


def test_quiet_hours_follow_the_network_timezone(tmp_path, home, vault, warehouse):
    from lastmile.settings import Settings

    london = Settings(network_timezone="Europe/London")
    warehouse.execute("SET TimeZone = 'Europe/London'")
    messages = [  # BST (UTC+1) on 5 October
        row(MESSAGE, message_id="utc-0730", sent_at="2026-10-05T07:30:00Z", **MARKETING),  # 08:30 local
        row(MESSAGE, message_id="utc-2000", sent_at="2026-10-05T20:00:00Z", **MARKETING),  # 21:00 local
    ]
    load(home.root.parent, warehouse, vault, london, messages=messages,
         templates=[tpl("T-MKT", purpose="marketing", status="")])  # fmt: skip
    assert set(check(warehouse, london, "message.quiet_hours")) == {"utc-2000"}


def test_template_invalid_and_in_force_boundaries(tmp_path, warehouse, vault, settings):
    approved = "2026-10-05T10:00:00Z"
    templates = [
        tpl("A", approved_at=approved),  # in force from 10:00 exactly
        tpl("R", approved_at="2026-09-01T00:00:00Z", retired_at="2026-10-05T10:30:00Z"),  # retired at 10:30
        tpl("U", approved_by="", approved_at=""),  # never approved
        tpl("S-same", sensitive="true", reviewed_by="alice"),  # reviewed by the approver: not in force
        tpl("S-ok", sensitive="true", reviewed_by="bob"),
        tpl("S-none", sensitive="true"),
        tpl("E", channel="email"),
        tpl("M", purpose="marketing"),
    ]
    messages = [
        msg("at-approval", 0, template_id="A"),
        msg("before-approval", -1 / 60, template_id="A"),
        msg("before-retire", 29, template_id="R"),
        msg("at-retire", 30, template_id="R"),
        msg("unapproved", 0, template_id="U"),
        msg("same-reviewer", 0, template_id="S-same"),
        msg("reviewed", 0, template_id="S-ok"),
        msg("unreviewed", 0, template_id="S-none"),
        msg("other-channel", 0, template_id="E"),
        msg("other-purpose", 0, template_id="M"),
        msg("no-such-version", 0, template_id="A", template_version="2"),
        msg("no-such-template", 0, template_id="ZZ"),
    ]
    load(tmp_path, warehouse, vault, settings, messages=messages, templates=templates,
         events=[ev("E1", "out_for_delivery", 0)])  # fmt: skip
    found = check(warehouse, settings, "message.template_invalid")
    assert set(found) == {"before-approval", "at-retire", "unapproved", "same-reviewer", "unreviewed",
                          "other-channel", "other-purpose", "no-such-version", "no-such-template"}  # fmt: skip
    assert found["no-such-template"]["template_exists"] is False
    # a message whose template does not exist is judged by no other message check
    for other in ("message.template_mismatch", "message.premature", "message.without_consent",
                  "message.after_terminal", "message.duplicate"):  # fmt: skip
        assert not {"no-such-version", "no-such-template"} & set(check(warehouse, settings, other)), other


def test_template_mismatch_rules(tmp_path, warehouse, vault, settings):
    templates = [
        tpl("T-OFD"),
        tpl("T-ATT", status="delivery_attempted", exception_code="recipient_unavailable"),
        tpl("T-ANY", status="delivery_attempted", exception_code="*"),
        tpl("T-NONE", status=""),
    ]
    events = [
        ev("E1", "out_for_delivery", 0),
        ev("E2", "delivery_attempted", 10, exception_code="access_issue"),
        ev("X1", "out_for_delivery", 0, order="O2"),
    ]
    messages = [
        msg("ok", 1),
        msg("wrong-status", 11, template_id="T-ATT", trigger_event_id="E1"),
        msg("wrong-code", 11, template_id="T-ATT", trigger_event_id="E2"),
        msg("star", 11, template_id="T-ANY", trigger_event_id="E2"),
        msg("null-status", 11, template_id="T-NONE", trigger_event_id="E1"),
        msg("no-event", 1, trigger_event_id="E404"),
        msg("other-order", 1, trigger_event_id="X1"),  # event of another order: no trigger event
        msg("untriggered", 1, template_id="T-NONE", trigger_event_id=""),
    ]
    orders = [row(ORDER), row(ORDER, order_id="O2")]
    load(tmp_path, warehouse, vault, settings, messages=messages, templates=templates, events=events, orders=orders)
    found = check(warehouse, settings, "message.template_mismatch")
    assert set(found) == {"wrong-status", "wrong-code", "null-status", "no-event", "other-order"}
    runs = warehouse.execute(
        "SELECT sum(evaluated) FROM dq_check_runs WHERE check_id = 'message.template_mismatch'"
    ).fetchone()
    assert runs == (7,)  # the untriggered message is not judged


def test_premature_needs_the_status_and_the_required_proofs_recorded(tmp_path, warehouse, vault, settings):
    from tests.landing_kit import JPEG

    orders = [row(ORDER), row(ORDER, order_id="O2", service_type="high_value")]
    events = [
        ev("E1", "out_for_delivery", 0),
        ev("D1", "delivered", 20),
        ev("D2", "delivered", 20, order="O2"),
    ]
    # O1 (standard) needs a photo, recorded at T0+22; O2 (high_value) needs signature and photo: only a photo
    proofs = [
        row(PROOF, proof_id="P1", captured_at=ts(21), recorded_at=ts(22), blob_path="p1.jpg"),
        row(PROOF, proof_id="P2", order_id="O2", captured_at=ts(21), recorded_at=ts(21), blob_path="missing.jpg"),
    ]
    templates = [tpl("T-OFD"), tpl("T-DEL", status="delivered")]
    messages = [
        msg("ofd-early", -1 / 60, trigger_event_id=""),  # out_for_delivery occurred at T0: 1 s too early
        msg("ofd-exact", 0, trigger_event_id=""),
        msg("del-before-proof", 21, template_id="T-DEL", trigger_event_id="D1"),
        msg("del-at-proof", 22, template_id="T-DEL", trigger_event_id="D1"),
        msg("del-no-signature", 30, template_id="T-DEL", order_id="O2", trigger_event_id="D2"),
        msg("del-before-delivery", 19, template_id="T-DEL", trigger_event_id=""),
    ]
    load(tmp_path, warehouse, vault, settings, messages=messages, templates=templates, events=events,
         orders=orders, proofs=proofs, blobs=[("p1.jpg", JPEG)])  # fmt: skip
    found = check(warehouse, settings, "message.premature")
    assert set(found) == {"ofd-early", "del-before-proof", "del-no-signature", "del-before-delivery"}
    assert found["del-no-signature"]["proofs_not_yet_recorded"] == ["signature"]


def test_premature_for_a_return_pickup_needs_its_acceptance_photo_not_the_service_table(
    tmp_path, warehouse, vault, settings
):  # fmt: skip
    """CONTRACT §3: the table by service_type applies to delivery orders only; a return pickup (any
    service_type) requires a photo. So a 'delivered' message of a signature_required return waits for the
    photo, not for a signature; a 'picked_up' message waits for the picked_up event only."""
    from tests.landing_kit import JPEG

    delivery = {"order_type": "", "original_order_id": ""}
    orders = [
        row(ORDER, **delivery),
        row(ORDER, order_id="R1", order_type="return_pickup", original_order_id="O1",
            service_type="signature_required"),
        row(ORDER, order_id="O2", service_type="signature_required", **delivery),  # a delivery: the table applies
    ]  # fmt: skip
    events = [
        ev("P1", "picked_up", 10, order="R1"),
        ev("D1", "delivered", 20, order="R1"),
        ev("D2", "delivered", 20, order="O2"),
    ]
    proofs = [  # a photo of each order, recorded at T0+22; no signature anywhere
        row(PROOF, proof_id="PR", order_id="R1", captured_at=ts(21), recorded_at=ts(22), blob_path="p1.jpg"),
        row(PROOF, proof_id="PO", order_id="O2", captured_at=ts(21), recorded_at=ts(22), blob_path="p1.jpg"),
    ]
    templates = [tpl("T-PICK", status="picked_up"), tpl("T-DEL", status="delivered")]
    on_r1 = {"order_id": "R1", "trigger_event_id": ""}
    messages = [
        msg("pickup-early", 10 - 1 / 60, template_id="T-PICK", **on_r1),  # 1 s before the picked_up event
        msg("pickup-exact", 10, template_id="T-PICK", **on_r1),
        msg("ret-before-photo", 22 - 1 / 60, template_id="T-DEL", **on_r1),  # photo recorded 1 s later
        msg("ret-at-photo", 22, template_id="T-DEL", **on_r1),  # no signature needed for a return
        msg("delivery-no-signature", 30, template_id="T-DEL", order_id="O2", trigger_event_id=""),
    ]
    load(tmp_path, warehouse, vault, settings, messages=messages, templates=templates, events=events,
         orders=orders, proofs=proofs, blobs=[("p1.jpg", JPEG)])  # fmt: skip
    found = check(warehouse, settings, "message.premature")
    assert set(found) == {"pickup-early", "ret-before-photo", "delivery-no-signature"}
    assert found["ret-before-photo"]["proofs_not_yet_recorded"] == ["photo"]
    assert found["delivery-no-signature"]["proofs_not_yet_recorded"] == ["signature"]
    assert found["pickup-early"]["status_first_occurred_at"] is None
    types = dict(warehouse.execute("SELECT order_id, order_type FROM orders").fetchall())
    assert types == {"O1": "delivery", "R1": "return_pickup", "O2": "delivery"}


def test_after_terminal_and_duplicate(tmp_path, warehouse, vault, settings):
    events = [ev("E1", "out_for_delivery", 0), ev("D1", "delivered", 20), ev("X", "cancelled", 25)]
    templates = [tpl("T-OFD"), tpl("T-DEL", status="delivered"), tpl("T-OFD-E", channel="email")]
    messages = [
        msg("ofd-at-delivery", 20),  # at the terminal instant: not after
        msg("ofd-after", 20 + 1 / 60),  # 1 s after delivery
        msg("del-after", 30, template_id="T-DEL", trigger_event_id="D1"),  # terminal template: not judged
        msg("dup-a", 0),
        msg("dup-b", 0),  # same sent_at: dup-a comes first by message_id
        msg("dup-email", 1, channel="email", template_id="T-OFD-E", address="ann@example.com"),
        msg("dup-ghost", -5, template_id="GONE"),  # earliest, template missing: still the earlier message
    ]
    load(tmp_path, warehouse, vault, settings, messages=messages, templates=templates, events=events)
    assert set(check(warehouse, settings, "message.after_terminal")) == {"ofd-after"}
    found = check(warehouse, settings, "message.duplicate")
    assert set(found) == {"ofd-at-delivery", "ofd-after", "dup-a", "dup-b"}
    assert found["dup-a"]["earlier_message_id"] == "dup-ghost"


def test_missing_message_exactly_at_the_window(tmp_path, warehouse, vault, settings):
    orders = [
        row(ORDER),
        row(ORDER, order_id="O2", recipient_phone="n/a", recipient_email=""),  # given though invalid: counts
        row(ORDER, order_id="O3", recipient_phone="", recipient_email=""),  # nobody to tell
    ]
    recorded = T0 + dt.timedelta(minutes=1)
    events = [
        ev("told-exact", "out_for_delivery", 0),  # message at recorded_at + 30 min exactly
        ev("told-late", "delivery_attempted", 60),  # message 1 s after the window
        ev("untold", "delivered", 120),
        ev("partner", "out_for_delivery", 0, source="partner:ups"),
        ev("not-notifying", "arrived", 5),
        ev("invalid-phone", "out_for_delivery", 0, order="O2"),
        ev("no-contact", "out_for_delivery", 0, order="O3"),
        ev("too-recent", "exception", 200),
    ]
    templates = [tpl("T-OFD"), tpl("T-ATT", status="delivery_attempted", exception_code="*")]
    messages = [
        row(MESSAGE, message_id="m1", trigger_event_id="told-exact",
            sent_at=(recorded + dt.timedelta(minutes=30)).isoformat()),
        row(MESSAGE, message_id="m2", template_id="T-ATT", trigger_event_id="told-late",
            sent_at=(recorded + dt.timedelta(minutes=90, seconds=1)).isoformat()),
    ]  # fmt: skip
    load(tmp_path, warehouse, vault, settings, messages=messages, templates=templates, events=events, orders=orders)
    as_of = T0 + dt.timedelta(minutes=201 + 29)  # too-recent: recorded at T0+201, window ends 1 min after as_of
    found = check(warehouse, settings, "message.missing", as_of=as_of)
    assert set(found) == {"told-late", "untold", "invalid-phone"}
    at_window = check(warehouse, settings, "message.missing", as_of=as_of + dt.timedelta(minutes=1))
    assert "too-recent" in at_window


def test_template_registry_checks(tmp_path, warehouse, vault, settings):
    full = "Sorry we missed you: {reason}. {next_step} {reschedule_url}"
    templates = [
        tpl("ATT-ok", status="delivery_attempted", exception_code="*", body=full),
        tpl("ATT-no-url", status="delivery_attempted", exception_code="*", body="{reason} {next_step}"),
        tpl("EXC-ok", status="exception", exception_code="*", body="{reason} {next_step}"),
        tpl("EXC-no-reason", status="exception", exception_code="weather", body="{next_step}"),
        tpl("EXC-retired", status="exception", exception_code="*", body="nothing", retired_at="2026-10-01T00:00:00Z"),
        tpl("SENS-same", sensitive="true", approved_by="alice", reviewed_by="alice"),
        tpl("SENS-none", sensitive="true", approved_by="alice", reviewed_by=""),
        tpl("SENS-retired", sensitive="true", reviewed_by="", retired_at="2026-10-01T00:00:00Z"),
        tpl("SENS-ok", sensitive="true", reviewed_by="bob"),
        tpl("SENS-unapproved", sensitive="true", approved_by="", approved_at=""),
        tpl("T-OFD"),
        tpl("T-DEL", status="delivered"),
    ]
    messages = [msg("m1", 0, trigger_event_id="")]
    load(tmp_path, warehouse, vault, settings, messages=messages, templates=templates)
    as_of = T0 + dt.timedelta(days=28)  # the message is exactly 28 days before as_of: outside (as_of - 28 d, as_of]
    assert set(check(warehouse, settings, "template.incomplete", as_of=as_of)) == {"ATT-no-url:1", "EXC-no-reason:1"}
    assert set(check(warehouse, settings, "template.review_missing", as_of=as_of)) == {
        "SENS-same:1", "SENS-none:1", "SENS-retired:1"}  # fmt: skip
    assert check(warehouse, settings, "template.coverage_gap", as_of=as_of) == {}  # no channel sent in the window
    gaps = check(warehouse, settings, "template.coverage_gap", as_of=as_of - dt.timedelta(seconds=1))
    # sms sent 1 s inside the window; the '*' templates cover every code; only picked_up has no template
    assert set(gaps) == {"sms:picked_up:-"}


def test_coverage_gap_lists_every_missing_status_and_code(tmp_path, warehouse, vault, settings):
    templates = [
        tpl("T-OFD"),
        tpl(
            "ATT",
            status="delivery_attempted",
            exception_code="recipient_unavailable",
            body="{reason} {next_step} {reschedule_url}",
        ),
        tpl("T-OFD-E", channel="email"),
        tpl("MKT", channel="push", purpose="marketing", status=""),
    ]
    messages = [
        msg("sms", 0, trigger_event_id=""),
        msg("email", 0, channel="email", template_id="T-OFD-E", address="a@b.co", trigger_event_id=""),
        msg("push-mkt", 0, channel="push", purpose="marketing", template_id="MKT", address="d1", trigger_event_id=""),
    ]
    load(tmp_path, warehouse, vault, settings, messages=messages, templates=templates)
    gaps = check(warehouse, settings, "template.coverage_gap", as_of=T0 + dt.timedelta(days=1))
    from lastmile.codes import EXCEPTION_CODES

    sms = {f"sms:delivery_attempted:{c}" for c in EXCEPTION_CODES if c != "recipient_unavailable"}
    sms |= {f"sms:exception:{c}" for c in EXCEPTION_CODES} | {"sms:delivered:-", "sms:picked_up:-"}
    email = {f"email:{s}:{c}" for s in ("delivery_attempted", "exception") for c in EXCEPTION_CODES}
    email |= {"email:delivered:-", "email:picked_up:-"}
    assert set(gaps) == sms | email  # push sent marketing only: not judged


def test_trace_shows_messages_with_template_consent_and_findings(tmp_path, warehouse, vault, settings):
    from reports.trace import build_trace, render_html

    marketing = msg("after-stop", 5, trigger_event_id="", template_id="T-MKT", purpose="marketing")
    load(tmp_path, warehouse, vault, settings, events=[ev("E1", "out_for_delivery", 0)],
         templates=[tpl("T-OFD"), tpl("T-MKT", purpose="marketing", status="")],
         consents=[consent("W1", 1, "withdrawn", purpose="all", source="sms_stop")],
         messages=[msg("told", 2 / 60), marketing])  # fmt: skip
    check(warehouse, settings, "message.without_consent")
    trace = build_trace(warehouse, "O1", at=T0, network_timezone="UTC")
    by_id = {m["message_id"]: m for m in trace["messages"]}
    assert by_id["told"]["consent_allows"] is True and by_id["told"]["template_in_force"] is True
    assert by_id["after-stop"]["consent_allows"] is False and by_id["after-stop"]["consent_state"] == "withdrawn"
    assert by_id["after-stop"]["findings"] == ["message.without_consent"]
    kinds = [t["kind"] for t in trace["timeline"]]
    assert kinds.count("message") == 2
    page = render_html(trace)
    assert "after-stop" in page and "not allowed" in page
    assert MESSAGE["body"] not in page and "7946" not in page  # neither body nor address
