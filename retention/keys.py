"""Key-encryption key management: rotate, rewrap, retire, status, and the expiry-day keys that make a
purge reach backups.

Two lines of KEKs live in the keyring:

* the **intake** line (`kek-v<N>.key`): new artifacts are wrapped by its newest version. `rotate` adds a
  version; `rewrap` moves every live data key under an older intake version to the newest, unwrapping and
  rewrapping the 32-byte data key only (no artifact is decrypted); `retire` destroys a version that no live
  data key uses any more.
* the **expiry** line (`kek-v<N>.expiry-YYYY-MM-DD.key`): one key per network-timezone day on which
  artifacts fall due. Every retention run (`sweep`) moves each live data key to the key of its due day.

Why: destroying a data key in the live warehouse does not reach a backup taken yesterday, which still
holds that data key wrapped under some KEK. So a run destroys every KEK that ever wrapped a purged
artifact's data key (rewrapping the data keys of survivors, e.g. held artifacts, under a fresh key of the
same day first), and rotates the intake key and destroys the previous one once its data keys have moved.
A backup's wrapped keys then name only KEKs the live system no longer has. (A KEK supplied by
LASTMILE_KEK is not ours to destroy; see docs/retention.md.)
"""

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from lastmile.errors import LastmileError
from lastmile.vault import _KEK_CHECK_AAD, Vault, artifact_aad
from lastmile.vault.keyring import KEY_BYTES, LocalKeyring
from lastmile.warehouse import begin, commit, rollback
from retention.faults import crash_point
from retention.store import ensure_schema, q

REWRAP_BATCH = 100_000


class KeyManagementError(LastmileError):
    """A key operation was refused (e.g. retiring a KEK that still wraps data keys)."""


@dataclass(frozen=True)
class KekStatus:
    version: int
    line: str  # 'intake' | 'expiry'
    period: dt.date | None
    state: str  # 'current' | 'active' | 'destroyed' | 'missing'
    live: int  # live data keys wrapped by it
    purged: int  # purged artifacts whose last data key it wrapped
    created_at: dt.datetime | None
    destroyed_at: dt.datetime | None
    source: str  # 'file' | 'LASTMILE_KEK'


def _keyring(vault: Vault) -> LocalKeyring:
    keys = vault.keys
    if not isinstance(keys, LocalKeyring):
        raise KeyManagementError("key management needs the local keyring (LASTMILE_HOME/keys)")
    return keys


def _max_registered(conn: duckdb.DuckDBPyConnection) -> int:
    rows = q(conn, "registered").fetchall()
    return max((int(r[0]) for r in rows), default=0)


def _add(vault: Vault, line: str, period: dt.date | None, *, now: dt.datetime, run_id: str | None) -> int:
    """A new KEK file, registered in vault_keks (with its key check) and retention_keks before use."""
    keys = _keyring(vault)
    label = None if line == "intake" else f"expiry-{period.isoformat() if period else 'none'}"
    version = keys.add_key(label, above=_max_registered(vault.conn))
    check = keys.wrap_with(version, os.urandom(KEY_BYTES), _KEK_CHECK_AAD)
    q(vault.conn, "register_kek", version=version, check=check, now=now)
    q(vault.conn, "record_kek", version=version, line=line, period=period, now=now, run_id=run_id)
    vault._registered = None
    return version


def rotate(vault: Vault, *, now: dt.datetime, run_id: str | None = None) -> int:
    """A new intake KEK version: artifacts sealed from now on are wrapped by it. Returns the version."""
    ensure_schema(vault.conn)
    keys = _keyring(vault)
    if keys.env_version is not None:
        raise KeyManagementError(
            "the intake key comes from LASTMILE_KEK: to rotate, supply a new key with a higher LASTMILE_KEK_VERSION "
            "(keep the old one as a key file until `lastmile keys rewrap` has moved its data keys)"
        )
    vault._verify_keks()
    return _add(vault, "intake", None, now=now, run_id=run_id)


