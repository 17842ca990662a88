"""A small network for retention tests: orders with and without terminal events, each proof kind, contact
data and a quarantined order row; plus helpers to run retention at an explicit as_of."""

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb

from lastmile.settings import Home, Settings
from lastmile.vault import Vault
from lastmile.vault.keyring import open_keyring
from retention.policy import load_policy, shipped_policy_path
from retention.purge import RunResult, run_retention
from tests.landing_kit import EVENT, JPEG, ORDER, PROOF, row, write_blob, write_csv
from tests.test_ingest import ingest

UTC = dt.UTC
DELIVERED = dt.datetime(2026, 1, 10, 12, 0, tzinfo=UTC)  # O1's first terminal event
CREATED = dt.datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
DAY = dt.timedelta(days=1)


def marker_blob(marker: str) -> bytes:
    return JPEG + (marker.encode() * 40)


def build_landing(landing: Path) -> None:
    orders = [
        row(ORDER, order_id="O1", created_at="2026-01-01T08:00:00Z", recipient_name="Ann Lee"),
        row(ORDER, order_id="O2", created_at="2026-01-01T08:00:00Z", recipient_name="Bob Stone"),  # no terminal
        row(ORDER, order_id="O3", created_at="2026-01-01T08:00:00Z", recipient_name="Cy Held"),
        row(ORDER, order_id="OQ", country="ZZ"),  # quarantined: unknown_country, raw record encrypted
    ]
    write_csv(landing / "orders" / "orders.csv", orders)
    events = [
        row(
            EVENT,
            event_id="E1",
            order_id="O1",
            status="delivered",
            occurred_at="2026-01-10T12:00:00Z",
            recorded_at="2026-01-10T12:01:00Z",
        ),
        row(
            EVENT,
            event_id="E1b",
            order_id="O1",
            status="delivered",
            occurred_at="2026-01-11T12:00:00Z",
            recorded_at="2026-01-11T12:01:00Z",
        ),  # a later terminal event: the first one counts
        row(
            EVENT,
            event_id="E2",
            order_id="O2",
            status="out_for_delivery",
            occurred_at="2026-01-02T09:00:00Z",
            recorded_at="2026-01-02T09:01:00Z",
        ),
        row(
            EVENT,
            event_id="E3",
            order_id="O3",
            status="delivered",
            occurred_at="2026-01-10T12:00:00Z",
            recorded_at="2026-01-10T12:01:00Z",
        ),
    ]
    write_csv(landing / "events" / "events.csv", events)
    proofs = []
    for proof_id, order_id, kind in [
        ("P1", "O1", "photo"),
        ("S1", "O1", "signature"),
        ("I1", "O1", "id_check"),
        ("P2", "O2", "photo"),
        ("P3", "O3", "photo"),
        ("S3", "O3", "signature"),
    ]:
        write_blob(landing, f"{proof_id}.jpg", marker_blob(f"<<blob {proof_id}>>"))
        proofs.append(
            row(
                PROOF,
                proof_id=proof_id,
                order_id=order_id,
                kind=kind,
                blob_path=f"{proof_id}.jpg",
                captured_at="2026-01-10T11:59:00Z",
                recorded_at="2026-01-10T12:00:00Z",
            )
        )
    write_csv(landing / "proofs" / "proofs.csv", proofs)


def make_network(tmp_path: Path, conn: duckdb.DuckDBPyConnection, vault: Vault, settings: Settings) -> Path:
    landing = tmp_path / "landing"
    build_landing(landing)
    ingest(conn, landing, vault, settings)
    return landing


def open_vault(home: Home, conn: duckdb.DuckDBPyConnection) -> Vault:
    return Vault(conn, home.vault_dir, open_keyring(home.keys_dir, environ={}))


def run(
    conn: duckdb.DuckDBPyConnection,
    vault: Vault,
    home: Home,
    settings: Settings,
    as_of: dt.datetime,
    run_id: str,
    **kw: Any,
) -> RunResult:
    policy = kw.pop("policy", None) or load_policy(shipped_policy_path())
    return run_retention(
        conn,
        vault,
        policy=policy,
        settings=settings,
        as_of=as_of,
        now=kw.pop("now", as_of),
        run_id=run_id,
        actor="tester",
        audit_dir=home.audit_dir,
        certificates_dir=home.reports_dir / "retention",
        **kw,
    )


def ledger(conn: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, str]:
    return dict(conn.execute("SELECT artifact_id, action FROM retention_ledger WHERE run_id = ?", [run_id]).fetchall())
