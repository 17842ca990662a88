"""The partner format system: user formats, several shapes per payload, nothing lost, code patterns, and
formats for carriers the product does not ship, written from their reference payloads alone."""

import datetime as dt
import json
import shutil
import zoneinfo
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from lastmile.ingest import ingest_landing
from lastmile.partners.feed import read_feed
from lastmile.partners.mapping import MappingError, PartnerRegistry, parse_format
from lastmile.partners.schema import build_schema, published_schema
from lastmile.settings import Settings
from lastmile.vault import Vault
from quality_checks import run_checks
from tests.conftest import NOW
from tests.landing_kit import ORDER, row, write_csv
from tests.test_ingest import assert_accounting
from tests.test_partners import REFERENCE, findings

HERE = Path(__file__).parent
FORMATS = HERE / "partner_formats"
AUSPOST = HERE / "partner_payloads" / "auspost_track.json"
UTC = zoneinfo.ZoneInfo("UTC")


def home_partners(tmp_path: Path, *formats: str, text: dict[str, str] | None = None) -> Path:
    """LASTMILE_HOME/partners with the given fixture formats (or texts) and one partner of each name."""
    folder = tmp_path / "home" / "partners"
    (folder / "formats").mkdir(parents=True, exist_ok=True)
    for name in formats:
        shutil.copyfile(FORMATS / f"{name}.yaml", folder / "formats" / f"{name}.yaml")
        (folder / f"{name}.yaml").write_text(f"format: {name}\n")
    for name, body in (text or {}).items():
        (folder / "formats" / f"{name}.yaml").write_text(body)
        (folder / f"{name}.yaml").write_text(f"format: {name}\n")
    return folder


def read(folder: Path, partner_id: str, payload: Path, file_name: str | None = None):  # type: ignore[no-untyped-def]
    partner = PartnerRegistry(folder).get(partner_id)
    assert partner is not None
    return read_feed(payload.read_bytes(), partner, UTC, file_name or payload.name)


def run_ingest(conn: duckdb.DuckDBPyConnection, landing: Path, vault: Vault, settings: Settings, partners: Path,
               run: str = "r1"):  # type: ignore[no-untyped-def]  # fmt: skip
    return ingest_landing(conn, landing, vault=vault, settings=settings, run_id=run, now=NOW, partner_dir=partners)


