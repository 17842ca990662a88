"""Partner feeds: the carriers' real example payloads mapped event by event, ingest guarantees, and checks."""

import datetime as dt
import json
import shutil
import zoneinfo
from pathlib import Path

import duckdb
import pytest

from lastmile.errors import LastmileError
from lastmile.partners.feed import partner_event_id, read_payload
from lastmile.partners.mapping import MappingError, PartnerRegistry, shipped_format, shipped_format_names
from lastmile.settings import Home, Settings
from lastmile.vault import Vault
from quality_checks import run_checks
from tests.conftest import NOW
from tests.landing_kit import ORDER, row, write_csv
from tests.test_ingest import assert_accounting, ingest

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "carriers"
if not REFERENCE.is_dir():
    REFERENCE = Path("/work/shared/reference/carriers")
EXAMPLES = {
    "fedex": "fedex/tracking_response.json",
    "ups": "ups/tracking_response.json",
    "usps": "usps/tracking_response.json",
    "canadapost": "canadapost/tracking_response.xml",
}
UTC = zoneinfo.ZoneInfo("UTC")


def tz(hours: int, minutes: int = 0) -> dt.timezone:
    return dt.timezone(dt.timedelta(hours=hours, minutes=minutes))


def mapped(partner_id: str, network: str = "UTC") -> list[tuple]:  # type: ignore[type-arg]
    partner = PartnerRegistry().get(partner_id)
    assert partner is not None
    data = (REFERENCE / EXAMPLES[partner_id]).read_bytes()
    return [
        (e.row, e.tracking_number, e.status_code, e.reason_code, e.status, e.exception_code, e.occurred_at,
         e.utc_offset, e.location, e.signer, e.outcome)
        for e in read_payload(data, partner, zoneinfo.ZoneInfo(network))
    ]  # fmt: skip


# --------------------------------------------------------------------------- the reference payloads, by hand


def test_fedex_example() -> None:
    # One scan event (PU, Picked Up, with exception code A25 which a pickup does not consult); the second
    # tracking number is a "not found" result without events. Shipment-level signer only goes to deliveries.
    assert mapped("fedex") == [
        (1, "128667043726", "PU", "A25", "in_transit", None, dt.datetime(2018, 2, 2, 12, 1, tzinfo=tz(-7)),
         "-07:00", "SEATTLE, WA, 98101, US", None, "mapped"),
    ]  # fmt: skip


def test_ups_example() -> None:
    # statusCode 003 = "Shipment Ready for UPS"; date/time without an offset: read in the network timezone.
    # The package's trackingNumber is the documentation placeholder "string", and it is what names it.
    expected_time = dt.datetime(2021, 2, 10, 7, 13, 56, tzinfo=UTC)
    assert mapped("ups") == [
        (1, "string", "003", None, "created", None, expected_time, None, "Wayne, NJ, 07470, US", None, "mapped"),
    ]
    london = mapped("ups", "Europe/London")[0]
    assert london[6] == dt.datetime(2021, 2, 10, 7, 13, 56, tzinfo=zoneinfo.ZoneInfo("Europe/London"))
    ny = mapped("ups", "America/New_York")[0]
    assert ny[6].astimezone(dt.UTC) == dt.datetime(2021, 2, 10, 12, 13, 56, tzinfo=dt.UTC)