def _rewrap_rows(vault: Vault, rows: pa.Table, progress: Callable[[int], None] | None = None) -> int:
    """Unwrap each data key and wrap it under its target version; commit per batch. No ciphertext is read."""
    keys = _keyring(vault)
    done = 0
    for batch in rows.to_batches(REWRAP_BATCH):
        ids = batch.column("artifact_id").to_pylist()
        kinds = batch.column("artifact_kind").to_pylist()
        olds = batch.column("kek_version").to_pylist()
        wrapped = batch.column("wrapped_key").to_pylist()
        targets = batch.column("target").to_pylist()
        new_wrapped = []
        unwrap, wrap_with = keys.unwrap, keys.wrap_with
        for artifact_id, kind, old, w, target in zip(ids, kinds, olds, wrapped, targets, strict=True):
            aad = artifact_aad(artifact_id, kind)
            new_wrapped.append(wrap_with(int(target), unwrap(int(old), bytes(w), aad), aad))
        table = pa.table(
            {
                "artifact_id": pa.array(ids, pa.string()),
                "old_version": pa.array(olds, pa.int32()),
                "kek_version": pa.array(targets, pa.int32()),
                "wrapped_key": pa.array(new_wrapped, pa.binary()),
            }
        )
        vault.conn.register("_rewrap_batch", table)
        try:
            q(vault.conn, "apply_rewrap")
        finally:
            vault.conn.unregister("_rewrap_batch")
        done += len(ids)
        if progress:
            progress(done)
    return done


def rewrap(vault: Vault, *, progress: Callable[[int], None] | None = None) -> int:
    """Move every live data key under an older intake KEK to the newest intake KEK. Returns how many."""
    ensure_schema(vault.conn)
    vault._verify_keks()
    current = vault.keys.current_version()
    rows = q(vault.conn, "to_rewrap_intake", current=current).fetch_arrow_table()
    return _rewrap_rows(vault, rows, progress)


def destroy_kek(vault: Vault, version: int, *, now: dt.datetime, by: str) -> bool:
    """Mark a KEK destroyed (refused while a live data key uses it), commit, then shred its file."""
    conn = vault.conn
    begin(conn)
    try:
        (live,) = q(conn, "live_using", version=version).fetchone() or (0,)
        if live:
            raise KeyManagementError(
                f"KEK version {version} still wraps {live:,} live data key(s); run `lastmile keys rewrap` first"
            )
        q(conn, "mark_destroyed", version=version, now=now)
        q(conn, "mark_destroyed_line", version=version, now=now, by=by)
        commit(conn)
    except BaseException:
        rollback(conn)
        raise
    vault._registered = None
    crash_point("after_kek_mark")
    return _keyring(vault).destroy_key(version)


def retire(vault: Vault, version: int, *, now: dt.datetime, by: str) -> None:
    """Destroy a KEK version no live data key uses (`KeyManagementError` otherwise, or if it is current)."""
    ensure_schema(vault.conn)
    keys = _keyring(vault)
    known = {int(r[0]) for r in q(vault.conn, "registered").fetchall()} | set(keys.labels())
    if version not in known and version != keys.env_version:
        raise KeyManagementError(f"KEK version {version} is not known here (see `lastmile keys status`)")
    if version in {int(r[0]) for r in q(vault.conn, "retired_versions").fetchall()} and not keys.has_file(version):
        raise KeyManagementError(f"KEK version {version} is already retired")
    if version == keys.current_version():
        raise KeyManagementError(
            f"KEK version {version} is the current key for new artifacts; run `lastmile keys rotate` first"
        )
    if version == keys.env_version:
        raise KeyManagementError(f"KEK version {version} comes from LASTMILE_KEK; stop supplying it instead")
    destroy_kek(vault, version, now=now, by=by)