def place(landing: Path, partner_id: str, source: Path, name: str | None = None) -> Path:
    target = landing / "partners" / partner_id / (name or source.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


# ------------------------------------------------------------------------------ several shapes in a payload


def test_auspost_reads_all_27_events_of_both_shapes(tmp_path: Path) -> None:
    reading = read(home_partners(tmp_path, "auspost"), "auspost", AUSPOST)
    assert len(reading.events) == 27 and reading.reports == []
    assert (reading.shipments_found, reading.shipments_read, reading.shipments_reported) == (3, 3, 0)
    assert Counter(e.tracking_number for e in reading.events) == {
        "33LPN7000001": 10, "33LPN7000002": 9, "2JD5012345": 8}  # fmt: skip
    assert {e.outcome for e in reading.events} == {"mapped"}
    assert [e.row for e in reading.events] == list(range(1, 28))
    # document order kept: the consignment's two articles one after the other, each newest first
    consignment = [e for e in reading.events if e.tracking_number == "2JD5012345"]
    assert [e.occurred_text for e in consignment][::4] == ["2024-03-08T12:30:00+08:00", "2024-03-08T12:31:00+08:00"]
    first = reading.events[0]
    assert first.occurred_at == dt.datetime(2024, 3, 7, 2, 2, 11, tzinfo=dt.UTC)
    assert (first.utc_offset, first.occurred_text) == ("+11:00", "2024-03-07T13:02:11+11:00")
    # text with a place matched by patterns; exact entries first; the entry that matched is kept
    by_text = {e.status_code: (e.status, e.exception_code, e.status_entry) for e in reading.events}
    assert by_text["In transit to next facility in OAKLEIGH SOUTH VIC"] == (
        "in_transit",
        None,
        "In transit to next facility in *",
    )
    assert by_text["Processed at facility in NORTHGATE QLD"] == (
        "in_transit",
        None,
        "re:Processed (through|at) facility in .+",
    )
    assert by_text["Unsuccessful delivery - card left"] == (
        "delivery_attempted",
        "recipient_unavailable",
        "re:Unsuccessful delivery.*",
    )
    assert by_text["Delivered"] == ("delivered", None, "Delivered")  # fmt: skip


def test_auspost_ingest_accounts_for_every_event_and_shipment(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, vault: Vault, settings: Settings
) -> None:
    partners = home_partners(tmp_path, "auspost")
    landing = tmp_path / "landing"
    order = row(ORDER, order_id="O-C", created_at="2024-03-04T09:00:00+11:00", window_start=None, window_end=None,
                partner_id="auspost", partner_tracking_number="2JD5012345")  # fmt: skip
    write_csv(landing / "orders" / "o.csv", [order])
    place(landing, "auspost", AUSPOST)
    run_ingest(warehouse, landing, vault, settings, partners)
    assert_accounting(warehouse)
    got = warehouse.execute(
        "SELECT rows_read, rows_loaded, rows_duplicate, rows_quarantined, shipments_found, shipments_read,"
        " shipments_reported FROM ingest_files WHERE entity = 'partners'"
    ).fetchall()
    assert got == [(27, 27, 0, 0, 3, 3, 0)]
    per_order = dict(warehouse.execute("SELECT order_id, count(*) FROM intake_events GROUP BY 1").fetchall())
    assert per_order == {"auspost:33LPN7000001": 10, "auspost:33LPN7000002": 9, "O-C": 8}
    entries = warehouse.execute(
        "SELECT status_entry, count(*) FROM partner_events WHERE status_entry LIKE 'In transit%' GROUP BY 1"
    ).fetchall()
    assert entries == [("In transit to next facility in *", 4)]


AUSPOST_ONE_PATH = """format: auspost
syntax: json
shipments: tracking_results[]
tracking_number: tracking_id
events: trackable_items[].events[]
event: {status_code: description, occurred_at: {parts: [date]}}
statuses: {"re:.*": in_transit}
"""
AUSPOST_ARTICLES = """format: auspost
syntax: json
shipments: tracking_results[].trackable_items[]
tracking_number: article_id
events: events[]
event: {status_code: description, occurred_at: {parts: [date]}}
statuses: {"re:.*": in_transit}
"""


def test_a_shape_the_format_misses_is_reported_not_lost(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, vault: Vault, settings: Settings
) -> None:
    # One events path: the consignment (events one level deeper) is a shipment without events.
    one = read(home_partners(tmp_path / "a", text={"auspost": AUSPOST_ONE_PATH}), "auspost", AUSPOST)
    assert len(one.events) == 19
    assert [(r.row, r.reason, r.tracking_number, r.path) for r in one.reports] == [
        (20, "shipment_without_events", "2JD5012345", "tracking_results[2]")]  # fmt: skip
    # Articles as shipments: the consignment's entry names no article, and its two articles carry tracking
    # numbers the format never read: three reports, with their paths.
    partners = home_partners(tmp_path / "b", text={"auspost": AUSPOST_ARTICLES})
    two = read(partners, "auspost", AUSPOST)
    assert len(two.events) == 19
    assert [(r.row, r.reason, r.tracking_number, r.path) for r in two.reports] == [
        (20, "shipment_without_events", None, "tracking_results[2].trackable_items[0]"),
        (21, "unread_shipment", "2JD501234501000930803", "tracking_results[2].trackable_items[0].items[0]"),
        (22, "unread_shipment", "2JD501234502000930808", "tracking_results[2].trackable_items[0].items[1]"),
    ]
    assert (two.shipments_found, two.shipments_read, two.shipments_reported) == (5, 2, 3)
    landing = tmp_path / "landing"
    place(landing, "auspost", AUSPOST)
    run_ingest(warehouse, landing, vault, settings, partners)
    assert_accounting(warehouse)
    assert warehouse.execute(
        "SELECT rows_read, rows_loaded, rows_quarantined, shipments_found, shipments_read, shipments_reported"
        " FROM ingest_files"
    ).fetchall() == [(22, 19, 3, 5, 2, 3)]
    q = warehouse.execute("SELECT row_number, reason, detail, raw_record FROM quarantine ORDER BY 1").fetchall()
    assert [r[:2] for r in q] == [(20, "shipment_without_events"), (21, "unread_shipment"), (22, "unread_shipment")]
    assert "tracking_results[2].trackable_items[0].items[1]" in q[2][2]
    assert json.loads(q[2][3])["tracking_number"] == "2JD501234502000930808"


# ------------------------------------------------------------------- carriers written from their docs alone

CARRIERS = {  # format: (reference payload, file name it is saved as)
    "dhl_express": ("dhl_express/tracking_response.xml", "tracking_response.xml"),
    "laposte": ("laposte/tracking_response.json", "tracking_response.json"),
    "dpd": ("dpd/tracking_response.xml", "05212345678901.xml"),
}


@pytest.mark.parametrize("carrier", sorted(CARRIERS))
def test_unshipped_carriers_read_their_reference_payload_fully(
    carrier: str, tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, vault: Vault, settings: Settings
) -> None:
    partners = home_partners(tmp_path, carrier)
    rel, name = CARRIERS[carrier]
    reading = read(partners, carrier, REFERENCE / rel, name)
    assert reading.reports == [] and reading.shipments_found == reading.shipments_read
    assert {e.outcome for e in reading.events} <= {"mapped", "informational"}
    landing = tmp_path / "landing"
    place(landing, carrier, REFERENCE / rel, name)
    run_ingest(warehouse, landing, vault, settings, partners)
    assert_accounting(warehouse)
    assert warehouse.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)
    rows_read, loaded, duplicate = warehouse.execute(
        "SELECT rows_read, rows_loaded, rows_duplicate FROM ingest_files").fetchone()  # type: ignore[misc]  # fmt: skip
    assert rows_read == len(reading.events) == loaded + duplicate