def test_usps_example() -> None:
    n = "9400109104250532908587"
    est = tz(-5)
    assert mapped("usps") == [
        (1, n, "01", None, "delivered", None, dt.datetime(2024, 11, 22, 13, 58, tzinfo=est), "-05:00",
         "HERNANDO, FL, 34442", None, "mapped"),
        (2, n, "OF", None, "out_for_delivery", None, dt.datetime(2024, 11, 22, 9, 10, tzinfo=est), "-05:00",
         "HERNANDO, FL, 34442", None, "mapped"),
        (3, n, "07", None, "in_transit", None, dt.datetime(2024, 11, 22, 8, 59, tzinfo=est), "-05:00",
         "LECANTO, FL, 34461", None, "mapped"),
        (4, n, "A1", None, "in_transit", None, dt.datetime(2024, 11, 20, 1, 13, tzinfo=est), "-05:00",
         "JACKSONVILLE FL DISTRIBUTION CENTER", None, "mapped"),
        (5, n, "TL", None, "in_transit", None, dt.datetime(2024, 11, 20, 1, 11, tzinfo=est), "-05:00", None, None,
         "mapped"),
        (6, n, "TL", None, "in_transit", None, dt.datetime(2024, 11, 19, 18, 7, tzinfo=est), "-05:00", None, None,
         "mapped"),
        (7, n, "TL", None, "in_transit", None, dt.datetime(2024, 11, 19, 12, 11, tzinfo=est), "-05:00", None, None,
         "mapped"),
        (8, n, "T1", None, "in_transit", None, dt.datetime(2024, 11, 19, 6, 16, tzinfo=est), "-05:00",
         "QUEENS NY DISTRIBUTION CENTER", None, "mapped"),
        (9, n, "10", None, "in_transit", None, dt.datetime(2024, 11, 18, 18, 2, tzinfo=est), "-05:00",
         "QUEENS NY DISTRIBUTION CENTER", None, "mapped"),
        (10, n, "SF", None, "in_transit", None, dt.datetime(2024, 11, 18, 17, 1, tzinfo=est), "-05:00",
         "JAMAICA, NY, 11430", None, "mapped"),
        (11, n, "03", None, "in_transit", None, dt.datetime(2024, 11, 18, 11, 10, tzinfo=est), "-05:00",
         "JAMAICA, NY, 11430", None, "mapped"),
        (12, n, "GX", None, "created", None, dt.datetime(2024, 11, 15, 11, 32, tzinfo=est), "-05:00",
         "SPRINGFIELD GARDENS, NY, 11413", None, "mapped"),
    ]  # fmt: skip


def test_usps_recorded_at_is_the_gmt_timestamp() -> None:
    partner = PartnerRegistry().get("usps")
    assert partner is not None
    events = read_payload((REFERENCE / EXAMPLES["usps"]).read_bytes(), partner, UTC)
    assert events[0].recorded_at == dt.datetime(2024, 11, 22, 18, 58, 40, tzinfo=dt.UTC)


def test_canadapost_example() -> None:
    # EST is resolved by the format's zones table; event 20 ("Signature image recorded") is a known code
    # that is not a status: no event, but its signatory becomes a proof. 0173 is an addressing exception.
    pin, est = "7023210039414604", tz(-5)
    assert mapped("canadapost") == [
        (1, pin, "20", None, None, None, dt.datetime(2011, 2, 3, 11, 59, 59, tzinfo=est), "-05:00",
         "SAINTE-FOY, QC", "HETU", "informational"),
        (2, pin, "0174", None, "out_for_delivery", None, dt.datetime(2011, 2, 3, 8, 27, 43, tzinfo=est), "-05:00",
         "SAINTE-FOY, QC", None, "mapped"),
        (3, pin, "0100", None, "in_transit", None, dt.datetime(2011, 2, 2, 14, 45, 48, tzinfo=est), "-05:00",
         "QUEBEC, QC", None, "mapped"),
        (4, pin, "0173", None, "exception", "address_mismatch", dt.datetime(2011, 2, 2, 6, 19, 57, tzinfo=est),
         "-05:00", "QUEBEC, QC", None, "mapped"),
        (5, pin, "1496", None, "delivered", None, dt.datetime(2011, 2, 1, 7, 59, 52, tzinfo=est), "-05:00",
         "QUEBEC, QC", None, "mapped"),
        (6, pin, "20", None, None, None, dt.datetime(2011, 2, 1, 7, 59, 52, tzinfo=est), "-05:00", "QUEBEC, QC",
         "R GREGOIRE", "informational"),
    ]  # fmt: skip


# ------------------------------------------------------------------------------------------------ ingest


def landing_with_examples(tmp_path: Path) -> Path:
    landing = tmp_path / "landing"
    for partner_id, rel in EXAMPLES.items():
        target = landing / "partners" / partner_id / Path(rel).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REFERENCE / rel, target)
    order = row(ORDER, order_id="O-USPS", created_at="2024-11-15T10:00:00-05:00", window_start=None,
                window_end=None, partner_id="usps", partner_tracking_number="9400109104250532908587")  # fmt: skip
    write_csv(landing / "orders" / "orders.csv", [order])
    return landing


