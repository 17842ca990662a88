"""Hand-written boundary tests for every check of CONTRACT §4, on small constructed landing folders."""

import datetime as dt
import json
import math
from pathlib import Path

import pytest

from lastmile.settings import Settings
from quality_checks import run_checks
from tests.conftest import NOW
from tests.landing_kit import EVENT, ORDER, PROOF, row, write_blob, write_csv
from tests.test_ingest import ingest

T0 = dt.datetime(2026, 10, 5, 10, 0, tzinfo=dt.UTC)


def ts(minutes: float = 0, *, base: dt.datetime = T0) -> str:
    return (base + dt.timedelta(minutes=minutes)).isoformat()


def ev(event_id: str, status: str, at: float, order: str = "O1", **kw: object) -> dict[str, str]:
    fields: dict[str, object] = {"event_id": event_id, "order_id": order, "status": status,
                                 "occurred_at": ts(at), "recorded_at": ts(at + 1)}  # fmt: skip
    if status in ("delivery_attempted", "exception") and "exception_code" not in kw:
        fields["exception_code"] = "recipient_unavailable"
    fields.update(kw)
    return row(EVENT, **fields)


def load(tmp_path: Path, warehouse, vault, settings, orders=None, events=None, proofs=None, blobs=()):  # type: ignore[no-untyped-def]
    landing = tmp_path / "landing"
    for name, data in blobs:
        write_blob(landing, name, data)
    write_csv(landing / "orders/a.csv", orders if orders is not None else [row(ORDER)])
    if events:
        write_csv(landing / "events/a.csv", events)
    if proofs:
        write_csv(landing / "proofs/a.csv", proofs)
    ingest(warehouse, landing, vault, settings)


_runs = iter(range(10**6))


def check(conn, settings, check_id: str, as_of: dt.datetime | None = None) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    """Run one check; the findings this run recorded, by entity id."""
    run_id = f"t{next(_runs)}"
    run_checks(conn, settings, run_id=run_id, now=NOW, as_of=as_of, checks=[check_id])
    rows = conn.execute(
        "SELECT entity_id, observed FROM dq_findings WHERE check_id = ? AND run_id = ?", [check_id, run_id]
    ).fetchall()
    return {e: json.loads(o) for e, o in rows}


def test_latency_and_clock_skew_boundaries(tmp_path, warehouse, vault, settings):
    load(tmp_path, warehouse, vault, settings, events=[
        ev("exact", "arrived", 0, recorded_at=ts(15)),
        ev("over", "arrived", 1, recorded_at=ts(16, base=T0 + dt.timedelta(microseconds=1))),
        ev("skew_exact", "arrived", 10, recorded_at=ts(5)),
        ev("skew_over", "arrived", 10, recorded_at=ts(4.99)),
    ])  # fmt: skip
    assert set(check(warehouse, settings, "event.latency")) == {"over"}
    assert set(check(warehouse, settings, "event.clock_skew")) == {"skew_over"}


def test_sequence_gap_boundaries(tmp_path, warehouse, vault, settings):
    load(tmp_path, warehouse, vault, settings, orders=[row(ORDER, order_id=o) for o in ("O1", "O2", "O3", "O4")],
         events=[
             # O1: out_for_delivery at the same instant as the delivery: no gap
             ev("a1", "out_for_delivery", 0, "O1"), ev("a2", "delivered", 0, "O1"),
             # O2: failed attempt, re-attempt next day with a fresh out_for_delivery: no gap
             ev("b1", "out_for_delivery", 0, "O2"), ev("b2", "delivery_attempted", 30, "O2"),
             ev("b3", "out_for_delivery", 24 * 60, "O2"), ev("b4", "delivered", 24 * 60 + 20, "O2"),
             # O3: re-attempt next day without a fresh out_for_delivery: the re-attempt is a gap
             ev("c1", "out_for_delivery", 0, "O3"), ev("c2", "delivery_attempted", 30, "O3"),
             ev("c3", "delivered", 24 * 60 + 20, "O3"),
             # O4: no out_for_delivery at all, and one only after the attempt
             ev("d1", "delivery_attempted", 0, "O4"), ev("d2", "out_for_delivery", 5, "O4"),
         ])  # fmt: skip
    found = check(warehouse, settings, "event.sequence_gap")
    assert set(found) == {"c3", "d1"}
    assert found["c3"]["previous_attempt_at"] is not None