def status(vault: Vault) -> list[KekStatus]:
    """Every KEK version known to the warehouse or the keyring, with its line, state and usage."""
    ensure_schema(vault.conn)
    keys = _keyring(vault)
    conn = vault.conn
    live = {int(v): int(n) for v, n in q(conn, "live_versions").fetchall()}
    purged = {int(v): int(n) for v, n in q(conn, "purged_versions").fetchall()}
    registered = {int(v): (reg, ret) for v, reg, ret in q(conn, "registered").fetchall()}
    lines = {int(r[0]): r for r in q(conn, "kek_lines").fetchall()}
    labels = keys.labels()
    env = keys.env_version
    versions = sorted(set(registered) | set(labels) | set(lines) | ({env} if env else set()))
    try:
        current = keys.current_version()
    except LastmileError:
        current = None
    out = []
    for v in versions:
        line_row = lines.get(v)
        line = str(line_row[1]) if line_row else ("expiry" if (labels.get(v) or "").startswith("expiry") else "intake")
        period = line_row[2] if line_row else None
        reg = registered.get(v)
        destroyed_at = (line_row[5] if line_row else None) or (reg[1] if reg else None)
        present = v in labels or v == env
        if destroyed_at is not None and not present:
            state = "destroyed"
        elif not present:
            state = "missing"
        elif v == current:
            state = "current"
        else:
            state = "active"
        out.append(
            KekStatus(
                v,
                line,
                period,
                state,
                live.get(v, 0),
                purged.get(v, 0),
                (line_row[3] if line_row else None) or (reg[0] if reg else None),
                destroyed_at,
                "LASTMILE_KEK" if v == env else "file",
            )
        )
    return out


def sweep(vault: Vault, *, now: dt.datetime, run_id: str) -> list[int]:
    """After a purge (the caller has built `_retention_plan` for the run's as_of, before or after the
    purge: rows purged since are skipped, as every query here reads live artifacts only): make every purge
    reach backups. Returns the KEK versions destroyed.

    1. shred key files of KEKs already marked destroyed (a run killed between marking and shredding);
    2. give each expiry day that still has live data keys a fresh key if its key wrapped a purged artifact;
    3. rotate the intake key (unless it comes from LASTMILE_KEK);
    4. move every live data key to the expiry key of its due day (unwrap + wrap, no ciphertext read);
    5. destroy every KEK other than the current intake and the current expiry keys that no live data key
       uses: the previous intake keys and every key that wrapped a purged artifact.
    """
    conn = vault.conn
    keys = _keyring(vault)
    for (version,) in q(conn, "retired_versions").fetchall():
        if keys.has_file(int(version)):
            keys.destroy_key(int(version))
    vault._verify_keks()
    for _version, period in q(conn, "dirty_expiry").fetchall():
        _add(vault, "expiry", period, now=now, run_id=run_id)  # newest for its period: survivors move to it
    if keys.env_version is None:
        rotate(vault, now=now, run_id=run_id)
    current = {p: int(v) for p, v in q(conn, "current_expiry").fetchall()}
    for (period,) in q(conn, "live_periods").fetchall():
        if period not in current:
            current[period] = _add(vault, "expiry", period, now=now, run_id=run_id)
    targets = pa.table(
        {"period": pa.array(list(current), pa.date32()), "kek_version": pa.array(list(current.values()), pa.int32())}
    )
    conn.register("_expiry_targets", targets)
    try:
        rows = q(conn, "to_rewrap_expiry").fetch_arrow_table()
    finally:
        conn.unregister("_expiry_targets")
    _rewrap_rows(vault, rows)
    keep = {keys.current_version(), *current.values()}
    live = {int(v) for v, _ in q(conn, "live_versions").fetchall()}
    candidates = {int(r[0]) for r in q(conn, "registered").fetchall() if r[2] is None} | set(keys.labels())
    destroyed = []
    for version in sorted(candidates - keep - live):
        if version == keys.env_version:
            continue
        destroy_kek(vault, version, now=now, by=f"retention run {run_id}")
        destroyed.append(version)
    return destroyed