def test_ingest_examples(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, vault: Vault, settings: Settings
) -> None:
    landing = landing_with_examples(tmp_path)
    result = ingest(warehouse, landing, vault, settings)
    assert_accounting(warehouse)
    files = {r[0]: r[1:] for r in warehouse.execute(
        "SELECT path, entity, rows_read, rows_loaded, rows_duplicate, rows_quarantined FROM ingest_files"
        " WHERE entity = 'partners'").fetchall()}  # fmt: skip
    assert files == {
        "partners/canadapost/tracking_response.xml": ("partners", 6, 6, 0, 0),
        "partners/fedex/tracking_response.json": ("partners", 2, 1, 0, 1),
        "partners/ups/tracking_response.json": ("partners", 1, 1, 0, 0),
        "partners/usps/tracking_response.json": ("partners", 12, 12, 0, 0),
    }
    # FedEx's second tracking number is a "not found" result without events: reported, not lost silently.
    reported = warehouse.execute(
        "SELECT row_number, reason, detail, raw_record FROM quarantine WHERE path LIKE '%fedex%'"
    ).fetchall()
    assert [r[:2] for r in reported] == [(2, "shipment_without_events")]
    assert json.loads(reported[0][3]) == {
        "partner_id": "fedex",
        "tracking_number": "39936862321",
        "path": "output.completeTrackResults[1].trackResults[0]",
    }
    shipments = warehouse.execute(
        "SELECT path, shipments_found, shipments_read, shipments_reported FROM ingest_files ORDER BY path"
    ).fetchall()
    assert shipments == [
        ("orders/orders.csv", None, None, None),
        ("partners/canadapost/tracking_response.xml", 1, 1, 0),
        ("partners/fedex/tracking_response.json", 2, 1, 1),
        ("partners/ups/tracking_response.json", 1, 1, 0),
        ("partners/usps/tracking_response.json", 1, 1, 0),
    ]
    # USPS events found their order through orders.partner_id + partner_tracking_number; the others are orphans
    # named <partner_id>:<tracking number>.
    by_source = warehouse.execute("SELECT source, order_id, count(*) FROM events GROUP BY ALL ORDER BY ALL").fetchall()
    assert by_source == [
        ("partner:canadapost", "canadapost:7023210039414604", 4),
        ("partner:fedex", "fedex:128667043726", 1),
        ("partner:ups", "ups:string", 1),
        ("partner:usps", "O-USPS", 12),
    ]
    usps = warehouse.execute(
        "SELECT status, exception_code, occurred_at, recorded_at, courier_id, lat FROM events"
        " WHERE source = 'partner:usps' ORDER BY occurred_at DESC LIMIT 1"
    ).fetchone()
    assert usps == ("delivered", None, dt.datetime(2024, 11, 22, 18, 58, tzinfo=dt.UTC).astimezone(),
                    dt.datetime(2024, 11, 22, 18, 58, 40, tzinfo=dt.UTC).astimezone(), None, None)  # fmt: skip
    # Canada Post's two signatures became proofs (no image: the carrier holds it), the names are not stored.
    proofs = warehouse.execute(
        "SELECT order_id, kind, captured_at, blob_path FROM proofs ORDER BY captured_at"
    ).fetchall()
    assert proofs == [
        ("canadapost:7023210039414604", "signature", dt.datetime(2011, 2, 1, 12, 59, 52, tzinfo=dt.UTC), None),
        ("canadapost:7023210039414604", "signature", dt.datetime(2011, 2, 3, 16, 59, 59, tzinfo=dt.UTC), None),
    ]  # fmt: skip
    signed = warehouse.execute("SELECT count(*) FROM partner_events WHERE signed AND signer_name_hash IS NOT NULL")
    assert signed.fetchone() == (2,)
    # The raw payload is kept: its digest, and an encrypted copy that opens to the bytes the partner sent.
    payloads = warehouse.execute(
        "SELECT partner_id, sha256, payload_artifact_id FROM partner_payloads ORDER BY 1"
    ).fetchall()
    assert [p[0] for p in payloads] == ["canadapost", "fedex", "ups", "usps"]
    for partner_id, sha, artifact_id in payloads:
        raw = (REFERENCE / EXAMPLES[partner_id]).read_bytes()
        import hashlib

        assert sha == hashlib.sha256(raw).hexdigest()
        assert vault.open(artifact_id) == raw
    assert result.touched["events"] >= {dt.date(2024, 11, 22), dt.date(2011, 2, 3), dt.date(2018, 2, 2)}
    # nothing personal in plaintext in the warehouse: the signer names and FedEx's contact names
    dump = (
        warehouse.execute("SELECT * FROM partner_events").fetchall()
        + warehouse.execute("SELECT * FROM quarantine").fetchall()
    )
    assert "GREGOIRE" not in repr(dump) and "HETU" not in repr(dump)


def test_reingest_changes_nothing(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, vault: Vault, settings: Settings
) -> None:
    landing = landing_with_examples(tmp_path)
    ingest(warehouse, landing, vault, settings)
    tables = ("events", "proofs", "partner_events", "partner_payloads", "quarantine", "ingest_files")
    before = {t: warehouse.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}
    second = ingest(warehouse, landing, vault, settings, run="r2")
    assert second.files == [] and len(second.skipped) == 5
    assert {t: warehouse.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables} == before


