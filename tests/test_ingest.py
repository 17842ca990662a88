import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import duckdb
import pytest

from lastmile.ingest import PUBLISHED_TABLES, ingest_landing, list_landing_files, publish_partitions
from lastmile.ingest.load import blob_path_escapes
from lastmile.settings import Home, Settings
from lastmile.warehouse import connect
from tests.conftest import NOW
from tests.landing_kit import (
    EVENT,
    JPEG,
    ORDER,
    PROOF,
    row,
    write_blob,
    write_csv,
    write_jsonl,
    write_parquet,
)

TABLES = ("ingest_files", "quarantine", "order_revisions", "intake_events", "intake_proofs",
          "orders", "events", "proofs", "vault_artifacts")  # fmt: skip


def ingest(conn: duckdb.DuckDBPyConnection, landing: Path, vault, settings: Settings, run: str = "r1"):  # type: ignore[no-untyped-def]
    result = ingest_landing(conn, landing, vault=vault, settings=settings, run_id=run, now=NOW)
    span = result.touched_range()
    if span:
        for table in PUBLISHED_TABLES:
            publish_partitions(conn, table, span[0], span[1], now=NOW)
    return result


def quarantined(conn: duckdb.DuckDBPyConnection) -> set[tuple[str, int, str]]:
    return set(conn.execute("SELECT path, row_number, reason FROM quarantine").fetchall())


def assert_accounting(conn: duckdb.DuckDBPyConnection) -> None:
    bad = conn.execute(
        "SELECT path FROM ingest_files WHERE rows_read <> rows_loaded + rows_duplicate + rows_revised"
        " + rows_quarantined"
    ).fetchall()
    assert bad == []
    per_file = dict(conn.execute("SELECT path, rows_quarantined FROM ingest_files").fetchall())
    in_table = dict(conn.execute("SELECT path, count(*) FROM quarantine GROUP BY path").fetchall())
    assert {p: n for p, n in per_file.items() if n} == in_table


