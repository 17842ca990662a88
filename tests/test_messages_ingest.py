"""Ingest of messages/, consents/ and templates/ (CONTRACT §8): accounting, idempotency, duplicates and
conflicts, quarantine reasons, keyed hashes of normalised addresses, bodies and consent addresses sealed."""

import json

from lastmile.messages import normalize_address
from tests.landing_kit import EVENT, ORDER, row, write_csv, write_jsonl, write_parquet
from tests.messages_kit import CONSENT, MESSAGE, TEMPLATE
from tests.test_ingest import assert_accounting, ingest, quarantined


def test_normalisation_by_channel() -> None:
    assert normalize_address("sms", "+44 (20) 7946.0958") == "+442079460958"
    assert normalize_address("sms", "+44-20-7946-0958") == "+442079460958"
    assert normalize_address("email", "  Ann.Lee@Example.COM ") == "ann.lee@example.com"
    assert normalize_address("push", " Dev-ID.1 ") == " Dev-ID.1 "
    assert normalize_address("fax", "123") is None
    assert normalize_address("sms", "") is None


def test_three_folders_loaded_quarantined_and_accounted(tmp_path, warehouse, vault, settings):
    landing = tmp_path / "landing"
    write_csv(landing / "orders/a.csv", [row(ORDER)])
    write_csv(landing / "events/a.csv", [row(EVENT)])
    write_csv(landing / "messages/a.csv", [
        row(MESSAGE),                                                       # 1 loaded
        row(MESSAGE),                                                       # 2 duplicate
        row(MESSAGE, delivery_status="failed"),                             # 3 conflict
        row(MESSAGE, message_id="M2", channel="fax"),                       # 4 unknown_channel
        row(MESSAGE, message_id="M3", purpose="promo"),                     # 5 unknown_purpose
        row(MESSAGE, message_id="M4", address=""),                          # 6 missing_required
        row(MESSAGE, message_id="M5", template_version="1.5"),              # 7 bad_number
        row(MESSAGE, message_id="M6", sent_at="yesterday"),                 # 8 bad_timestamp
        row(MESSAGE, message_id="M7", delivery_status="read"),              # 9 unknown_delivery_status
        row(MESSAGE, message_id="M8", body="", trigger_event_id=""),        # 10 loaded, no body
    ])  # fmt: skip
    write_jsonl(landing / "consents/a.jsonl", [
        CONSENT,
        {**CONSENT, "consent_id": "K2", "state": "maybe"},                  # unknown_state
        {**CONSENT, "consent_id": "K3", "purpose": "promo"},                # unknown_purpose
        {**CONSENT, "consent_id": "K4", "at": "2026-02-30T00:00:00Z"},      # bad_timestamp
        {**CONSENT, "consent_id": "K5", "source": ""},                      # missing_required
        {**CONSENT, "address": "+44.20.7946.0958"},                         # same value: duplicate
    ])  # fmt: skip
    write_parquet(landing / "templates/a.parquet", [
        TEMPLATE,
        {**TEMPLATE, "body": "other wording"},                              # conflict
        {**TEMPLATE, "version": "2", "status": "teleported"},               # unknown_status
        {**TEMPLATE, "version": "3", "exception_code": "gremlins"},         # unknown_exception_code
        {**TEMPLATE, "version": "4", "sensitive": "perhaps"},               # bad_boolean
        {**TEMPLATE, "version": "5", "approved_at": ""},                    # missing_required approved_at
        {**TEMPLATE, "version": "x"},                                       # bad_number
        {**TEMPLATE, "version": "6", "status": "delivery_attempted", "exception_code": "*"},
    ])  # fmt: skip
    result = ingest(warehouse, landing, vault, settings)
    assert_accounting(warehouse)
    q = quarantined(warehouse)
    assert {(r, reason) for p, r, reason in q if p == "messages/a.csv"} == {
        (3, "conflict"), (4, "unknown_channel"), (5, "unknown_purpose"), (6, "missing_required"),
        (7, "bad_number"), (8, "bad_timestamp"), (9, "unknown_delivery_status"),
    }  # fmt: skip
    assert {(r, reason) for p, r, reason in q if p == "consents/a.jsonl"} == {
        (2, "unknown_state"), (3, "unknown_purpose"), (4, "bad_timestamp"), (5, "missing_required"),
    }  # fmt: skip
    assert {(r, reason) for p, r, reason in q if p == "templates/a.parquet"} == {
        (2, "conflict"), (3, "unknown_status"), (4, "unknown_exception_code"), (5, "bad_boolean"),
        (6, "missing_required"), (7, "bad_number"),
    }  # fmt: skip
    files = {
        p: (r, ld, d, qq)
        for p, r, ld, d, qq in warehouse.execute(
            "SELECT path, rows_read, rows_loaded, rows_duplicate, rows_quarantined FROM ingest_files"
        ).fetchall()
    }
    assert files["messages/a.csv"] == (10, 2, 1, 7)
    assert files["consents/a.jsonl"] == (6, 1, 1, 4)
    assert files["templates/a.parquet"] == (8, 2, 0, 6)
    assert warehouse.execute("SELECT count(*) FROM messages").fetchone() == (2,)
    assert "messages" in result.touched
    # the address is only a keyed hash of its normalised form, the same for the message and the consent
    (m_hash,) = warehouse.execute("SELECT address_hash FROM messages WHERE message_id = 'M1'").fetchone()
    (k_hash,) = warehouse.execute("SELECT address_hash FROM consents WHERE consent_id = 'K1'").fetchone()
    assert m_hash == k_hash == vault.keyed_hash("+442079460958")
    # bodies and consent addresses are sealed; quarantined message/consent rows are encrypted, template rows not
    assert vault.open("message:M1") == MESSAGE["body"].encode()
    assert not vault.exists("message:M8")
    assert json.loads(vault.open("consent:K1")) == {"channel": "sms", "address": CONSENT["address"]}
    raw = dict(
        warehouse.execute(
            "SELECT entity || ':' || row_number, raw_record IS NULL AND raw_artifact_id IS NOT NULL FROM quarantine"
            " WHERE entity IN ('messages', 'consents', 'templates')"
        ).fetchall()
    )
    assert all(v for k, v in raw.items() if not k.startswith("templates"))
    assert not any(v for k, v in raw.items() if k.startswith("templates"))
    assert warehouse.execute(
        "SELECT template_id, version, exception_code, sensitive FROM templates ORDER BY version").fetchall() == [
        ("T-OFD", 1, None, False), ("T-OFD", 6, "*", False)]  # fmt: skip

    # the same landing folder again changes nothing
    before = {
        t: warehouse.execute(f"SELECT count(*) FROM {t}").fetchone()
        for t in ("messages", "intake_messages", "consents", "templates", "quarantine", "vault_artifacts")
    }
    again = ingest(warehouse, landing, vault, settings, run="r2")
    assert again.files == []
    after = {t: warehouse.execute(f"SELECT count(*) FROM {t}").fetchone() for t in before}
    assert after == before


