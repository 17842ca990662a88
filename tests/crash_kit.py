"""Killing a real `lastmile` process (at an injected crash point, or with SIGKILL to its process group) and
comparing the warehouse it leaves, once completed by the next run, with a clean run's.

Comparisons drop only what legitimately differs between two runs of the same work: run ids, the times a
row was written, and how the vault stored an artifact (fresh data keys, nonces, pack offsets). Vault
artifacts are compared by what they decrypt to.
"""

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lastmile.audit import AuditTrail
from lastmile.faults import CRASH_ENV
from lastmile.settings import Home, load_settings
from lastmile.warehouse import open_warehouse

REPO = Path(__file__).resolve().parent.parent
# Columns that say when or by which run a row was written: equal content, different runs.
VOLATILE = {"run_id", "ingested_at", "published_at", "read_at", "detected_at", "started_at", "finished_at"}
INGEST_TABLES = (
    "orders", "events", "proofs", "quarantine", "ingest_files", "order_revisions", "intake_events",
    "intake_proofs", "partner_events", "partner_payloads", "published_partitions", "unpublished_partitions",
    "intake_messages", "messages", "consents", "templates",
)  # fmt: skip


def home_like(home: Path, clean: Path) -> Path:
    """A new, empty LASTMILE_HOME with the keys of `clean` (keyed hashes of personal data, and so content
    hashes, are only comparable under the same hash key)."""
    shutil.copytree(Home(clean).keys_dir, Home(home).keys_dir)
    return home


def open_home(home: Path, store: dict[str, str] | None = None) -> Any:
    """The warehouse of `home`, on the embedded file or (with `store`, LASTMILE_WAREHOUSE=ducklake and its
    companions, e.g. the `ducklake_env` fixture) on DuckLake."""
    settings = load_settings(home, environ=store or {}, create=False)
    return open_warehouse(Home(home).for_settings(settings), settings)


def env(home: Path, crash: str | None = None, store: dict[str, str] | None = None) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("LASTMILE_") and k != "DAGSTER_HOME"}
    out.update({"LASTMILE_HOME": str(home), "LASTMILE_ACTOR": "crash-test", "COLUMNS": "200", **(store or {})})
    if crash:
        out[CRASH_ENV] = crash
    return out


def command(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-c", "from pipelines.cli import main; main()", "--home", str(home), *args]


def lastmile(
    home: Path, *args: str, crash: str | None = None, store: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the command in its own process; with `crash`, it dies (os._exit) at that injected point."""
    return subprocess.run(
        command(home, *args), cwd=REPO, env=env(home, crash, store), capture_output=True, text=True, timeout=900
    )


def killed_after(home: Path, seconds: float, *args: str) -> int | None:
    """Start the command in a new process group and SIGKILL the whole group after `seconds` (the way a
    user's `kill -9` or an OOM kill ends it). Returns the exit status, or None when it was killed."""
    proc = subprocess.Popen(
        command(home, *args), cwd=REPO, env=env(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        return proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return None


def timed(home: Path, *args: str) -> float:
    """Seconds one complete run of the command takes here (to pick kill moments inside it)."""
    began = time.monotonic()
    done = lastmile(home, *args)
    assert done.returncode in (0, 1), done.stderr
    return time.monotonic() - began


def rows(
    home: Path, tables: tuple[str, ...], *, drop: frozenset[str] = frozenset(), store: dict[str, str] | None = None
) -> dict[str, list[Any]]:
    """Every row of `tables` (sorted), without the volatile columns (and `drop`)."""
    conn = open_home(home, store)
    try:
        out: dict[str, list[Any]] = {}
        for table in tables:
            columns = [
                c
                for (c,) in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
                    " AND table_catalog = current_database() ORDER BY ordinal_position",
                    [table],
                ).fetchall()
                if c not in VOLATILE and c not in drop
            ]
            if not columns:
                out[table] = []
                continue
            listed = ", ".join(f'"{c}"' for c in columns)
            out[table] = conn.execute(f'SELECT {listed} FROM "{table}" ORDER BY ALL').fetchall()
        return out
    finally:
        conn.close()


def vault_contents(home: Path, store: dict[str, str] | None = None) -> list[tuple[Any, ...]]:
    """Every vault artifact: id, kind, order, size, purged or not, and the SHA-256 of what it decrypts to."""
    from lastmile.vault import Vault
    from lastmile.vault.keyring import open_keyring

    h = Home(home).for_settings(load_settings(home, environ=store or {}, create=False))
    conn = open_home(home, store)
    try:
        vault = Vault(conn, h.vault_dir, open_keyring(h.keys_dir, environ={}))
        listed = conn.execute(
            "SELECT artifact_id, artifact_kind, order_id, plaintext_size, purged_at IS NOT NULL"
            " FROM vault_artifacts ORDER BY artifact_id"
        ).fetchall()
        return [(*row, None if row[4] else hashlib.sha256(vault.open(row[0])).hexdigest()) for row in listed]
    finally:
        conn.close()


def audit_ok(home: Path, store: dict[str, str] | None = None) -> None:
    """`audit verify` passes: every leaf, the chain, every checkpoint's root and signature."""
    h = Home(home)
    conn = open_home(home, store)
    try:
        report = AuditTrail(conn, h.audit_dir).verify()
    finally:
        conn.close()
    assert report.ok, report.finding
