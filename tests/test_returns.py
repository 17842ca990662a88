"""Returns and pickups (CONTRACT §9): ingest of order_type/original_order_id, the grown status sets in the
existing checks, and hand-written boundary tests for the five return checks."""

import datetime as dt
import math
from pathlib import Path

from lastmile.settings import Settings
from lastmile.warehouse import connect
from quality_checks import CHECKS
from tests.landing_kit import ORDER, PROOF, row, write_csv
from tests.test_checks import T0, check, ev, load, ts
from tests.test_ingest import ingest

DAY = 24 * 60


def ret(order_id: str, original: str | None, created: float = 0, **kw: object) -> dict[str, str]:
    """A return pickup created `created` minutes after T0."""
    return row(ORDER, order_id=order_id, order_type="return_pickup", original_order_id=original,
               created_at=ts(created), window_start="", window_end="", **kw)  # fmt: skip


def delivery(order_id: str, **kw: object) -> dict[str, str]:
    return row(ORDER, order_id=order_id, order_type="", original_order_id="", created_at=ts(-2 * DAY), **kw)


def photo(proof_id: str, order_id: str, at: float, kind: str = "photo") -> dict[str, str]:
    return row(PROOF, proof_id=proof_id, order_id=order_id, kind=kind, captured_at=ts(at), recorded_at=ts(at + 1),
               blob_path="p.jpg")  # fmt: skip


def haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371008.8 * math.asin(math.sqrt(a))


# ------------------------------------------------------------------------------------------------ ingest


def test_ingest_order_type_and_original(tmp_path, warehouse, vault, settings):
    landing = tmp_path / "landing"
    write_csv(landing / "orders" / "a.csv", [
        delivery("D1"),
        row(delivery("D2"), order_type="delivery"),
        ret("R1", "D1"),
        ret("R2", None),  # a return without original_order_id: missing_required
        row(delivery("X1"), order_type="exchange"),  # outside the set
    ])  # fmt: skip
    # the same orders again: an explicit 'delivery' is the same content as a null order_type
    write_csv(
        landing / "orders" / "b.csv", [row(delivery("D1"), order_type="delivery"), delivery("D2"), ret("R1", "D1")]
    )
    result = ingest(warehouse, landing, vault, settings)
    assert (result.rows_read, result.rows_loaded, result.rows_duplicate, result.rows_quarantined) == (8, 3, 3, 2)
    got = warehouse.execute("SELECT order_id, order_type, original_order_id FROM orders ORDER BY 1").fetchall()
    assert got == [("D1", "delivery", None), ("D2", "delivery", None), ("R1", "return_pickup", "D1")]
    quarantined = warehouse.execute("SELECT entity_id, reason, detail FROM quarantine ORDER BY 1").fetchall()
    assert quarantined == [("R2", "missing_required", "original_order_id"),
                           ("X1", "unknown_order_type", "order_type: exchange")]  # fmt: skip
    # a correction of the original is a revision; ingesting the folder again changes nothing
    write_csv(landing / "orders" / "c.csv", [ret("R1", "D2")])
    again = ingest(warehouse, landing, vault, settings)
    assert (again.rows_read, again.rows_revised) == (1, 1)
    assert warehouse.execute("SELECT original_order_id FROM orders WHERE order_id = 'R1'").fetchone() == ("D2",)
    assert ingest(warehouse, landing, vault, settings).rows_read == 0


# ------------------------------------------------------------------------------ grown status sets


def test_picked_up_is_an_attempt_for_distance_sequence_and_hotspot(tmp_path, warehouse, vault, settings):
    lat, lon = 51.5155, -0.0722
    step = 1 / 111_194.9  # degrees of latitude per metre on the contract's sphere
    at_threshold, past = lat + 249.999 * step, lat + 251 * step
    assert 249.99 < haversine(lat, lon, at_threshold, lon) <= 250 < haversine(lat, lon, past, lon) < 251.01
    load(tmp_path, warehouse, vault, settings, orders=[delivery("D1"), ret("R1", "D1"), ret("R2", "D1")], events=[
        ev("r1o", "out_for_delivery", 0, "R1"), ev("r1p", "picked_up", 10, "R1", lat=past, lon=lon),
        ev("r2p", "picked_up", 10, "R2", lat=at_threshold, lon=lon),  # no out_for_delivery before it: a gap
    ])  # fmt: skip
    found = check(warehouse, settings, "address.distance_mismatch")
    assert set(found) == {"r1p"}  # 1 m past the threshold; exactly at it passes
    assert set(check(warehouse, settings, "event.sequence_gap")) == {"r2p"}
    run = warehouse.execute(
        "SELECT evaluated FROM dq_check_runs WHERE check_id = 'address.distance_mismatch'"
    ).fetchone()
    assert run == (2,)
    check(warehouse, Settings(hotspot_z=0.1, hotspot_min_failures=1), "address.hotspot", T0 + dt.timedelta(days=1))
    hot = warehouse.execute("SELECT evaluated FROM dq_check_runs WHERE check_id = 'address.hotspot'").fetchone()
    assert hot == (2,)  # zone Z1 and courier C1, over the two picked_up events


