"""Every KPI of CONTRACT §5 computed by hand on small constructed landing folders.

Weeks (UTC unless a test says otherwise): A = Mon 2026-10-05, B = Mon 2026-10-12, C = Mon 2026-10-19.
"""

import datetime as dt
from pathlib import Path

import pytest

from lastmile.codes import EXCEPTION_CODES
from lastmile.errors import LastmileError
from lastmile.settings import Settings
from lastmile.warehouse import connect
from quality_checks import run_checks
from reports.kpi import (
    compute_kpis,
    definition_version,
    iso_week_label,
    latest_report_week,
    parse_iso_week,
    trend_weeks,
    weeks_with_data,
)
from tests.conftest import NOW
from tests.landing_kit import EVENT, ORDER, PROOF, row, write_blob, write_csv
from tests.test_ingest import ingest

A, B, C = dt.date(2026, 10, 5), dt.date(2026, 10, 12), dt.date(2026, 10, 19)
GEO = ("51.5155", "-0.0722")  # ORDER's geocode
FAR = ("51.5255", "-0.0722")  # 0.01 degree of latitude north: about 1,112 m away


def order(order_id: str, zone: str, window: tuple[str, str] | None = None, created: str = "2026-10-05T08:00:00Z"):  # type: ignore[no-untyped-def]
    start, end = window or ("", "")
    return row(ORDER, order_id=order_id, zone_id=zone, created_at=created, window_start=start, window_end=end)


def ev(event_id: str, order_id: str, status: str, at: str, *, latency_s: float = 60, courier: str = "",
       code: str = "", where: tuple[str, str] = ("", "")) -> dict[str, str]:  # fmt: skip
    occurred = dt.datetime.fromisoformat(at)
    recorded = occurred + dt.timedelta(seconds=latency_s)
    return row(EVENT, event_id=event_id, order_id=order_id, status=status, occurred_at=occurred.isoformat(),
               recorded_at=recorded.isoformat(), courier_id=courier, exception_code=code, lat=where[0],
               lon=where[1])  # fmt: skip


def photo(proof_id: str, order_id: str, at: str) -> dict[str, str]:
    return row(PROOF, proof_id=proof_id, order_id=order_id, kind="photo", captured_at=at, recorded_at=at,
               blob_path="p.jpg")  # fmt: skip


ORDERS = [
    order("O1", "Z1", ("2026-10-05T09:00:00Z", "2026-10-05T12:00:00Z")),
    order("O2", "Z2"),  # no window: never in on_time_rate
    order("O3", "Z1", ("2026-10-12T07:00:00Z", "2026-10-12T09:00:00Z")),
    order("O4", "Z2", ("2026-10-05T09:00:00Z", "2026-10-05T10:30:00Z")),
    order("O5", "Z1"),
    order("O6", "Z3"),
    order("O7", "Z3", ("2026-10-14T08:00:00Z", "2026-10-14T09:59:59Z")),
    order("O8", "Z1", created="2026-10-19T08:00:00Z"),  # week C: an order and nothing else
]
EVENTS = [
    ev("O1-ofd", "O1", "out_for_delivery", "2026-10-05T10:00:00+00:00", courier="C1"),
    ev("O1-del", "O1", "delivered", "2026-10-05T10:30:00+00:00", courier="C1", where=GEO),
    ev(
        "O2-att",
        "O2",
        "delivery_attempted",
        "2026-10-05T11:00:00+00:00",
        courier="C2",
        code="recipient_unavailable",
        where=FAR,
    ),
    ev("O2-del", "O2", "delivered", "2026-10-06T11:00:00+00:00", courier="C2", where=GEO),
    # first attempt Sunday 23:59, delivered Monday: the attempt counts in week A, the delivery in week B
    ev(
        "O3-att",
        "O3",
        "delivery_attempted",
        "2026-10-11T23:59:00+00:00",
        courier="C1",
        code="access_issue",
        latency_s=-30,
    ),
    ev("O3-del", "O3", "delivered", "2026-10-12T08:00:00+00:00", courier="C3"),
    ev("O4-del", "O4", "delivered", "2026-10-05T10:30:00+00:00"),  # no courier; exactly at window_end
    ev("O5-exc", "O5", "exception", "2026-10-06T12:00:00+00:00", courier="C1", code="damaged", latency_s=600),
    # returned 7 days and 1 second after the first failure: not resolved within 7 days
    ev("O6-att", "O6", "delivery_attempted", "2026-10-07T10:00:00+00:00", courier="C2", code="weather"),
    ev("O6-rts", "O6", "returned_to_sender", "2026-10-14T10:00:01+00:00", courier="C2"),
    # delivered exactly 7 days after the first failure: resolved; one second after its window: late
    ev("O7-att", "O7", "delivery_attempted", "2026-10-07T10:00:00+00:00", courier="C2", code="not_home"),
    ev("O7-del", "O7", "delivered", "2026-10-14T10:00:00+00:00", courier="C2", latency_s=120),
    # an orphan (order OX not in orders): only event latency counts it
    ev("OX-att", "OX", "delivery_attempted", "2026-10-08T10:00:00+00:00", courier="C9", code="refused", latency_s=3600),
]
PROOFS = [
    photo("P1", "O1", "2026-10-05T10:31:00Z"),
    photo("P3", "O3", "2026-10-12T08:05:00Z"),
    photo("P4", "O4", "2026-10-05T10:31:00Z"),
    photo("P7", "O7", "2026-10-14T10:01:00Z"),
]  # O2 has none: proof.missing


