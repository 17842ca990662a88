"""Retention of message bodies (message:<id>, the order's clock) and consent addresses (consent:<id>, the
record's own `at`) in plan, run, ledger and certificate (CONTRACT §6, §8)."""

import datetime as dt

import pytest

from lastmile.errors import VaultError
from retention.purge import verify_certificate
from tests.landing_kit import EVENT, ORDER, row, write_csv
from tests.messages_kit import CONSENT, MESSAGE, TEMPLATE
from tests.retention_kit import ledger, run
from tests.test_ingest import ingest

DELIVERED = dt.datetime(2026, 10, 5, 11, 0, tzinfo=dt.UTC)
CONSENT_AT = dt.datetime(2026, 10, 1, 9, 0, tzinfo=dt.UTC)


def test_message_and_consent_clocks(tmp_path, home, settings, warehouse, vault):
    landing = tmp_path / "landing"
    write_csv(landing / "orders/a.csv", [row(ORDER)])
    delivered = row(EVENT, event_id="D1", status="delivered", occurred_at=DELIVERED.isoformat(),
                    recorded_at=DELIVERED.isoformat())  # fmt: skip
    write_csv(landing / "events/a.csv", [delivered])
    write_csv(landing / "messages/a.csv", [row(MESSAGE)])
    write_csv(landing / "consents/a.csv", [row(CONSENT, at=CONSENT_AT.isoformat())])
    write_csv(landing / "templates/a.csv", [row(TEMPLATE)])
    ingest(warehouse, landing, vault, settings)
    body_due = DELIVERED + dt.timedelta(days=90)
    consent_due = CONSENT_AT + dt.timedelta(days=2190)

    first = run(warehouse, vault, home, settings, body_due - dt.timedelta(seconds=1), "r1")
    assert ledger(warehouse, "r1")["message:M1"] == "retained"
    assert ledger(warehouse, "r1")["consent:K1"] == "retained"
    second = run(warehouse, vault, home, settings, body_due, "r2")
    assert ledger(warehouse, "r2")["message:M1"] == "purged"
    with pytest.raises(VaultError):
        vault.open("message:M1")
    assert ledger(warehouse, "r2")["consent:K1"] == "retained"
    run(warehouse, vault, home, settings, consent_due - dt.timedelta(seconds=1), "r3")
    assert ledger(warehouse, "r3")["consent:K1"] == "retained"
    last = run(warehouse, vault, home, settings, consent_due, "r4")
    assert ledger(warehouse, "r4")["consent:K1"] == "purged"
    with pytest.raises(VaultError):
        vault.open("consent:K1")
    kinds = dict(warehouse.execute(
        "SELECT artifact_id, artifact_kind FROM retention_ledger WHERE artifact_id IN ('message:M1', 'consent:K1')"
    ).fetchall())  # fmt: skip
    assert kinds == {"message:M1": "message_body", "consent:K1": "consent_record"}
    # the keyed hash and the decision stay: the purged record still answers "was this address opted out?"
    assert warehouse.execute("SELECT address_hash, state FROM consents WHERE consent_id = 'K1'").fetchone() == (
        vault.keyed_hash("+442079460958"), "granted")  # fmt: skip
    public = (home.audit_dir / "signing-key.pub").read_bytes()
    for result in (second, last):
        report = verify_certificate(warehouse, home.vault_dir, vault.keys, result.certificate_path, public)
        assert report.ok, report.checks
    assert first.certificate_path.exists()