def test_dhl_express_reference(tmp_path: Path) -> None:
    reading = read(home_partners(tmp_path, "dhl_express"), "dhl_express", REFERENCE / CARRIERS["dhl_express"][0])
    assert Counter(e.tracking_number for e in reading.events) == {"3180831640": 16, "7740842550": 1, "1815115363": 2}
    delivered = [e for e in reading.events if e.status == "delivered"]
    assert [(e.status_code, e.signer, e.occurred_at) for e in delivered] == [
        ("OK", "CAMPAGNA", dt.datetime(2009, 8, 31, 10, 9, tzinfo=UTC))]  # fmt: skip
    # Signatory holds an account number or a time on other scans: not a signer there
    assert [e.signer for e in reading.events if e.status != "delivered"] == [None] * 18
    assert Counter(e.status for e in reading.events) == {
        "in_transit": 15, "out_for_delivery": 1, "delivered": 1, None: 2}  # fmt: skip


def test_laposte_reference(tmp_path: Path) -> None:
    reading = read(home_partners(tmp_path, "laposte"), "laposte", REFERENCE / CARRIERS["laposte"][0])
    assert [(e.status_code, e.status) for e in reading.events][:2] == [
        ("DI1", "delivered"), ("MD2", "out_for_delivery")]  # fmt: skip
    assert len(reading.events) == 9 and {e.tracking_number for e in reading.events} == {"EW112720413FR"}
    assert reading.events[0].occurred_at == dt.datetime(2023, 3, 9, 8, 38, tzinfo=dt.UTC)