def test_return_received_is_terminal(tmp_path, warehouse, vault, settings):
    load(tmp_path, warehouse, vault, settings, orders=[delivery("D1"), ret("R1", "D1"), ret("R2", "D1")], events=[
        # R1: return_received is its first terminal event; a later scan is after_terminal
        ev("a1", "out_for_delivery", 0, "R1"), ev("a2", "delivery_attempted", 10, "R1"),
        ev("a3", "out_for_delivery", DAY, "R1"), ev("a4", "picked_up", DAY + 10, "R1"),
        ev("a5", "return_received", 7 * DAY + 10, "R1"), ev("a6", "in_transit", 7 * DAY + 11, "R1"),
        # R2: picked up (not terminal) and never received back: still unresolved after 7 days
        ev("b1", "out_for_delivery", 0, "R2"), ev("b2", "delivery_attempted", 10, "R2"),
        ev("b3", "out_for_delivery", DAY, "R2"), ev("b4", "picked_up", DAY + 10, "R2"),
    ])  # fmt: skip
    assert set(check(warehouse, settings, "event.after_terminal")) == {"a6"}
    # R1 resolved exactly 7 days after its first failure (return_received is terminal); R2 never
    assert set(check(warehouse, settings, "exception.unresolved", T0 + dt.timedelta(days=8))) == {"R2"}
    assert check(warehouse, settings, "event.stalled", T0 + dt.timedelta(days=8)) == {}


def test_proof_missing_is_for_delivery_orders_only(tmp_path, warehouse, vault, settings):
    # a return order with a (wrong) delivered event and no proof: proof.missing does not judge it
    load(tmp_path, warehouse, vault, settings, orders=[delivery("D1"), ret("R1", "D1")], events=[
        ev("d", "delivered", 0, "D1"), ev("r", "delivered", 0, "R1"),
    ])  # fmt: skip
    assert set(check(warehouse, settings, "proof.missing")) == {"D1"}


# ------------------------------------------------------------------------------------ the five checks


def test_acceptance_missing_window_is_inclusive_either_side(tmp_path, warehouse, vault, settings):
    orders = [delivery("D1"), *(ret(f"R{i}", "D1") for i in range(1, 7))]
    events = [ev(f"p{i}", "picked_up", 60, f"R{i}") for i in range(1, 7)] + [
        ev("p1b", "picked_up", 200, "R1"),  # a second pickup: only the first counts
    ]
    proofs = [
        photo("f1", "R1", 90),  # exactly 30 min after the first pickup
        photo("f2", "R2", 30),  # exactly 30 min before
        photo("f3", "R3", 90 + 1 / 60),  # 30 min 1 s after
        photo("f5", "R5", 60, kind="signature"),  # not a photo
        photo("f6", "R6", 61),
    ]  # R4: no proof at all
    load(tmp_path, warehouse, vault, settings, orders=orders, events=events, proofs=proofs, blobs=[("p.jpg", b"x")])
    found = check(warehouse, settings, "return.acceptance_missing")
    assert set(found) == {"R3", "R4", "R5"}
    assert found["R3"]["nearest_photo_gap_s"] == 1800 + 1 and found["R4"]["photos"] == 0
    # a delivery order's picked_up (a misuse) is not judged by this check
    assert "D1" not in found
    strict = Settings(return_acceptance_window_minutes=1)  # R6's photo 60 s after the pickup: still in
    assert set(check(warehouse, strict, "return.acceptance_missing")) == {"R1", "R2", "R3", "R4", "R5"}