def test_orphan_conflict_after_terminal_and_code_rules(tmp_path, warehouse, vault, settings):
    load(tmp_path, warehouse, vault, settings, events=[
        ev("e1", "out_for_delivery", 0), ev("e2", "delivered", 10),
        ev("same_instant", "exception", 10, exception_code="damaged"),
        ev("late", "arrived", 11),
        ev("orphan", "arrived", 0, "NOPE"),
        ev("no_code", "delivery_attempted", 0, "NOPE", exception_code=""),
        ev("bad_code", "exception", 0, "NOPE", exception_code="aliens"),
        ev("code_on_delivery", "arrived", 0, "NOPE", exception_code="weather"),
        ev("e1", "out_for_delivery", 0, courier_id="C2"),  # conflict: first e1 is flagged
    ])  # fmt: skip
    assert set(check(warehouse, settings, "event.orphan")) == {"orphan", "no_code", "bad_code", "code_on_delivery"}
    assert set(check(warehouse, settings, "event.exception_code_invalid")) == {
        "no_code",
        "bad_code",
        "code_on_delivery",
    }
    assert set(check(warehouse, settings, "event.after_terminal")) == {"late"}
    assert set(check(warehouse, settings, "event.conflict")) == {"e1"}


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def test_proof_missing_window_and_invalid_kinds(tmp_path, warehouse, vault, settings):
    import hashlib

    digest = hashlib.sha256(PNG).hexdigest()
    orders = [row(ORDER, order_id="O1", service_type="signature_required"),
              row(ORDER, order_id="O2", service_type="signature_required"),
              row(ORDER, order_id="O3", service_type="high_value")]  # fmt: skip
    events = [ev("a", "out_for_delivery", 0, "O1"), ev("b", "delivered", 10, "O1"),
              ev("c", "out_for_delivery", 0, "O2"), ev("d", "delivered", 10, "O2"),
              ev("e", "out_for_delivery", 0, "O3"), ev("f", "delivered", 10, "O3")]  # fmt: skip
    proofs = [
        row(PROOF, proof_id="P30", order_id="O1", kind="signature", captured_at=ts(40), blob_path="s.png",
            sha256=digest.upper()),
        row(PROOF, proof_id="P31", order_id="O2", kind="signature", captured_at=ts(41), blob_path="s.png",
            sha256=digest),
        row(PROOF, proof_id="P3s", order_id="O3", kind="signature", captured_at=ts(-20), blob_path="s.png",
            sha256=digest),
        row(PROOF, proof_id="bad_digest", order_id="O3", kind="photo", captured_at=ts(11), blob_path="s.png",
            sha256="00" * 32),
        row(PROOF, proof_id="no_digest", order_id="O3", kind="photo", captured_at=ts(11), blob_path="s.png"),
        row(PROOF, proof_id="empty", order_id="O3", kind="photo", captured_at=ts(11), blob_path="e.png",
            sha256=hashlib.sha256(b"").hexdigest()),
        row(PROOF, proof_id="absent", order_id="O3", kind="photo", captured_at=ts(11), blob_path="gone.png"),
        row(PROOF, proof_id="text", order_id="O3", kind="photo", captured_at=ts(11), blob_path="t.png",
            sha256=hashlib.sha256(b"text").hexdigest()),
        row(PROOF, proof_id="no_path", order_id="O3", kind="id_check", captured_at=ts(11), blob_path=""),
        row(PROOF, proof_id="pin", order_id="O3", kind="pin", captured_at=ts(11), blob_path=""),
    ]  # fmt: skip
    load(tmp_path, warehouse, vault, settings, orders=orders, events=events, proofs=proofs,
         blobs=[("s.png", PNG), ("e.png", b""), ("t.png", b"text")])  # fmt: skip
    missing = check(warehouse, settings, "proof.missing")
    assert set(missing) == {"O2"}  # 30 min after delivery is within; 31 min is not; before delivery counts
    assert missing["O2"]["missing_kinds"] == ["signature"]
    invalid = check(warehouse, settings, "proof.invalid")
    assert {k: v["problem"] for k, v in invalid.items()} == {
        "bad_digest": "sha256 mismatch", "no_digest": "sha256 missing", "empty": "blob empty",
        "absent": "blob absent", "text": "not PNG or JPEG", "no_path": "no blob_path",
    }  # fmt: skip


def haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371008.8 * math.asin(math.sqrt(a))


def test_distance_mismatch_and_geocode_and_contact(tmp_path, warehouse, vault, settings):
    lat, lon = 51.5155, -0.0722
    near = lat + 0.0022  # ~245 m north
    far = lat + 0.0023  # ~256 m north
    assert haversine(lat, lon, near, lon) < 250 < haversine(lat, lon, far, lon)
    load(tmp_path, warehouse, vault, settings, orders=[
        row(ORDER), row(ORDER, order_id="O2", address_lat="", address_lon=""),
        row(ORDER, order_id="O3", recipient_phone="0044 20 7946 0958", recipient_email="a@b"),
        row(ORDER, order_id="O4", recipient_phone="(+44) 20.7946-0958", recipient_email=""),
        row(ORDER, order_id="O5", recipient_phone="", recipient_email="x@mail.example"),
    ], events=[
        ev("near", "delivered", 0, lat=near, lon=lon), ev("far", "delivery_attempted", 0, lat=far, lon=lon),
        ev("far_scan", "arrived", 0, lat=far, lon=lon), ev("ungeo", "delivered", 0, "O2", lat=far, lon=lon),
    ])  # fmt: skip
    found = check(warehouse, settings, "address.distance_mismatch")
    assert set(found) == {"far"}
    assert found["far"]["distance_m"] == pytest.approx(haversine(lat, lon, far, lon), abs=0.1)
    assert set(check(warehouse, settings, "address.ungeocoded")) == {"O2"}
    assert set(check(warehouse, settings, "order.contact_unreachable")) == {"O3"}


def test_stalled_exactly_at_threshold_is_not_stalled(tmp_path, warehouse, vault, settings):
    load(tmp_path, warehouse, vault, settings, orders=[row(ORDER, order_id=o) for o in ("O1", "O2", "O3")],
         events=[ev("a", "out_for_delivery", 0, "O1"), ev("b", "arrived", -1, "O2"),
                 ev("c", "dispatched", -5, "O3"), ev("d", "delivered", -2, "O3")])  # fmt: skip
    as_of = T0 + dt.timedelta(hours=12)
    assert set(check(warehouse, settings, "event.stalled", as_of)) == {"O2"}
    found = check(warehouse, settings, "event.stalled", as_of + dt.timedelta(seconds=1))
    assert set(found) == {"O1", "O2"}
    assert found["O1"]["latest_status"] == "out_for_delivery"


def test_exception_unresolved_window(tmp_path, warehouse, vault, settings):
    day = 24 * 60
    load(tmp_path, warehouse, vault, settings, orders=[row(ORDER, order_id=o) for o in ("O1", "O2", "O3", "O4")],
         events=[
             ev("a", "delivery_attempted", 0, "O1"),                      # never resolved
             ev("b", "delivery_attempted", 0, "O2"), ev("b2", "delivered", 7 * day, "O2"),  # exactly 7 days
             ev("c", "exception", 0, "O3"), ev("c2", "returned_to_sender", 7 * day + 1, "O3"),  # too late
             ev("d", "delivery_attempted", day, "O4"),                    # only 6 days before as_of
         ])  # fmt: skip
    as_of = T0 + dt.timedelta(days=7)
    assert set(check(warehouse, settings, "exception.unresolved", as_of)) == {"O1", "O3"}