def test_dpd_reference_takes_the_parcel_number_from_the_file_name(tmp_path: Path) -> None:
    partners = home_partners(tmp_path, "dpd")
    reading = read(partners, "dpd", REFERENCE / CARRIERS["dpd"][0], "05212345678901.xml")
    assert len(reading.events) == 15 and {e.tracking_number for e in reading.events} == {"05212345678901"}
    first = reading.events[0]  # 8/17/2021 7:11:26 PM in Europe/Brussels (summer time)
    assert (first.occurred_at, first.utc_offset) == (dt.datetime(2021, 8, 17, 17, 11, 26, tzinfo=dt.UTC), "+02:00")
    # the same failure reported by two depots at the same instant is one event: the second is a duplicate
    failures = [e.event_id for e in reading.events if e.status_code == "DeliveryFailure"]
    assert len(failures) == 2 and failures[0] == failures[1]
    # saved under a name without a parcel number, its events cannot name a shipment: quarantined, not guessed
    unnamed = read(partners, "dpd", REFERENCE / CARRIERS["dpd"][0], "-.xml")
    assert {e.fault for e in unnamed.events} == {("missing_required", "tracking_number")}


# ------------------------------------------------------------------------------------------ user formats


def test_a_users_format_of_the_same_name_wins_over_the_shipped_one(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, vault: Vault, settings: Settings
) -> None:
    shipped = (Path(__file__).parents[1] / "lastmile" / "partners" / "formats" / "usps.yaml").read_text()
    partners = home_partners(tmp_path)
    (partners / "formats" / "usps.yaml").write_text(shipped.replace('  "01": delivered ', '  "01": exception/other '))
    landing = tmp_path / "landing"
    place(landing, "usps", REFERENCE / "usps" / "tracking_response.json")
    run_ingest(warehouse, landing, vault, settings, partners)
    assert warehouse.execute("SELECT status FROM partner_events WHERE status_code = '01'").fetchall() == [
        ("exception",)]  # fmt: skip
    assert PartnerRegistry().get("usps").format.statuses.exact["01"].status == "delivered"  # type: ignore[union-attr]


def format_error(tmp_path: Path, body: str) -> str:
    partners = home_partners(tmp_path, text={"carrier": body})
    with pytest.raises(MappingError) as info:
        PartnerRegistry(partners).get("carrier")
    message = str(info.value)
    assert "\n" not in message and str(partners / "formats" / "carrier.yaml") in message
    return message.split("carrier.yaml: ", 1)[1]


GOOD = """format: carrier
syntax: json
shipments: shipments[]
tracking_number: number
events: events[]
event:
  status_code: code
  occurred_at: {parts: [at]}
statuses:
  A: delivered
"""


def test_format_errors_name_the_file_the_line_and_the_key(tmp_path: Path) -> None:
    assert PartnerRegistry(home_partners(tmp_path / "ok", text={"carrier": GOOD})).get("carrier") is not None
    cases = {
        GOOD.replace("  status_code: code", "  status_code: code\n  occured_at: x"): (
            "line 8: event.occured_at: unknown key (did you mean 'occurred_at'?)"
        ),
        GOOD.replace("syntax: json", "syntax: csv"): "line 2: syntax: expected how the payload is written, got 'csv'",
        GOOD.replace("  A: delivered", "  A: shipped"): "line 10: statuses.A: expected a canonical status, "
        "optionally /exception_code, or ~, got 'shipped'",
        GOOD.replace("occurred_at: {parts: [at]}", "occurred_at: {parts: [at], zfill: -1}"): (
            "line 8: event.occurred_at.zfill: -1 is less than the minimum of 0"
        ),
        GOOD.replace("events: events[]\n", ""): "line 1: 'events' is missing (required)",
        GOOD.replace("  A: delivered", "  're:(': delivered"): "line 10: statuses['re:(']: not a valid regular",
        GOOD.replace("format: carrier", "format: other"): "line 1: format: 'other' does not match the file name",
        GOOD.replace("occurred_at: {parts: [at]}", "occurred_at: {parts: [at], timezone: Mars/Base}"): (
            "line 8: event.occurred_at.timezone: 'Mars/Base' is not an IANA time zone"
        ),
        GOOD + "  [\n": "line 12: not valid YAML",
    }
    for i, (body, expected) in enumerate(cases.items()):
        assert format_error(tmp_path / str(i), body).startswith(expected), body