def test_unlinked_and_before_delivery(tmp_path, warehouse, vault, settings):
    orders = [
        delivery("D1"), delivery("D2"), delivery("D3"),
        ret("R1", "D1", created=60),  # delivered exactly at its creation: linked, after delivery
        ret("R2", "D2", created=60),  # its original delivered one second after it was created
        ret("R3", "NOPE", created=60),  # original not in orders
        ret("R4", "R1", created=60),  # original is itself a return
        ret("R5", "R5", created=60),  # names itself
        ret("R6", "D3", created=60),  # the original was never delivered
    ]  # fmt: skip
    events = [ev("d1", "delivered", 60, "D1"), ev("d2", "delivered", 60 + 1 / 60, "D2"),
              ev("d3", "delivery_attempted", 0, "D3"), ev("n", "delivered", 0, "NOPE")]  # fmt: skip
    load(tmp_path, warehouse, vault, settings, orders=orders, events=events)
    unlinked = check(warehouse, settings, "return.unlinked")
    assert set(unlinked) == {"R3", "R4", "R5"}
    assert unlinked["R4"]["original_order_type"] == "return_pickup" and not unlinked["R3"]["original_found"]
    before = check(warehouse, settings, "return.before_delivery")
    # R3: its original is missing (its orphan 'delivered' does not count); R4/R5: the original is a return
    assert set(before) == {"R2", "R3", "R4", "R5", "R6"}
    assert warehouse.execute(
        "SELECT evaluated FROM dq_check_runs WHERE check_id = 'return.before_delivery'"
    ).fetchone() == (6,)


def test_conflicting_update_one_second_after_the_pickup(tmp_path, warehouse, vault, settings):
    orders = [delivery("D1"), delivery("D2"), ret("R1", "D1"), ret("R1b", "D1"), ret("R2", "D2")]
    events = [
        ev("d1", "delivered", -60, "D1"),
        ev("r1", "picked_up", 100, "R1"), ev("r1b", "picked_up", 50, "R1b"),  # the earliest first pickup counts
        ev("c0", "out_for_delivery", 50, "D1"),  # exactly at the earliest pickup: not after it
        ev("c1", "delivered", 50 + 1 / 60, "D1"),  # one second after: conflicting
        ev("c2", "arrived", 200, "D1"),  # not a conflicting status
        ev("c3", "delivery_attempted", 200, "D1"),
        ev("e1", "out_for_delivery", 300, "D2"),  # D2's return was never picked up: nothing conflicts
    ]  # fmt: skip
    load(tmp_path, warehouse, vault, settings, orders=orders, events=events)
    found = check(warehouse, settings, "return.conflicting_update")
    assert set(found) == {"c1", "c3"}
    assert found["c1"]["return_order_id"] == "R1b"
    assert warehouse.execute(
        "SELECT order_id FROM dq_findings WHERE check_id = 'return.conflicting_update' AND entity_id = 'c1'"
    ).fetchone() == ("D1",)


def test_pickup_overdue_exactly_three_days(tmp_path, warehouse, vault, settings):
    as_of = T0 + dt.timedelta(days=3)
    orders = [
        delivery("D1"),
        ret("R1", "D1", created=0),  # exactly 3 days before as_of, nothing since: overdue
        ret("R2", "D1", created=1 / 60),  # 3 days minus 1 s: not yet due
        ret("R3", "D1", created=0),  # picked up exactly at as_of: settled
        ret("R4", "D1", created=0),  # cancelled
        ret("R5", "D1", created=0),  # picked up one second after as_of: still overdue at as_of
        ret("R6", "D1", created=0),  # received back (without a pickup scan)
        ret("R7", "D1", created=0),  # only failed attempts
    ]  # fmt: skip
    events = [
        ev("c3", "picked_up", 3 * DAY, "R3"), ev("c4", "cancelled", 60, "R4"),
        ev("c5", "picked_up", 3 * DAY + 1 / 60, "R5"), ev("c6", "return_received", 60, "R6"),
        ev("c7", "delivery_attempted", 60, "R7"),
    ]  # fmt: skip
    load(tmp_path, warehouse, vault, settings, orders=orders, events=events)
    found = check(warehouse, settings, "return.pickup_overdue", as_of)
    assert set(found) == {"R1", "R5", "R7"}
    assert found["R1"]["waiting_h"] == 72


def _london(tmp_path: Path, home, orders, events):  # type: ignore[no-untyped-def]
    from lastmile.vault import Vault
    from lastmile.vault.keyring import open_keyring

    settings = Settings(network_timezone="Europe/London")
    conn = connect(tmp_path / "london.duckdb", settings.network_timezone)
    vault = Vault(conn, home.vault_dir, open_keyring(home.keys_dir, environ={}))
    landing = tmp_path / "landing"
    write_csv(landing / "orders" / "a.csv", orders)
    if events:
        write_csv(landing / "events" / "a.csv", events)
    ingest(conn, landing, vault, settings)
    return conn, settings