# ------------------------------------------------------------------------------ hand-built USPS payloads


def usps_event(code: str, when: str, offset: str | None = "+00:00", name: str | None = None) -> dict:  # type: ignore[type-arg]
    return {"eventType": f"event {code}", "eventTimestamp": when, "GMTOffset": offset, "eventCity": "LONDON",
            "eventCode": code, "name": name}  # fmt: skip


def usps_payload(path: Path, tracking: str, events: list[dict]) -> Path:  # type: ignore[type-arg]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"trackingNumber": tracking, "trackingEvents": events}), encoding="utf-8")
    return path


def partner_order(landing: Path, order_id: str, partner_id: str, tracking: str) -> None:
    write_csv(landing / "orders" / f"{order_id}.csv", [row(
        ORDER, order_id=order_id, created_at="2026-10-05T07:00:00Z", window_start=None, window_end=None,
        partner_id=partner_id, partner_tracking_number=tracking)])  # fmt: skip


def findings(conn: duckdb.DuckDBPyConnection, check_id: str) -> list[tuple]:  # type: ignore[type-arg]
    return conn.execute(
        "SELECT entity_id, partition_date::VARCHAR FROM dq_findings WHERE check_id = ? ORDER BY ALL", [check_id]
    ).fetchall()


def test_unknown_code_is_an_unmapped_finding_and_no_event(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, vault: Vault, settings: Settings
) -> None:
    landing = tmp_path / "landing"
    partner_order(landing, "O1", "usps", "T1")
    usps_payload(landing / "partners" / "usps" / "a.json", "T1", [
        usps_event("01", "2026-10-06T12:00:00"),
        usps_event("ZZ", "2026-10-06T11:00:00"),   # no mapping
        usps_event("OF", "2026-10-06T08:00:00"),
    ])  # fmt: skip
    ingest(warehouse, landing, vault, settings)
    assert_accounting(warehouse)
    assert warehouse.execute("SELECT status FROM events ORDER BY occurred_at").fetchall() == [
        ("out_for_delivery",), ("delivered",)]  # fmt: skip
    q = warehouse.execute("SELECT path, row_number, reason, detail, raw_record FROM quarantine").fetchall()
    assert [r[:4] for r in q] == [("partners/usps/a.json", 2, "unmapped_code", "no mapping for 'ZZ'")]
    assert json.loads(q[0][4])["status_code"] == "ZZ"  # the raw text is kept with it
    run_checks(warehouse, settings, run_id="c1", now=NOW)
    assert findings(warehouse, "partner.unmapped_code") == [("usps:ZZ", "2026-10-06")]
    row_ = warehouse.execute(
        "SELECT severity, order_id, observed FROM dq_findings WHERE check_id = 'partner.unmapped_code'"
    )
    severity, order_id, observed = row_.fetchone()  # type: ignore[misc]
    assert (severity, order_id, json.loads(observed)["unmapped_events"]) == ("error", None, 1)


def test_a_mapping_added_later_loads_the_event_on_its_next_delivery(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, vault: Vault, settings: Settings
) -> None:
    landing = tmp_path / "landing"
    partner_order(landing, "O1", "usps", "T1")
    usps_payload(landing / "partners" / "usps" / "a.json", "T1", [usps_event("ZZ", "2026-10-06T11:00:00")])
    ingest(warehouse, landing, vault, settings)
    assert warehouse.execute("SELECT count(*) FROM intake_events").fetchone() == (0,)
    # The partner's config adds the code; the next payload repeating the event loads it.
    configs = tmp_path / "home-partners"
    configs.mkdir()
    (configs / "usps.yaml").write_text('format: usps\nstatuses:\n  "ZZ": exception/weather\n')
    usps_payload(landing / "partners" / "usps" / "b.json", "T1", [usps_event("ZZ", "2026-10-06T11:00:00")])
    from lastmile.ingest import ingest_landing

    result = ingest_landing(warehouse, landing, vault=vault, settings=settings, run_id="r2", now=NOW,
                            partner_dir=configs)  # fmt: skip
    assert [(f.path, f.rows_loaded) for f in result.files] == [("partners/usps/b.json", 1)]
    assert warehouse.execute("SELECT status, exception_code FROM intake_events").fetchall() == [
        ("exception", "weather")
    ]
    assert warehouse.execute("SELECT outcome FROM partner_events").fetchall() == [("mapped",)]