def test_every_malformed_kind_is_quarantined_with_its_reason(tmp_path, warehouse, vault, settings):
    landing = tmp_path / "landing"
    write_blob(landing, "p1.jpg")
    write_csv(landing / "orders/a.csv", [
        row(ORDER),
        row(ORDER, order_id="O2", created_at="2026-13-01 10:00"),          # 2 bad_timestamp
        row(ORDER, order_id="O3", service_type="express"),                 # 3 unknown_service_type
        row(ORDER, order_id="O4", country="XX"),                           # 4 unknown_country
        row(ORDER, order_id="O5", address_lat="51.5", address_lon=""),     # 5 partial_coordinates
        row(ORDER, order_id="O6", window_end=""),                          # 6 partial_window
        row(ORDER, order_id="O7", window_start="2026-10-05T12:00:00Z"),    # 7 window_not_ordered
        row(ORDER, order_id="O8", address_lat="north"),                    # 8 bad_number
        row(ORDER, order_id="O9", postcode=""),                            # 9 missing_required
        row(ORDER, order_id="O10", partner_id="ups"),                      # 10 missing_required (tracking no.)
    ])  # fmt: skip
    write_csv(landing / "events/a.csv", [
        row(EVENT),
        row(EVENT, event_id="E2", status="teleported"),                    # 2 unknown_status
        row(EVENT, event_id="E3", source="pigeon"),                        # 3 unknown_source
        row(EVENT, event_id="E4", lon=""),                                 # 4 partial_coordinates
        row(EVENT, event_id="E5", lat="91"),                               # 5 bad_number (range)
        row(EVENT, event_id="E6", order_id=""),                            # 6 missing_required
        row(EVENT, event_id="E1", courier_id="C9"),                        # 7 conflict
        row(EVENT),                                                        # 8 duplicate
    ])  # fmt: skip
    broken = landing / "events/b.csv"
    broken.write_text(
        "event_id,order_id,status,exception_code,occurred_at,recorded_at,courier_id,source,lat,lon\n"
        "E7,O1,arrived,,2026-10-05T10:05:00Z,2026-10-05T10:06:00Z,C1,driver_app,51.5,-0.07\n"
        "\n"
        "E8,O1,arrived,,2026-10-05T10:05:00Z\n"
        'E9,O1,"arrived",,2026-10-05T10:07:00Z,2026-10-05T10:08:00Z,C1,driver_app,,\n'
    )
    write_jsonl(landing / "events/c.jsonl", [row(EVENT, event_id="E10", occurred_at="yesterday")])
    with (landing / "events/c.jsonl").open("a") as f:
        f.write('{"event_id": "E11", "order_id":\n[1, 2]\n')
    (landing / "events/d.parquet").write_bytes(b"PAR1 this is not parquet at all")
    (landing / "events/e.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    (landing / "orders/README.txt").write_text("notes from the shipper")
    write_csv(landing / "proofs/a.csv", [
        row(PROOF),
        row(PROOF, proof_id="P2", kind="selfie"),                          # 2 unknown_kind
        row(PROOF, proof_id="P3", blob_path="../../etc/passwd"),           # 3 blob_path_escape
        row(PROOF, proof_id="P4", blob_path="/etc/passwd"),                # 4 blob_path_escape
        row(PROOF, proof_id="P5", captured_at=""),                         # 5 missing_required
    ])  # fmt: skip

    result = ingest(warehouse, landing, vault, settings)

    assert quarantined(warehouse) == {
        ("orders/a.csv", 2, "bad_timestamp"), ("orders/a.csv", 3, "unknown_service_type"),
        ("orders/a.csv", 4, "unknown_country"), ("orders/a.csv", 5, "partial_coordinates"),
        ("orders/a.csv", 6, "partial_window"), ("orders/a.csv", 7, "window_not_ordered"),
        ("orders/a.csv", 8, "bad_number"), ("orders/a.csv", 9, "missing_required"),
        ("orders/a.csv", 10, "missing_required"),
        ("events/a.csv", 2, "unknown_status"), ("events/a.csv", 3, "unknown_source"),
        ("events/a.csv", 4, "partial_coordinates"), ("events/a.csv", 5, "bad_number"),
        ("events/a.csv", 6, "missing_required"), ("events/a.csv", 7, "conflict"),
        ("events/b.csv", 2, "malformed_row"),
        ("events/c.jsonl", 1, "bad_timestamp"), ("events/c.jsonl", 2, "malformed_row"),
        ("events/c.jsonl", 3, "malformed_row"),
        ("events/d.parquet", 0, "unreadable_file"), ("events/e.csv", 0, "unreadable_file"),
        ("orders/README.txt", 0, "unsupported_file"),
        ("proofs/a.csv", 2, "unknown_kind"), ("proofs/a.csv", 3, "blob_path_escape"),
        ("proofs/a.csv", 4, "blob_path_escape"), ("proofs/a.csv", 5, "missing_required"),
    }  # fmt: skip
    assert_accounting(warehouse)
    files = {f.path: f for f in result.files}
    assert (files["events/a.csv"].rows_read, files["events/a.csv"].rows_loaded) == (8, 1)
    assert files["events/a.csv"].rows_duplicate == 1
    assert (files["events/b.csv"].rows_read, files["events/b.csv"].rows_loaded) == (3, 2)
    assert files["events/d.parquet"].status == "unreadable"
    assert warehouse.execute("SELECT count(*) FROM events").fetchone() == (3,)
    # the conflict names the first row; the first content stayed
    detail, courier = warehouse.execute(
        "SELECT q.detail, e.courier_id FROM quarantine q JOIN events e ON e.event_id = q.entity_id"
        " WHERE q.reason = 'conflict'"
    ).fetchone()
    assert detail.endswith("row 1") and courier == "C1"
    # nothing was read from outside blobs/
    assert warehouse.execute("SELECT count(*) FROM intake_proofs WHERE proof_id IN ('P3','P4')").fetchone() == (0,)
    # order rows (personal data) are kept encrypted; event rows as plain JSON
    enc = warehouse.execute(
        "SELECT entity, bool_and(raw_record IS NULL AND raw_artifact_id IS NOT NULL) FROM quarantine"
        " WHERE reason NOT IN ('malformed_row', 'unreadable_file', 'unsupported_file') GROUP BY entity"
    ).fetchall()
    assert dict(enc) == {"orders": True, "events": False, "proofs": False}
    assert vault.open("quarantine:" + warehouse.execute(
        "SELECT quarantine_id FROM quarantine WHERE path = 'orders/a.csv' AND row_number = 2").fetchone()[0]
    ).decode().count("Ann Lee") == 1  # fmt: skip


def snapshot(conn: duckdb.DuckDBPyConnection) -> dict[str, object]:
    out: dict[str, object] = {}
    for table in TABLES:
        out[table] = conn.execute(f"SELECT count(*), sum(hash(t)) FROM {table} t").fetchone()
    return out


def test_reingest_changes_nothing(tmp_path, warehouse, vault, settings, home):
    landing = tmp_path / "landing"
    write_blob(landing, "p1.jpg")
    write_csv(landing / "orders/a.csv", [row(ORDER), row(ORDER, order_id="O2", country="ZZ")])
    write_csv(landing / "events/a.csv", [row(EVENT), row(EVENT, event_id="E2", status="delivered")])
    write_csv(landing / "proofs/a.csv", [row(PROOF)])
    first = ingest(warehouse, landing, vault, settings, "r1")
    before = snapshot(warehouse)
    vault_files = sorted(p.relative_to(home.root) for p in home.vault_dir.rglob("*"))
    second = ingest(warehouse, landing, vault, settings, "r2")
    assert snapshot(warehouse) == before
    assert sorted(p.relative_to(home.root) for p in home.vault_dir.rglob("*")) == vault_files
    assert len(first.files) == 3 and second.files == [] and len(second.skipped) == 3
    assert second.touched_range() is None


def test_revised_order_keeps_its_history(tmp_path, warehouse, vault, settings):
    landing = tmp_path / "landing"
    write_csv(landing / "orders/2026-10-05.csv", [row(ORDER)])
    ingest(warehouse, landing, vault, settings, "r1")
    write_csv(landing / "orders/2026-10-06.csv", [
        row(ORDER),                                            # identical: duplicate
        row(ORDER, address_line="1 High Street, Flat 2"),      # corrected address: revision 2
        row(ORDER, address_line="1 High Street, Flat 2"),      # identical to the new current: duplicate
        row(ORDER, recipient_phone="+44 20 7946 0000"),        # contact change only: revision 3
    ])  # fmt: skip
    result = ingest(warehouse, landing, vault, settings, "r2")
    (account,) = result.files
    assert (account.rows_read, account.rows_loaded, account.rows_duplicate, account.rows_revised) == (
        4,
        0,
        2,
        2,
    )
    history = warehouse.execute(
        "SELECT revision, address_line, file_id IS NOT NULL, recipient_phone_hash FROM order_revisions"
        " ORDER BY revision"
    ).fetchall()
    assert [(r, a) for r, a, _, _ in history] == [
        (1, "1 High Street"), (2, "1 High Street, Flat 2"), (3, "1 High Street"),
    ]  # fmt: skip
    assert history[0][3] == history[1][3] != history[2][3]  # phone change visible through the keyed hash
    assert warehouse.execute("SELECT revision, address_line FROM orders").fetchall() == [(3, "1 High Street")]
    assert json.loads(vault.open("contact:O1")) == {  # the file's last revision, encrypted ahead
        "recipient_email": "ann.lee@example.com", "recipient_name": "Ann Lee", "recipient_phone": "+44 20 7946 0000",
    }  # fmt: skip


def test_naive_timestamps_are_read_in_the_network_timezone(tmp_path, home):
    settings = Settings(network_timezone="America/New_York")
    conn = connect(home.warehouse, settings.network_timezone)
    from lastmile.vault import Vault
    from lastmile.vault.keyring import open_keyring

    vault = Vault(conn, home.vault_dir, open_keyring(home.keys_dir, environ={}))
    landing = tmp_path / "landing"
    write_csv(landing / "events/a.csv", [
        row(EVENT, event_id="E1", occurred_at="2026-10-05 22:30:00", recorded_at="2026-10-05T22:31:00"),
        row(EVENT, event_id="E2", occurred_at="2026-10-06T02:30:00Z", recorded_at="2026-10-06T02:31:00+00:00"),
    ])  # fmt: skip
    write_parquet(landing / "events/b.parquet", [
        {**row(EVENT, event_id="E3"), "occurred_at": dt.datetime(2026, 10, 5, 22, 30),
         "recorded_at": dt.datetime(2026, 10, 6, 2, 31, tzinfo=dt.UTC), "lat": 51.5, "lon": -0.07},
    ])  # fmt: skip
    ingest(conn, landing, vault, settings)
    rows = conn.execute("SELECT event_id, epoch(occurred_at), partition_date FROM events ORDER BY event_id").fetchall()
    instant = dt.datetime(2026, 10, 6, 2, 30, tzinfo=dt.UTC).timestamp()
    assert rows == [
        ("E1", instant, dt.date(2026, 10, 5)),
        ("E2", instant, dt.date(2026, 10, 5)),
        ("E3", instant, dt.date(2026, 10, 5)),
    ]
    conn.close()


def test_same_instant_with_another_offset_is_a_duplicate(tmp_path, warehouse, vault, settings):
    landing = tmp_path / "landing"
    write_csv(landing / "events/a.csv", [row(EVENT)])
    write_jsonl(landing / "events/b.jsonl", [
        {**row(EVENT, occurred_at="2026-10-05T12:00:00+02:00", recorded_at="2026-10-05 10:01:00"),
         "lat": 51.51560, "lon": -0.0721},
    ])  # fmt: skip
    result = ingest(warehouse, landing, vault, settings)
    assert [(f.rows_loaded, f.rows_duplicate) for f in result.files] == [(1, 0), (0, 1)]
    assert quarantined(warehouse) == set()


def test_blobs_are_sealed_and_described_not_stored(tmp_path, warehouse, vault, settings):
    landing = tmp_path / "landing"
    write_blob(landing, "d/p1.jpg")
    write_blob(landing, "d/empty.png", b"")
    write_blob(landing, "d/text.png", b"hello, not an image")
    write_csv(landing / "proofs/a.csv", [
        row(PROOF, blob_path="d/p1.jpg"),
        row(PROOF, proof_id="P2", blob_path="d/empty.png"),
        row(PROOF, proof_id="P3", blob_path="d/text.png"),
        row(PROOF, proof_id="P4", blob_path="d/missing.jpg"),
        row(PROOF, proof_id="P5", kind="pin", blob_path=""),
    ])  # fmt: skip
    ingest(warehouse, landing, vault, settings)
    rows = warehouse.execute(
        "SELECT proof_id, blob_present, blob_size, blob_format, blob_artifact_id FROM proofs ORDER BY 1"
    ).fetchall()
    assert rows == [
        ("P1", True, len(JPEG), "jpeg", "P1"),
        ("P2", True, 0, None, None),
        ("P3", True, 19, "unknown", "P3"),
        ("P4", False, None, None, None),
        ("P5", False, None, None, None),
    ]
    assert vault.open("P1") == JPEG


def test_blobs_that_are_not_regular_files_are_absent_and_large_ones_whole(tmp_path, warehouse, vault, settings):
    landing = tmp_path / "landing"
    big = JPEG + os.urandom(3 * (1 << 20) + 17)  # read in several chunks
    write_blob(landing, "d/big.jpg", big)
    (landing / "blobs/d/folder.jpg").mkdir()
    os.mkfifo(landing / "blobs/d/pipe.jpg")  # nobody writes to it: reading it must not hang the ingest
    write_csv(landing / "proofs/a.csv", [
        row(PROOF, blob_path="d/big.jpg"),
        row(PROOF, proof_id="P2", blob_path="d/folder.jpg"),
        row(PROOF, proof_id="P3", blob_path="d/pipe.jpg"),
    ])  # fmt: skip
    ingest(warehouse, landing, vault, settings)
    rows = warehouse.execute(
        "SELECT proof_id, blob_present, blob_size, blob_sha256, blob_artifact_id FROM proofs ORDER BY 1"
    ).fetchall()
    assert rows == [
        ("P1", True, len(big), hashlib.sha256(big).hexdigest(), "P1"),
        ("P2", False, None, None, None),
        ("P3", False, None, None, None),
    ]
    assert vault.open("P1") == big


def test_blobs_encrypted_ahead_are_sealed_only_for_loaded_rows(tmp_path, warehouse, vault, settings):
    """The read-ahead encrypts every readable blob before the rows are classified; only the loaded rows'
    reach the vault, each under its own proof id (a duplicate row's blob is encrypted, and dropped)."""
    landing = tmp_path / "landing"
    pin = JPEG + b"pin"
    write_blob(landing, "d/p1.jpg")
    write_blob(landing, "d/p2.jpg", pin)
    write_blob(landing, "d/p3.jpg", JPEG + b"three")
    write_csv(landing / "proofs/a.csv", [
        row(PROOF, blob_path="d/p1.jpg"),
        row(PROOF, proof_id="P2", kind="pin", blob_path="d/p2.jpg"),                  # sealed as a photo
        row(PROOF, proof_id="P3", captured_at="", blob_path="d/p3.jpg"),              # missing_required
        row(PROOF, proof_id="P4", kind="selfie", blob_path="d/p3.jpg"),               # unknown_kind
        row(PROOF, proof_id="P1", blob_path="d/p1.jpg", recorded_at="2026-10-05T10:40:00Z"),  # conflict
    ])  # fmt: skip
    ingest(warehouse, landing, vault, settings)
    nonce = warehouse.execute("SELECT nonce FROM vault_artifacts WHERE artifact_id = 'P1'").fetchone()
    write_csv(landing / "proofs/b.csv", [row(PROOF, blob_path="d/p1.jpg")])  # a duplicate of a.csv's P1
    ingest(warehouse, landing, vault, settings, run="r2")
    assert warehouse.execute("SELECT nonce FROM vault_artifacts WHERE artifact_id = 'P1'").fetchone() == nonce
    assert vault.open("P1") == JPEG and vault.open("P2") == pin
    assert not vault.exists("P3") and not vault.exists("P4")
    kinds = warehouse.execute(
        "SELECT artifact_id, artifact_kind FROM vault_artifacts WHERE artifact_id LIKE 'P%' ORDER BY 1"
    ).fetchall()
    assert kinds == [("P1", "photo"), ("P2", "photo")]
    assert quarantined(warehouse) == {
        ("proofs/a.csv", 3, "missing_required"), ("proofs/a.csv", 4, "unknown_kind"), ("proofs/a.csv", 5, "conflict"),
    }  # fmt: skip


def test_blob_path_escape_rules(tmp_path):
    root = tmp_path / "blobs"
    (root / "d").mkdir(parents=True)
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"x")
    os.symlink(outside, root / "d" / "link.png")
    for bad in ("../x.png", "/etc/passwd", "d/../../x.png", "C:/x.png", "\\server\\x.png", "d/link.png"):
        assert blob_path_escapes(bad, root), bad
    for good in ("x.png", "d/x.png", "d/../x.png", "./d/x.png"):
        assert not blob_path_escapes(good, root), good