def test_repeat_failure_address_key_ignores_case_and_punctuation(tmp_path, warehouse, vault, settings):
    load(tmp_path, warehouse, vault, settings, orders=[
        row(ORDER, order_id="O1", address_line="12, Baker Street ", postcode=" nw1 6XE"),
        row(ORDER, order_id="O2", address_line="12 BAKER STREET.", postcode="NW1 6XE"),
        row(ORDER, order_id="O3", address_line="12 Baker   Street", postcode="nw1 6xe"),
    ], events=[
        ev("a", "delivery_attempted", 0, "O1", exception_code="address_not_found"),
        ev("b", "delivery_attempted", 60, "O2", exception_code="address_mismatch"),
        ev("c", "exception", 120, "O3", exception_code="address_not_found"),
        ev("d", "delivery_attempted", 180, "O1", exception_code="recipient_unavailable"),
    ])  # fmt: skip
    found = check(warehouse, settings, "address.repeat_failure", T0 + dt.timedelta(days=1))
    assert set(found) == {"nw1 6xe|12 baker street"}
    assert (found["nw1 6xe|12 baker street"]["events"], found["nw1 6xe|12 baker street"]["orders"]) == (3, 3)
    # 28-day window: as_of exactly 28 days after the first event leaves it out (window is (as_of-28d, as_of])
    assert check(warehouse, settings, "address.repeat_failure", T0 + dt.timedelta(days=28)) == {}


def test_hotspot_z_score_by_hand(tmp_path, warehouse, vault, settings):
    lat, lon = 51.5155, -0.0722
    far = lat + 0.01
    orders = [row(ORDER, order_id=f"O{i}", zone_id="Z1" if i < 40 else "Z2") for i in range(80)]
    events = []
    for i in range(80):
        bad = (i < 6) or (i in (45, 50))  # zone Z1: 6 of 40 far; zone Z2: 2 of 40 far
        events.append(ev(f"e{i}", "delivered", i, f"O{i}", lat=far if bad else lat, lon=lon,
                         courier_id="C1" if i < 40 else "C2"))  # fmt: skip
    load(tmp_path, warehouse, vault, settings, orders=orders, events=events)
    p = 8 / 80
    z1 = (6 / 40 - p) / math.sqrt(p * (1 - p) / 40)
    assert z1 < 3  # ~1.05: not a hotspot with 40 events
    found = check(warehouse, settings, "address.hotspot", T0 + dt.timedelta(days=1))
    assert found == {}
    run = warehouse.execute("SELECT evaluated, failed FROM dq_check_runs WHERE check_id = 'address.hotspot'").fetchone()
    assert run == (4, 0)
    # now make zone Z1 a hotspot: a much smaller threshold
    strict = Settings(hotspot_z=1.0)
    found = check(warehouse, strict, "address.hotspot", T0 + dt.timedelta(days=1))
    assert set(found) == {"zone:Z1", "courier:C1"}
    assert found["zone:Z1"]["z"] == pytest.approx(z1)
    assert (found["zone:Z1"]["n"], found["zone:Z1"]["f"]) == (40, 6)


def test_rerun_replaces_findings_and_keeps_history(tmp_path, warehouse, vault, settings):
    load(tmp_path, warehouse, vault, settings, events=[ev("x", "arrived", 0, recorded_at=ts(30))])
    check(warehouse, settings, "event.latency")
    check(warehouse, settings, "event.latency")
    assert warehouse.execute("SELECT count(*) FROM dq_findings").fetchone() == (1,)
    assert warehouse.execute(
        "SELECT count(*), sum(failed) FROM dq_check_runs WHERE check_id = 'event.latency'"
    ).fetchone() == (2, 2)