def test_repeated_payloads_out_of_order_and_offsets(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, vault: Vault, settings: Settings
) -> None:
    landing = tmp_path / "landing"
    partner_order(landing, "O1", "usps", "T1")
    first = [usps_event("03", "2026-10-05T09:00:00"), usps_event("OF", "2026-10-06T08:00:00")]
    # The second poll repeats the history newest first, one event written with another offset for the same
    # instant (09:00Z = 10:00+01:00), and adds a delivery signed by the recipient.
    second = [
        usps_event("01", "2026-10-06T13:30:00", "+01:00", name="Ann Lee"),
        usps_event("OF", "2026-10-06T08:00:00"),
        usps_event("03", "2026-10-05T10:00:00", "+01:00"),
        usps_event("OF", "2026-10-06T08:00:00"),  # the same event twice in one payload
    ]
    usps_payload(landing / "partners" / "usps" / "2026-10-06" / "poll-1.json", "T1", first)
    usps_payload(landing / "partners" / "usps" / "2026-10-06" / "poll-2.json", "T1", second)
    ingest(warehouse, landing, vault, settings)
    assert_accounting(warehouse)
    counts = warehouse.execute("SELECT path, rows_read, rows_loaded, rows_duplicate FROM ingest_files"
                               " WHERE entity = 'partners' ORDER BY path").fetchall()  # fmt: skip
    assert counts == [("partners/usps/2026-10-06/poll-1.json", 2, 2, 0),
                      ("partners/usps/2026-10-06/poll-2.json", 4, 1, 3)]  # fmt: skip
    events = warehouse.execute("SELECT status, occurred_at FROM events ORDER BY occurred_at").fetchall()
    assert [(s, t.astimezone(dt.UTC)) for s, t in events] == [
        ("in_transit", dt.datetime(2026, 10, 5, 9, tzinfo=dt.UTC)),
        ("out_for_delivery", dt.datetime(2026, 10, 6, 8, tzinfo=dt.UTC)),
        ("delivered", dt.datetime(2026, 10, 6, 12, 30, tzinfo=dt.UTC)),
    ]
    assert warehouse.execute("SELECT order_id, kind FROM proofs").fetchall() == [("O1", "signature")]
    run_checks(warehouse, settings, run_id="c1", now=NOW)
    # the delivery has its out_for_delivery before it, whatever the order the partner listed them in
    assert findings(warehouse, "event.sequence_gap") == []
    assert findings(warehouse, "event.orphan") == []


def test_naive_partner_time_is_read_in_the_network_timezone(
    tmp_path: Path, vault: Vault, warehouse: duckdb.DuckDBPyConnection
) -> None:
    settings = Settings(network_timezone="Europe/London")
    landing = tmp_path / "landing"
    usps_payload(landing / "partners" / "usps" / "a.json", "T9", [usps_event("OF", "2026-10-06T08:00:00", None)])
    ingest(warehouse, landing, vault, settings)
    occurred, offset = warehouse.execute("SELECT occurred_at, utc_offset FROM partner_events").fetchone()  # type: ignore[misc]
    assert occurred.astimezone(dt.UTC) == dt.datetime(2026, 10, 6, 7, tzinfo=dt.UTC)  # BST
    assert offset is None
    # no order names T9: the event still lands, as an orphan named by partner and tracking number
    assert warehouse.execute("SELECT order_id FROM intake_events").fetchall() == [("usps:T9",)]