def test_a_later_file_reusing_a_message_id_is_a_conflict_and_the_first_stays(tmp_path, warehouse, vault, settings):
    landing = tmp_path / "landing"
    write_csv(landing / "messages/a.csv", [row(MESSAGE)])
    write_csv(landing / "messages/b.csv", [row(MESSAGE), row(MESSAGE, body="changed text")])
    ingest(warehouse, landing, vault, settings)
    assert quarantined(warehouse) == {("messages/b.csv", 2, "conflict")}
    assert vault.open("message:M1") == MESSAGE["body"].encode()
    assert_accounting(warehouse)


def test_a_message_dated_outside_the_published_partitions_is_quarantined(tmp_path, warehouse, vault, settings):
    """Messages publish daily like events: one whose sent_at day no partition holds is quarantined
    (`outside_partitions`), its body is not sealed as the message's artifact, and nothing is lost. Consents
    and templates are kept whole (an old grant still decides), whatever their dates."""
    import datetime as dt

    from lastmile.ingest import PUBLISHED_TABLES, ingest_landing, publish_partitions
    from tests.conftest import NOW

    partitions = (dt.date(2026, 10, 1), dt.date(2026, 10, 31))
    landing = tmp_path / "landing"
    write_csv(landing / "orders/a.csv", [row(ORDER)])
    write_csv(landing / "messages/a.csv", [
        row(MESSAGE),                                                               # 2026-10-05: loaded
        row(MESSAGE, message_id="M-first", sent_at="2026-10-01T00:00:00Z"),         # first day, first instant
        row(MESSAGE, message_id="M-before", sent_at="2026-09-30T23:59:59Z"),        # one second before it
        row(MESSAGE, message_id="M-after", sent_at="2026-11-01T00:00:00Z"),         # the day after the last
        row(MESSAGE, message_id="M-far", sent_at="9999-12-31T23:59:59Z"),
    ])  # fmt: skip
    write_csv(landing / "consents/a.csv", [row(CONSENT, at="2019-01-01T00:00:00Z")])
    write_csv(landing / "templates/a.csv", [row(TEMPLATE, approved_at="2019-01-01T00:00:00Z")])
    result = ingest_landing(
        warehouse, landing, vault=vault, settings=settings, run_id="r1", now=NOW, partitions=partitions
    )
    assert result.quarantined_by_reason == {"outside_partitions": 3}
    q = warehouse.execute(
        "SELECT path, entity_id, reason, detail FROM quarantine WHERE entity = 'messages' ORDER BY entity_id"
    ).fetchall()
    assert [r[:3] for r in q] == [
        ("messages/a.csv", "M-after", "outside_partitions"), ("messages/a.csv", "M-before", "outside_partitions"),
        ("messages/a.csv", "M-far", "outside_partitions"),
    ]  # fmt: skip
    assert "2026-09-30" in q[1][3] and "2026-10-01..2026-10-31" in q[1][3]
    assert_accounting(warehouse)
    for table in PUBLISHED_TABLES:
        publish_partitions(warehouse, table, *partitions, now=NOW)
    assert warehouse.execute("SELECT message_id FROM messages ORDER BY 1").fetchall() == [("M-first",), ("M1",)]
    assert not any(vault.exists(f"message:{m}") for m in ("M-before", "M-after", "M-far"))
    assert vault.exists("message:M1") and vault.exists("message:M-first")
    # the quarantined rows are kept sealed whole (the body is personal data), never in plain text
    raw = warehouse.execute(
        "SELECT count(*) FROM quarantine"
        " WHERE entity = 'messages' AND raw_record IS NULL AND raw_artifact_id IS NOT NULL"
    ).fetchone()
    assert raw == (3,)
    assert warehouse.execute("SELECT consent_id FROM consents").fetchall() == [("K1",)]
    assert warehouse.execute("SELECT template_id FROM templates").fetchall() == [("T-OFD",)]
