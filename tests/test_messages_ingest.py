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