def test_bad_partner_files_are_quarantined_whole_or_per_event(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, vault: Vault, settings: Settings
) -> None:
    landing = tmp_path / "landing"
    (landing / "partners" / "dhl").mkdir(parents=True)
    (landing / "partners" / "dhl" / "x.json").write_text("{}")
    (landing / "partners" / "loose.json").write_text("{}")
    (landing / "partners" / "fedex").mkdir(parents=True)
    (landing / "partners" / "fedex" / "cut.json").write_text('{"output": {"completeTrackRe')
    (landing / "partners" / "fedex" / "other.json").write_text('{"trackResponse": {}}')
    (landing / "partners" / "canadapost").mkdir(parents=True)
    (landing / "partners" / "canadapost" / "dtd.xml").write_text(
        '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'
    )
    usps_payload(landing / "partners" / "usps" / "rows.json", "T1", [
        usps_event("OF", "2026-10-06T08:00:00"),
        usps_event("OF", "2026-10-06T25:00:00"),
        usps_event("OF", "2026-10-06T08:00:00", "+5h"),
        {"eventTimestamp": "2026-10-06T08:00:00"},
    ])  # fmt: skip
    usps_payload(landing / "partners" / "usps" / "no-number.json", None, [usps_event("OF", "2026-10-06T08:00:00")])  # type: ignore[arg-type]
    ingest(warehouse, landing, vault, settings)
    assert_accounting(warehouse)
    got = warehouse.execute(
        "SELECT path, row_number, reason, raw_record IS NULL FROM quarantine ORDER BY ALL"
    ).fetchall()
    assert got == [
        ("partners/canadapost/dtd.xml", 0, "unreadable_file", True),
        ("partners/dhl/x.json", 0, "unknown_partner", True),
        ("partners/fedex/cut.json", 0, "unreadable_file", True),
        ("partners/fedex/other.json", 0, "unrecognised_payload", True),
        ("partners/loose.json", 0, "unknown_partner", True),
        ("partners/usps/no-number.json", 1, "missing_required", False),
        ("partners/usps/rows.json", 2, "bad_timestamp", False),
        ("partners/usps/rows.json", 3, "bad_timestamp", False),
        ("partners/usps/rows.json", 4, "missing_required", False),
    ]
    # whole files are kept encrypted
    ids = warehouse.execute("SELECT raw_artifact_id FROM quarantine WHERE row_number = 0 ORDER BY path").fetchall()
    assert vault.open(ids[1][0]) == b"{}"


def test_a_fifth_partner_is_one_file(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, vault: Vault, settings: Settings
) -> None:
    configs = tmp_path / "partners"
    configs.mkdir()
    (configs / "parcelnord.yaml").write_text("# Parcel Nord sends the UPS format\nformat: ups\n")
    landing = tmp_path / "landing"
    target = landing / "partners" / "parcelnord" / "t.json"
    target.parent.mkdir(parents=True)
    shutil.copyfile(REFERENCE / EXAMPLES["ups"], target)
    from lastmile.ingest import ingest_landing

    ingest_landing(warehouse, landing, vault=vault, settings=settings, run_id="r", now=NOW, partner_dir=configs)
    assert warehouse.execute("SELECT source, status FROM intake_events").fetchall() == [
        ("partner:parcelnord", "created")
    ]


def test_mapping_files_are_validated(tmp_path: Path) -> None:
    assert shipped_format_names() == ["canadapost", "fedex", "ups", "usps"]
    for name in shipped_format_names():
        assert shipped_format(name).statuses
    bad = tmp_path / "p"
    bad.mkdir()
    (bad / "a.yaml").write_text("format: ups\nstatuses:\n  '999': shipped\n")
    (bad / "b.yaml").write_text("format: dhl\n")
    (bad / "c.yaml").write_text("partner_id: zz\nformat: ups\n")
    (bad / "d.yaml").write_text("format: ups\nreasons:\n  X1: lost\n")
    reg = PartnerRegistry(bad)
    with pytest.raises(MappingError, match="'shipped' is not a canonical status"):
        reg.get("a")
    with pytest.raises(LastmileError, match="unknown partner format 'dhl'"):
        reg.get("b")
    with pytest.raises(MappingError, match="does not match the file name"):
        reg.get("c")
    with pytest.raises(MappingError, match="'lost' is not a canonical exception code"):
        reg.get("d")
    assert reg.get("nobody") is None


def test_event_id_is_the_same_instant_whatever_the_offset() -> None:
    a = partner_event_id("ups", "1Z", dt.datetime(2026, 10, 6, 9, tzinfo=dt.UTC), "11", None)
    b = partner_event_id("ups", "1Z", dt.datetime(2026, 10, 6, 10, tzinfo=tz(1)), "11", None)
    c = partner_event_id("ups", "1Z", dt.datetime(2026, 10, 6, 10, tzinfo=tz(1)), "11", "x")
    assert a == b != c and a.startswith("partner:ups:")


def test_new_code_is_a_code_first_seen_in_the_partitions_week(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, vault: Vault, settings: Settings
) -> None:
    landing = tmp_path / "landing"
    usps_payload(landing / "partners" / "usps" / "a.json", "T1", [
        usps_event("03", "2026-10-05T09:00:00"),   # Monday, week 41: first sighting of 03
        usps_event("03", "2026-10-11T09:00:00"),   # Sunday, same week: still new that week
        usps_event("03", "2026-10-12T09:00:00"),   # Monday, week 42: no longer new
        usps_event("OF", "2026-10-13T09:00:00"),   # first sighting of OF, week 42
        usps_event("ZZ", "2026-10-13T10:00:00"),   # unmapped: partner.unmapped_code, not new_code
    ])  # fmt: skip
    ingest(warehouse, landing, vault, settings)
    run_checks(warehouse, settings, run_id="c1", now=NOW)
    assert findings(warehouse, "partner.new_code") == [
        ("usps:03", "2026-10-05"), ("usps:03", "2026-10-11"), ("usps:OF", "2026-10-13")]  # fmt: skip
    evaluated = warehouse.execute("SELECT sum(evaluated) FROM dq_check_runs WHERE check_id = 'partner.new_code'")
    assert evaluated.fetchone() == (4,)
    assert findings(warehouse, "partner.unmapped_code") == [("usps:ZZ", "2026-10-13")]