def load(tmp_path: Path, conn, vault, settings: Settings, orders=ORDERS, events=EVENTS, proofs=PROOFS) -> None:  # type: ignore[no-untyped-def]
    landing = tmp_path / "landing"
    write_blob(landing, "p.jpg")
    write_csv(landing / "orders/a.csv", orders)
    if events:
        write_csv(landing / "events/a.csv", events)
    if proofs:
        write_csv(landing / "proofs/a.csv", proofs)
    ingest(conn, landing, vault, settings)
    run_checks(conn, settings, run_id="checks", now=NOW, checks=["proof.missing"])


def kpis(conn) -> dict[tuple, tuple]:  # type: ignore[no-untyped-def]
    """(week, kpi_id, dimension, dimension_value) -> (numerator, denominator, value)."""
    rows = conn.execute(
        "SELECT week_start, kpi_id, dimension, dimension_value, numerator, denominator, value FROM kpi_weekly"
    ).fetchall()
    out = {tuple(r[:4]): tuple(r[4:]) for r in rows}
    assert len(out) == len(rows), "duplicate kpi_weekly keys"
    return out


def rate(num: int, den: int) -> tuple[int, int, float | None]:
    return (num, den, num / den if den else None)


def percentile(values: list[float], q: float) -> float:
    """Continuous percentile by hand: linear interpolation between closest ranks at (n - 1) * q."""
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


@pytest.fixture
def loaded(tmp_path, warehouse, vault, settings):  # type: ignore[no-untyped-def]
    load(tmp_path, warehouse, vault, settings)
    run = compute_kpis(warehouse, settings)
    assert run.weeks == [A, B, C]
    return kpis(warehouse)


def test_first_attempt_delivery_rate(loaded) -> None:  # type: ignore[no-untyped-def]
    k = "first_attempt_delivery_rate"
    # week A: O1 delivered, O4 delivered; O2, O3 (Sunday 23:59), O6, O7 attempted first
    assert loaded[(A, k, "all", None)] == rate(2, 6)
    assert loaded[(A, k, "zone", "Z1")] == rate(1, 2)
    assert loaded[(A, k, "zone", "Z2")] == rate(1, 2)
    assert loaded[(A, k, "zone", "Z3")] == rate(0, 2)
    assert loaded[(A, k, "courier", "C1")] == rate(1, 2)
    assert loaded[(A, k, "courier", "C2")] == rate(0, 3)
    assert loaded[(A, k, "courier", None)] == rate(1, 1)  # O4's delivery has no courier
    # O3's Monday delivery does not make week B a first attempt: denominator zero, value NULL
    assert loaded[(B, k, "all", None)] == (0, 0, None)
    assert (B, k, "zone", "Z1") not in loaded
    assert loaded[(C, k, "all", None)] == (0, 0, None)


