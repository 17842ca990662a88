"""The sample-network generator: determinism, parseable files, real images, complete ground truth."""

import csv
import datetime as dt
import hashlib
import io
import json
import math
import zoneinfo
from pathlib import Path
from typing import Any

import duckdb
import pytest
from PIL import Image

from lastmile.codes import (
    EXCEPTION_CODES,
    ORDER_TYPES,
    PROOF_KINDS,
    QUARANTINE_REASONS,
    SERVICE_TYPES,
    STATUSES,
    TERMINAL_STATUSES,
)
from lastmile.errors import LastmileError
from lastmile.generator import FaultRates, generate
from lastmile.generator.core import EVENT_COLUMNS, ORDER_COLUMNS, PROOF_COLUMNS

CHECK_IDS = (
    "event.sequence_gap", "event.latency", "event.clock_skew", "event.orphan", "event.exception_code_invalid",
    "event.conflict", "event.after_terminal", "proof.missing", "proof.invalid", "address.distance_mismatch",
    "address.ungeocoded", "order.contact_unreachable", "event.stalled", "exception.unresolved",
    "address.repeat_failure", "address.hotspot",
    "return.acceptance_missing", "return.unlinked", "return.before_delivery", "return.conflicting_update",
    "return.pickup_overdue",
    "partner.unmapped_code", "partner.new_code", "partner.reason_drift",
    "message.without_consent", "message.quiet_hours", "message.template_invalid", "message.template_mismatch",
    "message.premature", "message.after_terminal", "message.duplicate", "message.missing",
    "template.incomplete", "template.review_missing", "template.coverage_gap",
)  # fmt: skip
COLUMNS = {"orders": ORDER_COLUMNS, "events": EVENT_COLUMNS, "proofs": PROOF_COLUMNS}


def _digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _truth(root: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (root / "ground_truth.jsonl").read_text().splitlines() if line]