def _attempts(day: str, codes: list[str]) -> list[dict]:  # type: ignore[type-arg]
    return [usps_event(code, f"{day}T{10 + i:02d}:00:00") for i, code in enumerate(codes)]


def test_reason_drift_against_the_trailing_four_weeks(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, vault: Vault, settings: Settings
) -> None:
    # 02 = recipient_unavailable, 04 = refused, 05 = address_not_found
    landing = tmp_path / "landing"
    usps_payload(landing / "partners" / "usps" / "a.json", "T1", [
        *_attempts("2026-09-01", ["05"]),                    # 36 days before 10-07: outside every window
        *_attempts("2026-10-05", ["02", "02", "04", "04", "04"]),   # baseline 40% / 60%
        *_attempts("2026-10-06", ["02", "04"]),              # 50% / 50%: moved exactly 10 points, not more
        *_attempts("2026-10-07", ["02", "02", "02", "04"]),  # 75% / 25% against 3/7 and 4/7: both moved
    ])  # fmt: skip
    ingest(warehouse, landing, vault, settings)
    run_checks(warehouse, settings, run_id="c1", now=NOW)
    assert findings(warehouse, "partner.reason_drift") == [
        ("usps:recipient_unavailable", "2026-10-07"), ("usps:refused", "2026-10-07")]  # fmt: skip
    got = warehouse.execute("SELECT observed FROM dq_findings WHERE entity_id = 'usps:refused'").fetchone()
    assert got is not None
    observed = json.loads(got[0])
    assert (observed["day_share_pct"], observed["trailing_share_pct"]) == (25.0, 57.14)
    # 10-05 has no baseline (the 09-01 attempt is 34 days back), 10-06 sits on the threshold
    runs = dict(warehouse.execute("SELECT partition_date::VARCHAR, evaluated FROM dq_check_runs"
                                  " WHERE check_id = 'partner.reason_drift' AND evaluated > 0").fetchall())  # fmt: skip
    assert runs == {"2026-10-06": 2, "2026-10-07": 2}
    # a lower threshold catches the 10-point move
    run_checks(warehouse, Settings(reason_drift_points=9.9), run_id="c2", now=NOW, checks=["partner.reason_drift"])
    assert ("usps:refused", "2026-10-06") in findings(warehouse, "partner.reason_drift")


# ---------------------------------------------------------------------------------------------- generator


def test_generated_partner_feeds(tmp_path: Path) -> None:
    from lastmile.generator import generate

    out = tmp_path / "g"
    generate(out, days=3, orders_per_day=40, seed=2, timezone="Europe/London")
    files = sorted(p.relative_to(out).as_posix() for p in (out / "partners").rglob("*") if p.is_file())
    assert {f.split("/")[1] for f in files} == {"fedex", "ups", "usps", "canadapost"}
    truth = [json.loads(line) for line in (out / "ground_truth.jsonl").read_text().splitlines()]
    unmapped = [t for t in truth if t["type"] == "quarantine" and t["reason"] == "unmapped_code"]
    assert unmapped
    registry = PartnerRegistry()
    for t in unmapped:  # the quarantined row of the payload is an event whose code has no mapping
        partner = registry.get(t["file"].split("/")[1])
        assert partner is not None
        events = read_payload((out / t["file"]).read_bytes(), partner, zoneinfo.ZoneInfo("Europe/London"))
        ev = events[t["row_number"] - 1]
        assert ev.outcome == "unmapped" and ev.event_id == t["entity_id"]
        assert {e.outcome for e in events} - {"unmapped"} <= {"mapped", "informational"}