def test_on_time_rate(loaded) -> None:  # type: ignore[no-untyped-def]
    k = "on_time_rate"
    # A: O1 inside its window, O4 exactly at window_end (inclusive); O2 has no window
    assert loaded[(A, k, "all", None)] == rate(2, 2)
    assert loaded[(A, k, "zone", "Z1")] == rate(1, 1)
    assert loaded[(A, k, "zone", "Z2")] == rate(1, 1)
    # B: O3 (attempted in A, delivered Monday in its window) on time; O7 one second late
    assert loaded[(B, k, "all", None)] == rate(1, 2)
    assert loaded[(B, k, "zone", "Z1")] == rate(1, 1)
    assert loaded[(B, k, "zone", "Z3")] == rate(0, 1)
    assert not any(key[1] == k and key[2] == "courier" for key in loaded)


def test_proof_compliance_rate_reads_proof_missing_findings(loaded) -> None:  # type: ignore[no-untyped-def]
    k = "proof_compliance_rate"
    assert loaded[(A, k, "all", None)] == rate(2, 3)  # O2 has no photo
    assert loaded[(A, k, "zone", "Z1")] == rate(1, 1)
    assert loaded[(A, k, "zone", "Z2")] == rate(1, 2)
    assert loaded[(B, k, "all", None)] == rate(2, 2)  # O3 and O7, delivered in B


def test_address_mismatch_rate(loaded) -> None:  # type: ignore[no-untyped-def]
    k = "address_mismatch_rate"
    # attempt-status events with lat/lon on geocoded orders in A: O1-del (0 m), O2-att (1.1 km), O2-del (0 m)
    assert loaded[(A, k, "all", None)] == rate(1, 3)
    assert loaded[(A, k, "zone", "Z1")] == rate(0, 1)
    assert loaded[(A, k, "zone", "Z2")] == rate(1, 2)
    assert loaded[(A, k, "courier", "C1")] == rate(0, 1)
    assert loaded[(A, k, "courier", "C2")] == rate(1, 2)
    assert loaded[(B, k, "all", None)] == (0, 0, None)


def test_address_mismatch_follows_the_threshold_and_changes_the_version(tmp_path, warehouse, vault, settings):  # type: ignore[no-untyped-def]
    load(tmp_path, warehouse, vault, settings)
    loose = settings.model_copy(update={"address_distance_m": 1200.0})
    assert definition_version(loose) != definition_version(settings)
    assert definition_version(settings) == definition_version(Settings())
    run = compute_kpis(warehouse, loose, [A])
    got = kpis(warehouse)
    assert got[(A, "address_mismatch_rate", "all", None)] == rate(0, 3)
    versions = warehouse.execute("SELECT DISTINCT definition_version FROM kpi_weekly").fetchall()
    assert versions == [(run.definition_version,)]


def test_exception_resolution_rate(loaded) -> None:  # type: ignore[no-untyped-def]
    k = "exception_resolution_rate"
    # A: O2 (resolved next day), O3 (Sunday 23:59, delivered Monday), O5 (never), O6 (7 days + 1 s),
    # O7 (exactly 7 days): 3 of 5
    assert loaded[(A, k, "all", None)] == rate(3, 5)
    assert loaded[(A, k, "zone", "Z1")] == rate(1, 2)
    assert loaded[(A, k, "zone", "Z2")] == rate(1, 1)
    assert loaded[(A, k, "zone", "Z3")] == rate(1, 2)
    assert loaded[(B, k, "all", None)] == (0, 0, None)


def test_attempt_failure_share(loaded) -> None:  # type: ignore[no-untyped-def]
    k = "attempt_failure_share"
    rows_a = {key[3]: v for key, v in loaded.items() if key[0] == A and key[1] == k}
    assert all(key[2] == "exception_code" for key in loaded if key[1] == k)
    # O2, O3, O6, O7 attempted in A; the orphan's `refused` does not count
    assert set(rows_a) == {*EXCEPTION_CODES, "not_home"}
    for code in ("recipient_unavailable", "access_issue", "weather", "not_home"):
        assert rows_a[code] == rate(1, 4), code
    assert rows_a["refused"] == rate(0, 4)
    assert rows_a["damaged"] == rate(0, 4)  # O5's exception is not a delivery_attempted event
    rows_b = {key[3]: v for key, v in loaded.items() if key[0] == B and key[1] == k}
    assert set(rows_b) == set(EXCEPTION_CODES)
    assert all(v == (0, 0, None) for v in rows_b.values())  # denominator zero