def test_the_published_schema_is_current_and_covers_every_key_of_the_shipped_formats() -> None:
    assert published_schema() == build_schema()
    documented = (Path(__file__).parents[1] / "docs" / "partners.md").read_text()
    schema = build_schema()
    keys = [*schema["properties"], *schema["properties"]["event"]["properties"],
            *schema["$defs"]["time_spec"]["properties"]]  # fmt: skip
    assert [k for k in keys if f"`{k}`" not in documented] == []
    for fixture in FORMATS.glob("*.yaml"):
        parse_format(fixture.read_text(), str(fixture), fixture.stem)


# ------------------------------------------------------------------------------------------- code patterns


def test_exact_entries_win_over_patterns_and_unmatched_text_is_still_unmapped(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, vault: Vault, settings: Settings
) -> None:
    body = GOOD.replace("  A: delivered\n", '  "re:A.*": in_transit\n  "AB*": exception/weather\n  AB: delivered\n')
    partners = home_partners(tmp_path, text={"carrier": body})
    # the partner's own table comes first: its exact code, then its patterns, then the format's
    (partners / "carrier.yaml").write_text('format: carrier\nstatuses:\n  "ABX*": cancelled\n')
    events = [{"code": c, "at": f"2026-10-06T0{i}:00:00Z"} for i, c in enumerate(["AB", "ABC", "ABXY", "AZ", "B"])]
    payload = tmp_path / "p.json"
    payload.write_text(json.dumps({"shipments": [{"number": "N1", "events": events}]}))
    reading = read(partners, "carrier", payload)
    assert [(e.status_code, e.status, e.status_entry) for e in reading.events] == [
        ("AB", "delivered", "AB"), ("ABC", "in_transit", "re:A.*"), ("ABXY", "cancelled", "ABX*"),
        ("AZ", "in_transit", "re:A.*"), ("B", None, None),
    ]  # fmt: skip
    landing = tmp_path / "landing"
    place(landing, "carrier", payload)
    run_ingest(warehouse, landing, vault, settings, partners)
    run_checks(warehouse, settings, run_id="c1", now=NOW)
    assert findings(warehouse, "partner.unmapped_code") == [("carrier:B", "2026-10-06")]
    assert warehouse.execute("SELECT reason FROM quarantine").fetchall() == [("unmapped_code",)]


# ------------------------------------------------------------------------------------ set-based batch rules


def usps(tracking: str, *codes_at: tuple[str, str]) -> str:
    return json.dumps({"trackingNumber": tracking, "trackingEvents": [
        {"eventCode": c, "eventTimestamp": t, "GMTOffset": "+00:00"} for c, t in codes_at]})  # fmt: skip