def test_days_are_calendar_days_across_a_dst_change(tmp_path, home):
    # Clocks go back in London at 2026-10-25 02:00 BST. as_of Monday 26 Oct 12:00 GMT; 3 calendar days before
    # is Friday 23 Oct 12:00 BST = 11:00 UTC, 73 hours earlier.
    as_of = dt.datetime(2026, 10, 26, 12, 0, tzinfo=dt.UTC)
    friday = dt.datetime(2026, 10, 23, 11, 0, tzinfo=dt.UTC)
    orders = [
        row(ORDER, order_id="R1", order_type="return_pickup", original_order_id="X", created_at=friday.isoformat()),
        # 72.5 hours before as_of: due under a 3 x 24 h reading, but not 3 calendar days
        row(ORDER, order_id="R2", order_type="return_pickup", original_order_id="X",
            created_at=(friday + dt.timedelta(minutes=30)).isoformat()),
        row(ORDER, order_id="O1", created_at=friday.isoformat()),
        row(ORDER, order_id="O2", created_at=friday.isoformat()),
    ]  # fmt: skip
    week_before = dt.datetime(2026, 10, 19, 11, 0, tzinfo=dt.UTC)  # as_of - 7 calendar days (169 h)
    events = [
        row(ev("f1", "delivery_attempted", 0, "O1"), occurred_at=week_before.isoformat(),
            recorded_at=week_before.isoformat()),
        row(ev("f2", "delivery_attempted", 0, "O2"), occurred_at=(week_before + dt.timedelta(minutes=30)).isoformat(),
            recorded_at=week_before.isoformat()),
    ]  # fmt: skip
    conn, settings = _london(tmp_path, home, orders, events)
    try:
        assert set(check(conn, settings, "return.pickup_overdue", as_of)) == {"R1"}
        # f1 is exactly 7 calendar days before as_of (due), f2 168.5 h before (not 7 calendar days)
        assert set(check(conn, settings, "exception.unresolved", as_of)) == {"O1"}
    finally:
        conn.close()


def test_return_checks_are_registered_with_their_severity():
    got = {c.check_id: (c.severity, c.entity_kind, c.scope) for c in CHECKS if c.check_id.startswith("return.")}
    assert got == {
        "return.acceptance_missing": ("error", "order", "partition"),
        "return.unlinked": ("error", "order", "partition"),
        "return.before_delivery": ("warn", "order", "partition"),
        "return.conflicting_update": ("error", "event", "partition"),
        "return.pickup_overdue": ("warn", "order", "window"),
    }
    for c in CHECKS:
        assert (Path(__file__).parent.parent / "quality_checks" / c.sql_file).is_file()


def test_landing_kit_orders_have_no_order_type_column_by_default(tmp_path, warehouse, vault, settings):
    # folders written before returns existed (no order_type/original_order_id columns) load as deliveries
    load(tmp_path, warehouse, vault, settings, orders=[row(ORDER)])
    assert warehouse.execute("SELECT order_type, original_order_id FROM orders").fetchall() == [("delivery", None)]
    assert "order_type" not in ORDER


def test_expectation_suites_know_the_grown_sets():
    import yaml

    from lastmile.codes import ORDER_TYPES, STATUSES

    root = Path(__file__).parent.parent / "quality_checks" / "expectations"

    def value_set(table: str, column: str) -> set[str]:
        suite = yaml.safe_load((root / f"{table}.yaml").read_text(encoding="utf-8"))
        for entry in suite["expectations"]:
            ((name, args),) = entry.items()
            if name == "expect_column_values_to_be_in_set" and args["column"] == column:
                return set(args["value_set"])
        raise AssertionError(f"no value set for {table}.{column}")

    assert value_set("events", "status") == set(STATUSES)
    assert value_set("orders", "order_type") == set(ORDER_TYPES)


def test_acceptance_photo_is_a_photo_artifact_on_the_return_clock(tmp_path, warehouse, vault, settings):
    from retention.plan import build_plan
    from retention.policy import load_policy, shipped_policy_path

    received = 2 * DAY
    load(tmp_path, warehouse, vault, settings, orders=[delivery("D1"), ret("R1", "D1")], events=[
        ev("o", "out_for_delivery", 0, "R1"), ev("p", "picked_up", 60, "R1"),
        ev("r", "return_received", received, "R1"),
    ], proofs=[photo("F1", "R1", 61)], blobs=[("p.jpg", b"\xff\xd8\xff\xe0 jpeg")])  # fmt: skip
    policy = load_policy(shipped_policy_path())
    due = T0 + dt.timedelta(minutes=received) + dt.timedelta(days=30)  # photo: 30 days from return_received

    def plan(as_of: dt.datetime) -> tuple:
        build_plan(warehouse, policy, settings, as_of)
        return warehouse.execute(
            "SELECT artifact_kind, clock_basis, action FROM _retention_plan WHERE artifact_id = 'F1'"
        ).fetchone()

    assert plan(due - dt.timedelta(seconds=1)) == ("photo", "first terminal event", "retained")
    assert plan(due) == ("photo", "first terminal event", "purged")