def test_event_latency_percentiles(loaded) -> None:  # type: ignore[no-untyped-def]
    # week A: ten events incl. the orphan: -30 s (O3-att), 600 s (O5-exc), 3600 s (orphan), seven of 60 s
    week_a = [-30.0, 600.0, 3600.0] + [60.0] * 7
    assert percentile(week_a, 0.95) == pytest.approx(2250.0)
    assert loaded[(A, "event_latency_p50_s", "all", None)] == (None, None, pytest.approx(60.0))
    assert loaded[(A, "event_latency_p95_s", "all", None)] == (None, None, pytest.approx(2250.0))
    # week B: O3-del 60, O6-rts 60, O7-del 120 -> p95 = 60 + 0.9 * 60
    assert loaded[(B, "event_latency_p50_s", "all", None)] == (None, None, pytest.approx(60.0))
    assert loaded[(B, "event_latency_p95_s", "all", None)] == (None, None, pytest.approx(114.0))
    assert loaded[(C, "event_latency_p50_s", "all", None)] == (None, None, None)  # no events in C


def test_orders_created(loaded) -> None:  # type: ignore[no-untyped-def]
    assert loaded[(A, "orders_created", "all", None)] == (7, None, 7.0)
    assert loaded[(A, "orders_created", "zone", "Z1")] == (3, None, 3.0)
    assert loaded[(A, "orders_created", "zone", "Z3")] == (2, None, 2.0)
    assert loaded[(B, "orders_created", "all", None)] == (0, None, 0.0)
    assert loaded[(C, "orders_created", "all", None)] == (1, None, 1.0)


def test_every_rate_has_all_and_zone_and_the_contract_dimensions(loaded) -> None:  # type: ignore[no-untyped-def]
    dims: dict[str, set[str]] = {}
    for week, kpi_id, dimension, _ in loaded:
        if week == A:
            dims.setdefault(kpi_id, set()).add(dimension)
    assert dims == {
        "first_attempt_delivery_rate": {"all", "zone", "courier"},
        "on_time_rate": {"all", "zone"},
        "proof_compliance_rate": {"all", "zone"},
        "address_mismatch_rate": {"all", "zone", "courier"},
        "exception_resolution_rate": {"all", "zone"},
        "attempt_failure_share": {"exception_code"},
        "event_latency_p50_s": {"all"},
        "event_latency_p95_s": {"all"},
        "orders_created": {"all", "zone"},
        # return KPIs (CONTRACT §9): this folder has no returns, so only their empty `all` rows
        "first_attempt_pickup_rate": {"all"},
        "acceptance_proof_rate": {"all"},
        "return_cycle_p50_h": {"all"},
        # CONTRACT §8: a week without messages still has each messaging rate's and percentile's `all` row
        "notification_coverage_rate": {"all"},
        "message_delivery_rate": {"all"},
        "opt_out_rate": {"all"},
        "message_latency_p50_s": {"all"},
        "message_latency_p95_s": {"all"},
    }


def test_recompute_replaces_and_an_empty_week_is_cleared(tmp_path, warehouse, vault, settings):  # type: ignore[no-untyped-def]
    load(tmp_path, warehouse, vault, settings)
    compute_kpis(warehouse, settings)
    first = kpis(warehouse)
    run = compute_kpis(warehouse, settings, [B, dt.date(2026, 11, 2)])
    assert run.weeks == [B] and run.empty_weeks == [dt.date(2026, 11, 2)]
    assert kpis(warehouse) == first
    warehouse.execute("INSERT INTO kpi_weekly VALUES ('2026-11-02', 'orders_created', 'all', NULL, 5, NULL, 5, 'x')")
    compute_kpis(warehouse, settings, [dt.date(2026, 11, 2)])
    assert kpis(warehouse) == first
    with pytest.raises(LastmileError, match="not a Monday"):
        compute_kpis(warehouse, settings, [dt.date(2026, 10, 6)])


def test_an_empty_warehouse_has_no_weeks(warehouse, settings) -> None:  # type: ignore[no-untyped-def]
    assert weeks_with_data(warehouse, settings) == []
    assert latest_report_week(warehouse, settings) is None
    run = compute_kpis(warehouse, settings)
    assert run.weeks == [] and run.rows == 0