def test_batch_keeps_per_file_rules_across_files_and_ingests(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, vault: Vault, settings: Settings
) -> None:
    landing = tmp_path / "landing"
    (landing / "partners" / "usps").mkdir(parents=True)
    # an order revised to another tracking number: only its current number finds it
    write_csv(landing / "orders" / "a.csv", [row(ORDER, order_id="O1", created_at="2026-10-05T07:00:00Z",
              window_start=None, window_end=None, partner_id="usps", partner_tracking_number="OLD")])  # fmt: skip
    write_csv(landing / "orders" / "b.csv", [row(ORDER, order_id="O1", created_at="2026-10-05T07:00:00Z",
              window_start=None, window_end=None, partner_id="usps", partner_tracking_number="NEW")])  # fmt: skip
    (landing / "partners" / "usps" / "1.json").write_text(usps("NEW", ("OF", "2026-10-06T08:00:00"),
                                                               ("ZZ", "2026-10-06T09:00:00")))  # fmt: skip
    (landing / "partners" / "usps" / "2.json").write_text(usps("NEW", ("OF", "2026-10-06T08:00:00"),
                                                               ("ZZ", "2026-10-06T09:00:00"),
                                                               ("01", "2026-10-06T10:00:00")))  # fmt: skip
    (landing / "partners" / "usps" / "3.json").write_text(usps("OLD", ("01", "2026-10-06T10:00:00")))
    ingest_landing(warehouse, landing, vault=vault, settings=settings, run_id="r1", now=NOW)
    assert_accounting(warehouse)
    files = warehouse.execute(
        "SELECT path, rows_read, rows_loaded, rows_duplicate, rows_quarantined FROM ingest_files"
        " WHERE entity = 'partners' ORDER BY path"
    ).fetchall()
    assert files == [("partners/usps/1.json", 2, 1, 0, 1), ("partners/usps/2.json", 3, 1, 2, 0),
                     ("partners/usps/3.json", 1, 1, 0, 0)]  # fmt: skip
    got = warehouse.execute("SELECT order_id, status FROM intake_events ORDER BY occurred_at, order_id").fetchall()
    assert got == [("O1", "out_for_delivery"), ("O1", "delivered"), ("usps:OLD", "delivered")]
    # the next ingest: the code gets a mapping; a new payload repeating the event loads it, once
    partners = tmp_path / "home-partners"
    partners.mkdir()
    (partners / "usps.yaml").write_text('format: usps\nstatuses:\n  "ZZ": exception/weather\n')
    (landing / "partners" / "usps" / "4.json").write_text(usps("NEW", ("ZZ", "2026-10-06T09:00:00")))
    (landing / "partners" / "usps" / "5.json").write_text(usps("NEW", ("ZZ", "2026-10-06T09:00:00")))
    second = run_ingest(warehouse, landing, vault, settings, partners, run="r2")
    assert [(f.path, f.rows_loaded, f.rows_duplicate) for f in second.files] == [
        ("partners/usps/4.json", 1, 0), ("partners/usps/5.json", 0, 1)]  # fmt: skip
    got = warehouse.execute("SELECT outcome, status_entry FROM partner_events WHERE status_code = 'ZZ'").fetchall()
    assert got == [("mapped", "ZZ")]


def test_an_event_id_used_by_an_events_file_is_a_conflict_in_each_partner_file(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, vault: Vault, settings: Settings
) -> None:
    landing = tmp_path / "landing"
    (landing / "partners" / "usps").mkdir(parents=True)
    payload = usps("T1", ("OF", "2026-10-06T08:00:00"), ("OF", "2026-10-06T08:00:00"))
    (landing / "partners" / "usps" / "a.json").write_text(payload)
    (landing / "partners" / "usps" / "b.json").write_text(payload + "\n")
    partner = PartnerRegistry().get("usps")
    assert partner is not None
    event_id = read_feed(payload.encode(), partner, UTC).events[0].event_id
    write_csv(landing / "events" / "e.csv", [{
        "event_id": event_id, "order_id": "X", "status": "out_for_delivery", "exception_code": "",
        "occurred_at": "2026-10-06T08:00:00Z", "recorded_at": "2026-10-06T08:00:00Z", "courier_id": "",
        "source": "driver_app", "lat": "", "lon": ""}])  # fmt: skip
    ingest_landing(warehouse, landing, vault=vault, settings=settings, run_id="r1", now=NOW)
    assert_accounting(warehouse)
    assert warehouse.execute("SELECT path, row_number, reason FROM quarantine ORDER BY ALL").fetchall() == [
        ("partners/usps/a.json", 1, "conflict"), ("partners/usps/b.json", 1, "conflict")]  # fmt: skip
    assert warehouse.execute("SELECT source FROM intake_events").fetchall() == [("driver_app",)]
