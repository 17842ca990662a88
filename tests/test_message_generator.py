"""The generator's §8 folders: every file parses, bad rows carry their defect, addresses take several spellings,
the experiment has both arms, and a clean network writes messages that trip nothing."""

import csv
import json
from pathlib import Path

from lastmile.generator import FaultRates, generate
from lastmile.generator.messages import CONSENT_COLUMNS, MESSAGE_COLUMNS, TEMPLATE_COLUMNS
from lastmile.messages import normalize_address


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_three_folders_with_their_faults(tmp_path: Path) -> None:
    out = tmp_path / "landing"
    generate(out, days=4, orders_per_day=40, seed=5, timezone="Europe/London")
    truth = [json.loads(line) for line in (out / "ground_truth.jsonl").read_text().splitlines()]
    messages = [r for p in sorted((out / "messages").glob("messages-*.csv")) for r in _csv(p)]
    assert messages and list(messages[0]) == list(MESSAGE_COLUMNS)
    assert {m["channel"] for m in messages} == {"sms", "email", "push"}
    assert {m["variant"] for m in messages if m["variant"]} == {"short", "friendly"}
    assert {m["purpose"] for m in messages} == {"transactional", "marketing"}
    registry = _csv(out / "templates" / "registry.csv")
    assert list(registry[0]) == list(TEMPLATE_COLUMNS)
    consents = _csv(out / "consents" / "consents.csv")
    assert list(consents[0]) == list(CONSENT_COLUMNS)
    # consent addresses are spelled otherwise than the messages' yet normalise to the same
    sent = {(m["channel"], normalize_address(m["channel"], m["address"])) for m in messages}
    spelled = [
        c for c in consents if (c["channel"], c["address"]) not in {(m["channel"], m["address"]) for m in messages}
    ]
    assert spelled and all((c["channel"], normalize_address(c["channel"], c["address"])) in sent for c in spelled)
    bad = {(r["file"], r["row_number"]): r["reason"] for r in truth if r["type"] == "quarantine"}
    resent = _csv(out / "messages" / "resent.csv")
    assert bad[("messages/resent.csv", 2)] == "conflict" and resent[1]["message_id"] == resent[0]["message_id"]
    original = next(m for m in messages if m["message_id"] == resent[0]["message_id"])
    assert {**resent[0], "sent_at": None} == {**original, "sent_at": None}  # a duplicate (same instant, any offset)
    assert bad[("messages/resent.csv", 3)] == "unknown_channel" and resent[2]["channel"] == "whatsapp"
    assert bad[("messages/resent.csv", 5)] == "missing_required" and resent[4]["order_id"] == ""
    lines = (out / "consents" / "preference-center.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["state"] == "paused" and bad[("consents/preference-center.jsonl", len(lines))]
    assert bad[("templates/registry.csv", len(registry))] == "bad_number"


def test_clean_network_messages_trip_nothing(tmp_path: Path) -> None:
    out = tmp_path / "clean"
    generate(out, days=5, orders_per_day=30, seed=9, fault_rates=FaultRates.none())
    assert (out / "ground_truth.jsonl").read_text() == ""
    assert sum(1 for p in (out / "messages").glob("*.csv") for _ in _csv(p)) > 100
    assert not (out / "messages" / "resent.csv").exists()