def test_latest_report_week_is_the_latest_complete_week(loaded, warehouse, settings) -> None:  # type: ignore[no-untyped-def]
    # the latest event (O6-rts, Wednesday of B) does not complete B, so A is the latest complete week
    assert latest_report_week(warehouse, settings) == A


def _tz_landing(tmp_path: Path, timezone: str):  # type: ignore[no-untyped-def]
    """One order in America/New_York: created, first attempted at Sunday 23:59 local (Monday UTC), delivered
    Monday morning; ingested under `timezone`."""
    from lastmile.vault import Vault
    from lastmile.vault.keyring import open_keyring

    settings = Settings(network_timezone=timezone)
    conn = connect(tmp_path / f"{timezone.replace('/', '_')}.duckdb", timezone)
    vault = Vault(conn, tmp_path / "vault", open_keyring(tmp_path / "keys", environ={}))
    landing = tmp_path / "landing-tz"
    write_csv(landing / "orders/a.csv", [order("N1", "Z1", ("2026-10-12T07:00:00-04:00", "2026-10-12T09:00:00-04:00"),
                                               created="2026-10-11T22:00:00-04:00")])  # fmt: skip
    write_csv(landing / "events/a.csv", [
        ev("N1-att", "N1", "delivery_attempted", "2026-10-11T23:59:00-04:00", courier="C1", code="access_issue"),
        ev("N1-del", "N1", "delivered", "2026-10-12T08:00:00-04:00", courier="C1"),
    ])  # fmt: skip
    ingest(conn, landing, vault, settings)
    compute_kpis(conn, settings)
    return conn


@pytest.mark.parametrize(
    ("timezone", "attempt_week", "delivery_week"),
    [("America/New_York", A, B), ("UTC", B, B)],
)
def test_weeks_are_counted_in_the_network_timezone(tmp_path, timezone, attempt_week, delivery_week) -> None:  # type: ignore[no-untyped-def]
    conn = _tz_landing(tmp_path, timezone)
    try:
        got = kpis(conn)
    finally:
        conn.close()
    # Sunday 23:59 in New York is Monday 03:59 UTC: week A in New York, week B in UTC
    assert got[(attempt_week, "first_attempt_delivery_rate", "all", None)] == rate(0, 1)
    assert got[(attempt_week, "orders_created", "all", None)] == (1, None, 1.0)
    assert got[(attempt_week, "exception_resolution_rate", "all", None)] == rate(1, 1)
    assert got[(delivery_week, "on_time_rate", "all", None)] == rate(1, 1)
    if attempt_week != delivery_week:
        assert got[(delivery_week, "first_attempt_delivery_rate", "all", None)] == (0, 0, None)
        assert got[(attempt_week, "on_time_rate", "all", None)] == (0, 0, None)
    weeks = sorted({key[0] for key in got})
    assert weeks == sorted({attempt_week, delivery_week})


def test_iso_weeks() -> None:
    assert parse_iso_week("2026-W41") == A
    assert parse_iso_week("2020-W53") == dt.date(2020, 12, 28)
    assert iso_week_label(dt.date(2021, 1, 4)) == "2021-W01"
    assert iso_week_label(dt.date(2020, 12, 28)) == "2020-W53"
    assert trend_weeks(B, 3) == [dt.date(2026, 9, 28), A, B]
    for bad, why in (("2026-41", "not an ISO week"), ("2026-W1", "not an ISO week"), ("2021-W53", "no ISO week 53"),
                     ("2026-W00", "no ISO week 0"), ("<b>", "not an ISO week")):  # fmt: skip
        with pytest.raises(LastmileError, match=why):
            parse_iso_week(bad)


def _return(order_id: str, zone: str, original: str, created: str) -> dict[str, str]:
    return row(ORDER, order_id=order_id, zone_id=zone, created_at=created, window_start="", window_end="",
               order_type="return_pickup", original_order_id=original)  # fmt: skip