def test_symlink_out_of_blobs_is_quarantined(tmp_path, warehouse, vault, settings):
    landing = tmp_path / "landing"
    (landing / "blobs").mkdir(parents=True)
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(JPEG)
    os.symlink(secret, landing / "blobs" / "p1.jpg")
    write_csv(landing / "proofs/a.csv", [row(PROOF)])
    ingest(warehouse, landing, vault, settings)
    assert quarantined(warehouse) == {("proofs/a.csv", 1, "blob_path_escape")}


def test_no_plaintext_contact_or_image_bytes_under_home(tmp_path, home, warehouse, vault, settings):
    landing = tmp_path / "landing"
    image = JPEG + os.urandom(64)
    write_blob(landing, "p1.jpg", image)
    write_csv(landing / "orders/a.csv", [row(ORDER), row(ORDER, order_id="O2", country="XX")])
    write_csv(landing / "proofs/a.csv", [row(PROOF)])
    ingest(warehouse, landing, vault, settings)
    warehouse.execute("CHECKPOINT")
    secrets = [b"Ann Lee", b"7946 0958", b"ann.lee@example.com", image[-32:]]
    for path in home.root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in secrets:
                assert secret not in data, (path, secret)


def test_publish_moves_an_order_whose_revision_changed_its_day(tmp_path, warehouse, vault, settings):
    landing = tmp_path / "landing"
    write_csv(landing / "orders/a.csv", [row(ORDER)])
    ingest(warehouse, landing, vault, settings)
    write_csv(landing / "orders/b.csv", [row(ORDER, created_at="2026-10-07T08:00:00Z")])
    result = ingest(warehouse, landing, vault, settings, "r2")
    assert result.touched["orders"] == {dt.date(2026, 10, 5), dt.date(2026, 10, 7)}
    assert warehouse.execute("SELECT order_id, partition_date FROM orders").fetchall() == [("O1", dt.date(2026, 10, 7))]
    counts = publish_partitions(warehouse, "orders", dt.date(2026, 10, 5), dt.date(2026, 10, 7), now=NOW)
    assert counts == {dt.date(2026, 10, 5): 0, dt.date(2026, 10, 6): 0, dt.date(2026, 10, 7): 1}