def _records(path: Path) -> tuple[list[str], list[Any]]:
    """(header, data records) of a table file, numbered as ground truth numbers them (record i at index i-1)."""
    if path.suffix == ".csv":
        rows = [r for r in csv.reader(io.StringIO(path.read_text(encoding="utf-8"))) if r]
        return rows[0], rows[1:]
    if path.suffix == ".jsonl":
        return [], [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rel = duckdb.sql(f"select * from read_parquet('{path}')")
    return list(rel.columns), [list(r) for r in rel.fetchall()]


def _as_dict(header: list[str], record: Any, columns: tuple[str, ...]) -> dict[str, Any] | None:
    """The record as column -> value (None for a malformed one)."""
    if isinstance(record, str):
        try:
            obj = json.loads(record)
        except json.JSONDecodeError:
            return None
        return obj if isinstance(obj, dict) else None
    if len(record) != len(header):
        return None
    return {k: (None if v == "" else v) for k, v in zip(header, record, strict=True)}


def _parses(ts: Any) -> bool:
    if isinstance(ts, dt.datetime):
        return True
    try:
        dt.datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_number(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "landing"
    generate(out, days=10, orders_per_day=60, seed=11)
    return out


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    a = _digest(_gen(tmp_path / "a", seed=3))
    b = _digest(_gen(tmp_path / "b", seed=3))
    c = _digest(_gen(tmp_path / "c", seed=4))
    assert a == b
    assert a.keys() & {"ground_truth.jsonl", "manifest.json"}
    assert a != c


def _gen(out: Path, seed: int, **kw: Any) -> Path:
    generate(out, days=kw.pop("days", 3), orders_per_day=kw.pop("orders_per_day", 25), seed=seed, **kw)
    return out


def test_every_reason_and_check_appears_at_default_rates(network: Path) -> None:
    truth = _truth(network)
    reasons = {r["reason"] for r in truth if r["type"] == "quarantine"}
    checks = {r["check_id"] for r in truth if r["type"] == "check"}
    # unmapped_code: partner feeds; unknown_channel, unknown_state: the §8 folders (tests/test_message_generator.py)
    assert reasons == set(QUARANTINE_REASONS) | {"unmapped_code", "unknown_channel", "unknown_state"}
    assert checks == set(CHECK_IDS)
    lines = (network / "ground_truth.jsonl").read_text().splitlines()
    assert lines == [json.dumps(r, sort_keys=True, separators=(",", ":")) for r in truth]
    manifest = json.loads((network / "manifest.json").read_text())
    assert manifest["arguments"]["days"] == 10
    window = (
        "event.stalled",
        "exception.unresolved",
        "address.hotspot",
        "address.repeat_failure",
        "return.pickup_overdue",
    )
    assert {r["partition_date"] for r in truth if r.get("check_id") in window} == {manifest["as_of"][:10]}


def test_files_parse(network: Path) -> None:
    bad = {(r["file"], r["row_number"]) for r in _truth(network) if r["type"] == "quarantine"}
    seen = {"csv": 0, "jsonl": 0, "parquet": 0}
    for entity, columns in COLUMNS.items():
        for path in sorted((network / entity).rglob("*")):
            if not path.is_file() or path.suffix not in (".csv", ".jsonl", ".parquet"):
                continue
            rel = path.relative_to(network).as_posix()
            if (rel, 0) in bad:
                continue
            seen[path.suffix[1:]] += 1
            header, records = _records(path)
            if path.suffix != ".jsonl":
                assert tuple(header) == columns, rel
            for n, record in enumerate(records, 1):
                row = _as_dict(header, record, columns)
                if (rel, n) in bad:
                    continue
                assert row is not None and set(row) == set(columns), (rel, n)
                for col in columns:
                    if col.endswith("_at") and row[col] is not None:
                        assert _parses(row[col]), (rel, n, col)
    assert all(seen.values()), seen


def test_quarantined_rows_have_their_defect(network: Path) -> None:
    for r in _truth(network):
        if r["type"] != "quarantine" or r["row_number"] == 0 or r["file"].startswith("partners/"):
            continue  # partner payload rows: tests/test_partners.py
        if r["file"].split("/")[0] in ("messages", "consents", "templates"):
            continue  # tests/test_message_generator.py
        path = network / r["file"]
        entity = r["file"].split("/")[0]
        header, records = _records(path)
        row = _as_dict(header, records[r["row_number"] - 1], COLUMNS[entity])
        reason = r["reason"]
        if reason == "malformed_row":
            assert row is None
            continue
        assert row is not None, r
        key = {"orders": "order_id", "events": "event_id", "proofs": "proof_id"}[entity]
        assert row[key] == r["entity_id"]
        if reason == "missing_required":
            assert any(row.get(c, "") is None for c in ("order_id", "status", "occurred_at", "city")) or (
                row.get("order_type") == "return_pickup" and row["original_order_id"] is None
            )
        elif reason == "unknown_order_type":
            assert row["order_type"] not in ORDER_TYPES
        elif reason == "bad_timestamp":
            assert not all(_parses(row[c]) for c in ("occurred_at", "recorded_at"))
        elif reason == "bad_number":
            assert not _is_number(row["lat"])
        elif reason == "unknown_service_type":
            assert row["service_type"] not in SERVICE_TYPES
        elif reason == "unknown_country":
            assert len(row["country"]) != 2
        elif reason == "unknown_status":
            assert row["status"] not in STATUSES
        elif reason == "unknown_source":
            assert row["source"] not in ("driver_app", "dispatch", "support")
        elif reason == "unknown_kind":
            assert row["kind"] not in PROOF_KINDS
        elif reason == "partial_coordinates":
            assert (row["lat"] is None) != (row["lon"] is None)
        elif reason == "partial_window":
            assert (row["window_start"] is None) != (row["window_end"] is None)
        elif reason == "window_not_ordered":
            assert row["window_start"] > row["window_end"]  # same offset style within a row
        elif reason == "blob_path_escape":
            assert row["blob_path"].startswith(("/", ".."))
        elif reason == "conflict":
            assert row["proof_id" if entity == "proofs" else "event_id"] == r["entity_id"]


def _proof_rows(root: Path) -> dict[str, dict[str, Any]]:
    bad = {(r["file"], r["row_number"]) for r in _truth(root) if r["type"] == "quarantine"}
    proofs: dict[str, dict[str, Any]] = {}
    for path in sorted((root / "proofs").iterdir()):
        header, records = _records(path)
        rel = path.relative_to(root).as_posix()
        for n, record in enumerate(records, 1):
            row = _as_dict(header, record, PROOF_COLUMNS)
            if (rel, n) not in bad and row is not None:
                proofs.setdefault(row["proof_id"], row)
    return proofs


def test_blobs_are_real_images_except_the_invalid_proofs(network: Path) -> None:
    invalid = {r["entity_id"] for r in _truth(network) if r.get("check_id") == "proof.invalid"}
    proofs = _proof_rows(network)
    assert invalid
    for pid, row in proofs.items():
        ok = True
        if row["kind"] == "pin":
            continue
        path = network / "blobs" / row["blob_path"] if row["blob_path"] else None
        if path is None or not path.is_file() or path.stat().st_size == 0:
            ok = False
        else:
            data = path.read_bytes()
            ok = hashlib.sha256(data).hexdigest() == row["sha256"] and data[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0")
            if ok:
                with Image.open(path) as img:
                    img.verify()
                    assert img.format == ("PNG" if row["kind"] == "signature" else "JPEG")
        assert ok == (pid not in invalid), pid
    files = [p for p in (network / "blobs").rglob("*") if p.is_file()]
    assert len(files) >= len(proofs) * 0.8


def test_clean_network_trips_nothing(tmp_path: Path) -> None:
    out = _gen(tmp_path / "clean", seed=5, days=9, orders_per_day=40, fault_rates=FaultRates.none(),
               timezone="Europe/London", start=dt.date(2026, 10, 20))  # fmt: skip
    assert _truth(out) == []
    assert not (out / "orders" / "notes.txt").exists()
    texts = [p.read_text() for p in (out / "events").rglob("*.csv")]
    assert any("+01:00" in t or "+00:00" in t for t in texts)


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(LastmileError, match="days"):
        generate(tmp_path / "x", days=0, orders_per_day=5, seed=1)
    with pytest.raises(LastmileError, match="orders per day"):
        generate(tmp_path / "x", days=1, orders_per_day=0, seed=1)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    with pytest.raises(LastmileError, match="not empty"):
        generate(tmp_path / "full", days=1, orders_per_day=5, seed=1)
    with pytest.raises(LastmileError, match="timezone"):
        generate(tmp_path / "y", days=1, orders_per_day=5, seed=1, timezone="Mars/Olympus")
    with pytest.raises(ValueError, match=r"event\.latenzy"):
        FaultRates.from_mapping({"event.latenzy": 0.1})
    with pytest.raises(ValueError, match="between 0 and 1"):
        FaultRates.from_mapping({"event.latency": 2})
    assert FaultRates.from_mapping({"event.latency": 0.5})["event.latency"] == 0.5
    assert "address.hotspot" in FaultRates.names()


def test_tiny_network_and_progress(tmp_path: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    summary = generate(tmp_path / "t", days=1, orders_per_day=1, seed=2, progress=lambda *a: calls.append(a))
    assert calls[-1] == ("generate", 1, 1)
    assert summary.orders >= 1 and summary.events >= 1
    assert summary.as_of.tzinfo is not None


def _ts(value: Any, tz: dt.tzinfo) -> int:
    if isinstance(value, dt.datetime):
        return int(value.timestamp())
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)).timestamp())


def test_per_event_ground_truth_matches_the_files(network: Path, tmp_path: Path) -> None:
    _check_per_event_truth(network, dt.UTC)
    london = _gen(tmp_path / "london", seed=8, days=6, orders_per_day=40, timezone="Europe/London",
                  start=dt.date(2026, 10, 21))  # fmt: skip
    _check_per_event_truth(london, zoneinfo.ZoneInfo("Europe/London"))


def _check_per_event_truth(network: Path, tz: dt.tzinfo) -> None:
    """Read the event files as ingest must (path order, first row wins, quarantined rows left out) and
    recompute the per-event checks that need no other table; they must equal the ground truth."""
    truth = _truth(network)
    bad = {(r["file"], r["row_number"]) for r in truth if r["type"] == "quarantine"}
    conflicts = {r["entity_id"] for r in truth if r.get("check_id") == "event.conflict"}
    events: dict[str, dict[str, Any]] = {}
    for path in sorted(p for p in (network / "events").rglob("*") if p.is_file()):
        rel = path.relative_to(network).as_posix()
        if (rel, 0) in bad:
            continue
        header, records = _records(path)
        for n, record in enumerate(records, 1):
            if (rel, n) in bad:
                continue
            row = _as_dict(header, record, EVENT_COLUMNS)
            assert row is not None
            row["occ"], row["rec"] = _ts(row["occurred_at"], tz), _ts(row["recorded_at"], tz)
            value = {k: row[k] for k in ("order_id", "status", "exception_code", "occ", "rec", "courier_id")}
            first = events.setdefault(row["event_id"], value)
            assert first == value, (rel, n)  # a re-sent row is a duplicate by value, never a conflict
    order_ids: set[str] = set()
    for path in sorted((network / "orders").glob("*.csv")):
        header, records = _records(path)
        rel = path.relative_to(network).as_posix()
        order_ids |= {r[0] for n, r in enumerate(records, 1) if (rel, n) not in bad}
    found: set[tuple[str, str]] = {("event.conflict", e) for e in conflicts}
    terminal: dict[str, int] = {}
    for e in events.values():
        if e["status"] in TERMINAL_STATUSES:
            terminal[e["order_id"]] = min(terminal.get(e["order_id"], e["occ"]), e["occ"])
    for eid, e in events.items():
        if e["rec"] - e["occ"] > 15 * 60:
            found.add(("event.latency", eid))
        if e["occ"] - e["rec"] > 5 * 60:
            found.add(("event.clock_skew", eid))
        if e["order_id"] not in order_ids:
            found.add(("event.orphan", eid))
        needs = e["status"] in ("delivery_attempted", "exception")
        if (needs and e["exception_code"] is None) or (e["exception_code"] is not None and not needs):
            found.add(("event.exception_code_invalid", eid))
        if needs and e["exception_code"] not in (None, *EXCEPTION_CODES):
            found.add(("event.exception_code_invalid", eid))
        if e["order_id"] in terminal and e["occ"] > terminal[e["order_id"]]:
            found.add(("event.after_terminal", eid))
    kinds = {k for k, _ in found}
    expected = {(r["check_id"], r["entity_id"]) for r in truth if r.get("check_id") in kinds}
    assert found == expected
    manifest = json.loads((network / "manifest.json").read_text())
    assert _ts(manifest["as_of"], tz) == max(e["rec"] for e in events.values())