def test_a_partner_event_outside_the_partitions_is_quarantined(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, vault: Vault, settings: Settings
) -> None:
    from lastmile.ingest import ingest_landing

    landing = tmp_path / "landing"
    partner_order(landing, "O1", "usps", "T1")
    usps_payload(landing / "partners" / "usps" / "a.json", "T1", [
        usps_event("OF", "2026-10-06T08:00:00"),
        usps_event("01", "9999-12-31T23:59:59", "+00:00"),
    ])  # fmt: skip
    partitions = (dt.date(2026, 10, 1), dt.date(2026, 10, 31))
    result = ingest_landing(warehouse, landing, vault=vault, settings=settings, run_id="r1", now=NOW,
                            partitions=partitions)  # fmt: skip
    assert result.quarantined_by_reason == {"outside_partitions": 1}
    q = warehouse.execute("SELECT path, row_number, reason, detail FROM quarantine").fetchall()
    assert [r[:3] for r in q] == [("partners/usps/a.json", 2, "outside_partitions")]
    assert "2026-10-01..2026-10-31" in q[0][3]
    assert warehouse.execute("SELECT count(*) FROM intake_events").fetchone() == (1,)
    assert result.unpublished["events"] == {dt.date(2026, 10, 5), dt.date(2026, 10, 6)}  # the order's day too


# ------------------------------------------------------------------------------------ parallel parsing


def test_parallel_parsing_gives_the_serial_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Home, settings: Settings
) -> None:
    """Partner payloads parsed by worker processes land exactly as parsed in this process: every table,
    row numbers, accounting, quarantine and the sealed payloads (same keys, so the same keyed hashes)."""
    from lastmile.generator import generate
    from lastmile.ingest import ingest_landing
    from lastmile.partners import ingest as partner_ingest
    from lastmile.vault.keyring import open_keyring
    from lastmile.warehouse import connect

    landing = tmp_path / "landing"
    generate(landing, days=3, orders_per_day=40, seed=3)
    partners = landing / "partners"
    # every way a payload can fail, spread between good files, and a payload delivered twice
    (partners / "usps" / "0-not-json.json").write_text("{ nope")
    (partners / "fedex" / "0-other-shape.json").write_text('{"something": "else"}')
    (partners / "nobody").mkdir()
    (partners / "nobody" / "x.json").write_text("{}")
    first = sorted((partners / "ups").rglob("*.json"))[0]
    shutil.copyfile(first, partners / "ups" / "zz-again.json")
    for partner_id, rel in EXAMPLES.items():
        shutil.copyfile(REFERENCE / rel, partners / partner_id / Path(rel).name)
    n_files = sum(1 for p in partners.rglob("*") if p.is_file())
    monkeypatch.setattr(partner_ingest, "CHUNK_FILES", 3)  # many chunks, several in flight at once
    assert n_files > 4 * partner_ingest.CHUNK_FILES
    taken: list[int] = []
    real_parallel = partner_ingest._parallel

    def parallel(files, registry, tz, workers):  # type: ignore[no-untyped-def]
        for item in real_parallel(files, registry, tz, workers):
            taken.append(workers)
            yield item

    monkeypatch.setattr(partner_ingest, "_parallel", parallel)

    tables = ("ingest_files", "quarantine", "partner_events", "partner_payloads", "intake_events", "intake_proofs",
              "order_revisions", "unpublished_partitions")  # fmt: skip
    keys = open_keyring(home.keys_dir, environ={})
    got = {}
    for workers in (1, 2):
        h = Home(tmp_path / f"home{workers}").ensure()
        conn = connect(h.warehouse, settings.network_timezone)
        vault = Vault(conn, h.vault_dir, keys)
        result = ingest_landing(conn, landing, vault=vault, settings=settings, run_id="r", now=NOW,
                                partner_workers=workers)  # fmt: skip
        assert_accounting(conn)
        sealed = conn.execute(
            "SELECT artifact_id FROM vault_artifacts WHERE artifact_id LIKE 'partner_payload:%'"
            " OR artifact_id LIKE 'quarantine:%' ORDER BY 1"
        ).fetchall()
        got[workers] = (
            {t: conn.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables},
            {a: vault.open(a) for (a,) in sealed},
            result.quarantined_by_reason,
            [(f.path, f.rows_read, f.rows_duplicate, f.shipments_found) for f in result.files],
        )
        conn.close()
    assert taken == [2] * n_files  # workers=1 parses here; workers=2 took every file from the pool
    serial, parallel = got[1], got[2]
    assert parallel == serial
    assert {"unknown_partner", "unreadable_file", "unrecognised_payload", "unmapped_code"} <= set(serial[2])
    accounts = {path: rest for path, *rest in serial[3]}
    rows_read, duplicates, _ = accounts["partners/ups/zz-again.json"]
    assert rows_read == duplicates > 0  # the re-delivered payload: every event a duplicate
    assert len(serial[0]["partner_events"]) > 20 and len(serial[1]) > 20