def test_landing_listing_is_lexicographic_and_skips_hidden(tmp_path):
    landing = tmp_path / "landing"
    for name in ("events/b.csv", "events/a/z.csv", "orders/x.jsonl", "events/.hidden.csv", "other/x.csv"):
        (landing / name).parent.mkdir(parents=True, exist_ok=True)
        (landing / name).write_text("x")
    assert [f.relpath for f in list_landing_files(landing)] == [
        "events/a/z.csv",
        "events/b.csv",
        "orders/x.jsonl",
    ]


def test_missing_landing_folder_is_a_clear_error(tmp_path, warehouse, vault, settings):
    from lastmile.errors import LandingError

    with pytest.raises(LandingError, match="does not exist"):
        ingest(warehouse, tmp_path / "nope", vault, settings)


def test_the_garbage_collector_runs_less_often_during_an_ingest_and_as_before_after(
    tmp_path, warehouse, vault, settings, monkeypatch
):
    import gc

    from lastmile.ingest import load

    landing = tmp_path / "landing"
    write_csv(landing / "events/a.csv", [row(EVENT)])
    seen: list[tuple[int, ...]] = []
    real_parse = load._parse

    def watched(conn, lf):  # type: ignore[no-untyped-def]
        seen.append(gc.get_threshold())
        return real_parse(conn, lf)

    before = gc.get_threshold()
    monkeypatch.setattr(load, "_parse", watched)
    ingest(warehouse, landing, vault, settings)
    assert seen == [load.GC_THRESHOLDS] and gc.get_threshold() == before

    def broken(conn, lf):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk on fire")

    write_csv(landing / "events/b.csv", [row(EVENT, event_id="E2")])
    monkeypatch.setattr(load, "_parse", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        ingest(warehouse, landing, vault, settings, run="r2")
    assert gc.get_threshold() == before


def test_home_layout(home: Home):
    assert home.warehouse.name == "warehouse.duckdb" and home.vault_dir.is_dir()


PARTITIONS = (dt.date(2026, 10, 1), dt.date(2026, 10, 31))


def test_rows_dated_outside_the_partitions_are_quarantined_not_loaded(tmp_path, warehouse, vault, settings):
    """A row counted as loaded is in its published table: one whose day no partition holds is quarantined."""
    landing = tmp_path / "landing"
    write_csv(landing / "orders/a.csv", [row(ORDER), row(ORDER, order_id="O2", created_at="2019-12-31T23:00:00Z")])
    write_csv(landing / "events/a.csv", [
        row(EVENT),
        row(EVENT, event_id="E9", occurred_at="9999-12-31T23:59:59Z", recorded_at="0001-01-01T00:00:00Z"),
        row(EVENT, event_id="E10", occurred_at="2026-11-01T00:00:00Z"),  # the day after the last partition
    ])  # fmt: skip
    write_csv(landing / "proofs/a.csv", [row(PROOF), row(PROOF, proof_id="P2", captured_at="2026-09-30T23:59:59Z")])
    write_blob(landing, "p1.jpg")
    result = ingest_landing(
        warehouse, landing, vault=vault, settings=settings, run_id="r1", now=NOW, partitions=PARTITIONS
    )
    assert result.quarantined_by_reason == {"outside_partitions": 4}
    q = warehouse.execute("SELECT path, entity_id, reason, detail FROM quarantine ORDER BY ALL").fetchall()
    assert [r[:3] for r in q] == [
        ("events/a.csv", "E10", "outside_partitions"), ("events/a.csv", "E9", "outside_partitions"),
        ("orders/a.csv", "O2", "outside_partitions"), ("proofs/a.csv", "P2", "outside_partitions"),
    ]  # fmt: skip
    assert "9999-12-31" in q[1][3] and "2026-10-01..2026-10-31" in q[1][3]
    assert_accounting(warehouse)
    # Every day the accepted rows touch is recorded as unpublished (for every table), with the rows ...
    pending = warehouse.execute("SELECT table_name, partition_date FROM unpublished_partitions ORDER BY ALL")
    assert pending.fetchall() == [(t, dt.date(2026, 10, 5)) for t in sorted(PUBLISHED_TABLES)]
    assert result.unpublished == {t: {dt.date(2026, 10, 5)} for t in PUBLISHED_TABLES}
    for table in PUBLISHED_TABLES:
        publish_partitions(warehouse, table, *PARTITIONS, now=NOW)
    # ... and cleared by the publish; every row counted as loaded is now published.
    assert warehouse.execute("SELECT count(*) FROM unpublished_partitions").fetchone() == (0,)
    loaded = dict(warehouse.execute("SELECT entity, sum(rows_loaded) FROM ingest_files GROUP BY ALL").fetchall())
    published = {
        t: warehouse.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("orders", "events", "proofs")
    }  # type: ignore[index]
    assert loaded == published == {"orders": 1, "events": 1, "proofs": 1}


def test_without_a_partition_range_every_day_is_loaded(tmp_path, warehouse, vault, settings):
    landing = tmp_path / "landing"
    write_csv(landing / "events/a.csv", [row(EVENT, occurred_at="2019-06-01T10:00:00Z")])
    result = ingest_landing(warehouse, landing, vault=vault, settings=settings, run_id="r1", now=NOW)
    assert result.rows_loaded == 1
    assert result.unpublished == {t: {dt.date(2019, 6, 1)} for t in PUBLISHED_TABLES}
    with pytest.raises(ValueError, match="empty partition range"):
        ingest_landing(warehouse, landing, vault=vault, settings=settings, run_id="r2", now=NOW,
                       partitions=(dt.date(2026, 10, 2), dt.date(2026, 10, 1)))  # fmt: skip


def test_a_partial_publish_leaves_the_rest_recorded(tmp_path, warehouse, vault, settings):
    landing = tmp_path / "landing"
    write_csv(landing / "events/a.csv", [row(EVENT), row(EVENT, event_id="E2", occurred_at="2026-10-07T10:00:00Z")])
    ingest_landing(warehouse, landing, vault=vault, settings=settings, run_id="r1", now=NOW, partitions=PARTITIONS)
    publish_partitions(warehouse, "events", dt.date(2026, 10, 5), dt.date(2026, 10, 5), now=NOW)
    again = ingest_landing(warehouse, landing, vault=vault, settings=settings, run_id="r2", now=NOW)
    assert again.files == []
    # every day is recorded for every daily table (publishing covers one range of every table)
    days = {dt.date(2026, 10, 5), dt.date(2026, 10, 7)}
    assert again.unpublished == {"events": {dt.date(2026, 10, 7)}, "orders": days, "proofs": days, "messages": days}


def test_read_ahead_changes_nothing_and_skips_files_read_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Files prepared ahead on another thread (hash, parse, keyed hashes, blob reads) give the same tables,
    quarantine and sealed plaintexts as files prepared one at a time, on a generated landing with every kind
    of fault; and a second ingest of the same landing parses no file."""
    import lastmile.ingest.load as load
    from lastmile.generator import generate
    from lastmile.settings import load_settings
    from lastmile.vault import Vault
    from lastmile.vault.keyring import open_keyring

    landing = tmp_path / "landing"
    generate(landing, days=2, orders_per_day=30, seed=7)
    tables = ("ingest_files", "quarantine", "order_revisions", "intake_events", "intake_proofs", "intake_messages",
              "consents", "templates", "partner_events", "unpublished_partitions")  # fmt: skip
    got = {}
    for ahead in (0, 1 << 30):  # one file prepared ahead at a time; every file ahead
        monkeypatch.setattr(load, "READ_AHEAD_BYTES", ahead)
        home = Home(tmp_path / f"home{ahead}").ensure()
        settings = load_settings(home.root, environ={})
        conn = connect(home.warehouse, settings.network_timezone)
        vault = Vault(conn, home.vault_dir, open_keyring(tmp_path / "keys", environ={}))
        result = ingest_landing(conn, landing, vault=vault, settings=settings, run_id="r", now=NOW, partner_workers=1)
        ids = [a for (a,) in conn.execute("SELECT artifact_id FROM vault_artifacts ORDER BY 1").fetchall()]
        got[ahead] = (
            {t: conn.execute(f"SELECT * EXCLUDE (ingested_at) FROM {t} ORDER BY ALL").fetchall()
             if "ingested_at" in [c[0] for c in conn.execute(f"DESCRIBE {t}").fetchall()]
             else conn.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables},
            {a: vault.open(a) for a in ids if not a.startswith("partner_payload:")},
            result.quarantined_by_reason,
        )  # fmt: skip
        conn.close()
    parsed: list[str] = []
    real = load._parse
    monkeypatch.setattr(load, "_parse", lambda c, lf: parsed.append(lf.relpath) or real(c, lf))
    conn = connect(home.warehouse, settings.network_timezone)
    vault = Vault(conn, home.vault_dir, open_keyring(tmp_path / "keys", environ={}))
    again = ingest_landing(conn, landing, vault=vault, settings=settings, run_id="r2", now=NOW)
    conn.close()
    assert parsed == [] and not again.files and len(again.skipped) == result.files_seen
    one, every = got[0], got[1 << 30]
    assert every == one
    assert len(one[0]["intake_events"]) > 100 and len(one[0]["quarantine"]) > 5 and len(one[1]) > 50
    assert {"malformed_row", "conflict"} <= set(one[2])


def test_read_ahead_holds_at_most_its_budget_and_raises_a_files_error_for_that_file(tmp_path: Path) -> None:
    """The read-ahead thread prepares in order, stops getting ahead once the prepared files it holds reach
    its budget (one file at least), and an error preparing a file reaches the loader when it asks for that
    file, after the files before it."""
    import time

    import pyarrow as pa

    import lastmile.ingest.load as load
    from lastmile.ingest.landing import LandingFile
    from lastmile.ingest.parse import Parsed

    files = [LandingFile(f"events/{i}.csv", "events", tmp_path / f"{i}.csv", 1, 0) for i in range(6)]

    def prepare(lf: LandingFile) -> load._Prepared:
        if lf.relpath == "events/4.csv":
            raise ValueError("file 4 is broken")
        return load._Prepared(sha=lf.relpath, parsed=Parsed(pa.table({"x": pa.array([b"x" * 1000])})))

    assert 1000 <= prepare(files[0]).nbytes < 1250  # its 1000 bytes and their offsets
    for budget, most in ((0, 1), (2500, 3)):  # 3 files hold over 3000 bytes: the thread waits
        ahead = load._ReadAhead(prepare, files, budget)
        deadline = time.monotonic() + 10
        while len(ahead._ready) < most and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # were it to run on, it would have by now
        assert len(ahead._ready) == most
        assert [ahead.get(i).sha for i in range(4)] == [f"events/{i}.csv" for i in range(4)]
        with pytest.raises(ValueError, match="file 4 is broken"):
            ahead.get(4)
        ahead.close()


def test_a_loaded_row_without_its_artifact_encrypted_ahead_stops_the_file(vault):
    """The read-ahead encrypts, by the loader's own rule, every row the loader can load; a row it missed is a
    bug, and the loader says so rather than storing the row with no artifact behind it."""
    from lastmile.ingest.context import encrypt_ahead
    from lastmile.vault import Artifact

    ahead = encrypt_ahead(vault, [3, 7], [Artifact("P3", "photo", "O1", b"a"), Artifact("P7", "photo", "O1", b"b")])
    assert ahead.of([7, 3]).ids == ["P7", "P3"] and len(ahead.of([])) == 0
    with pytest.raises(AssertionError, match=r"rows \[5\] were loaded"):
        ahead.of([3, 5])