RETURNS = [
    # R1 (Z1): picked up at the first attempt, photo 30 min after (inside), received 50 h after creation
    _return("R1", "Z1", "O1", "2026-10-06T08:00:00Z"),
    # R2 (Z2): a failed first attempt (far away, coded) then picked up; no photo; received 26 h after creation
    _return("R2", "Z2", "O2", "2026-10-06T10:00:00Z"),
    # R3 (Z1): picked up Sunday 23:50 (week A), photo 30 min 1 s after: acceptance_missing; received in week B
    _return("R3", "Z1", "O4", "2026-10-09T12:00:00Z"),
]
RETURN_EVENTS = [
    ev("R1-ofd", "R1", "out_for_delivery", "2026-10-07T09:00:00+00:00", courier="C1"),
    ev("R1-pick", "R1", "picked_up", "2026-10-07T10:00:00+00:00", courier="C1", where=FAR),
    ev("R1-recv", "R1", "return_received", "2026-10-08T10:00:00+00:00"),
    ev("R2-ofd", "R2", "out_for_delivery", "2026-10-07T09:00:00+00:00", courier="C2"),
    ev("R2-att", "R2", "delivery_attempted", "2026-10-07T10:00:00+00:00", courier="C2", code="refused", where=FAR),
    ev("R2-ofd2", "R2", "out_for_delivery", "2026-10-07T11:00:00+00:00", courier="C2"),
    ev("R2-pick", "R2", "picked_up", "2026-10-07T11:30:00+00:00", courier="C2", where=GEO),
    ev("R2-recv", "R2", "return_received", "2026-10-07T12:00:00+00:00"),
    ev("R3-ofd", "R3", "out_for_delivery", "2026-10-11T23:00:00+00:00", courier="C1"),
    ev("R3-pick", "R3", "picked_up", "2026-10-11T23:50:00+00:00", courier="C1"),
    ev("R3-recv", "R3", "return_received", "2026-10-12T12:00:00+00:00"),
]
RETURN_PROOFS = [photo("PR1", "R1", "2026-10-07T10:30:00Z"), photo("PR3", "R3", "2026-10-12T00:20:01Z")]


def test_returns_have_their_own_kpis_and_never_count_in_the_delivery_rates(tmp_path, warehouse, vault, settings):  # type: ignore[no-untyped-def]
    load(tmp_path, warehouse, vault, settings, orders=RETURNS + ORDERS, events=EVENTS + RETURN_EVENTS,
         proofs=PROOFS + RETURN_PROOFS)  # fmt: skip
    run_checks(warehouse, settings, run_id="returns", now=NOW, checks=["return.acceptance_missing"])
    compute_kpis(warehouse, settings)
    got = kpis(warehouse)
    # The delivery rates are exactly those of the folder without returns (test_first_attempt_delivery_rate...).
    assert got[(A, "first_attempt_delivery_rate", "all", None)] == rate(2, 6)
    assert got[(A, "first_attempt_delivery_rate", "courier", "C1")] == rate(1, 2)
    assert got[(A, "address_mismatch_rate", "all", None)] == rate(1, 3)
    assert got[(A, "exception_resolution_rate", "all", None)] == rate(3, 5)
    assert got[(A, "proof_compliance_rate", "all", None)] == rate(2, 3)
    assert got[(A, "attempt_failure_share", "exception_code", "refused")] == rate(0, 4)  # R2's does not count
    assert got[(A, "orders_created", "all", None)] == (10, None, 10.0)  # every order, returns included
    assert (A, "first_attempt_pickup_rate", "courier", "C1") not in got
    # first_attempt_pickup_rate: R1 and R3 picked up at the first attempt, R2 failed first
    k = "first_attempt_pickup_rate"
    assert got[(A, k, "all", None)] == rate(2, 3)
    assert got[(A, k, "zone", "Z1")] == rate(2, 2)
    assert got[(A, k, "zone", "Z2")] == rate(0, 1)
    assert got[(B, k, "all", None)] == (0, 0, None)
    # acceptance_proof_rate: R2 has no photo, R3's is 30 min 1 s from the pickup; R1's exactly 30 min is in
    k = "acceptance_proof_rate"
    assert got[(A, k, "all", None)] == rate(1, 3)
    assert got[(A, k, "zone", "Z1")] == rate(1, 2)
    # return_cycle_p50_h: week A holds R1 (50 h) and R2 (26 h); week B holds R3 (72 h)
    k = "return_cycle_p50_h"
    assert got[(A, k, "all", None)] == (None, None, pytest.approx(38.0))
    assert got[(A, k, "zone", "Z1")] == (None, None, pytest.approx(50.0))
    assert got[(B, k, "all", None)] == (None, None, pytest.approx(72.0))
    assert got[(C, k, "all", None)] == (None, None, None)
