"""Opening one proof for a dispute: access-checked, reasoned, and logged whatever the outcome.

Every request becomes one `proof.open` audit entry (subject 'proof:<id>', details: order_id, reason,
outcome, why, roles, out) with a signed checkpoint, before the command answers:

* outcome 'refused': the actor's role does not allow it (or there is no access file), or no reason given;
* outcome 'failed': unknown proof, a proof without a blob, a purged blob (when and by which run),
  an output file that exists (without force), or a vault error;
* outcome 'opened': the blob was decrypted and written (file mode 0600); the entry carries its SHA-256.

The entry for an opening is written before the file, so a disclosure is never without its entry.
Time is passed in (`at`).
"""

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import duckdb

from lastmile.access import Access
from lastmile.audit.log import record
from lastmile.errors import LastmileError, VaultError
from lastmile.settings import Home
from lastmile.warehouse import run_sql

SQL = "lastmile.audit"
ACTION = "proof.open"
EXTENSIONS = {"png": ".png", "jpeg": ".jpg"}


class ProofAccessError(LastmileError):
    """A proof was not opened (refused or failed); the request is in the audit trail."""


class BlobOpener(Protocol):
    def open(self, artifact_id: str) -> bytes: ...


@dataclass(frozen=True)
class Opened:
    proof_id: str
    order_id: str
    out: Path
    size: int
    sha256: str
    audit_seq: int


def open_proof(
    conn: duckdb.DuckDBPyConnection,
    home: Home,
    vault: BlobOpener,
    proof_id: str,
    *,
    reason: str | None,
    out: Path,
    force: bool,
    actor: str,
    access: Access,
    at: dt.datetime,
) -> Opened:
    """Decrypt proof `proof_id` into `out` for `actor`, or raise `ProofAccessError`; logged either way."""
    details: dict[str, Any] = {
        "reason": (reason or "").strip(),
        "out": str(out),
        "roles": sorted(access.roles_of(actor)),
    }

    def stop(outcome: str, why: str) -> ProofAccessError:
        record(conn, home, ACTION, f"proof:{proof_id}", {**details, "outcome": outcome, "why": why}, at=at, actor=actor)
        return ProofAccessError(f"{why} (this {'refusal' if outcome == 'refused' else 'attempt'} is logged)")

    refusal = access.refusal(actor, "proof.open")
    if refusal is not None:
        raise stop("refused", f"refused: {refusal}")
    if not details["reason"]:
        raise stop("refused", "refused: a reason is required (--reason TEXT, e.g. the dispute reference)")
    row = run_sql(conn, SQL, "sql/proof_to_open.sql", {"proof_id": proof_id}).fetchone()
    if row is None:
        raise stop("failed", f"proof {proof_id!r} is unknown")
    _, order_id, kind, blob_present, blob_format, artifact_id, sealed, purged_at, purged_by = row
    details["order_id"] = order_id
    details["kind"] = kind
    if not blob_present or artifact_id is None or not sealed:
        raise stop("failed", f"proof {proof_id!r} ({kind}) has no blob to open")
    if purged_at is not None:
        when = purged_at.astimezone(dt.UTC).isoformat()
        raise stop("failed", f"proof {proof_id!r} was purged at {when} by run {purged_by}; it cannot be opened")
    if out.is_dir():
        raise stop("failed", f"--out {out} is a folder; give a file name")
    if not out.parent.is_dir():
        raise stop("failed", f"--out folder {out.parent} does not exist")
    if (out.exists() or out.is_symlink()) and not force:
        raise stop("failed", f"--out {out} exists; pass --force to overwrite it")
    try:
        plaintext = vault.open(artifact_id)
    except VaultError as exc:
        raise stop("failed", str(exc)) from None
    digest = hashlib.sha256(plaintext).hexdigest()
    opened = {**details, "outcome": "opened", "sha256": digest, "bytes": len(plaintext), "format": blob_format}
    seq = record(conn, home, ACTION, f"proof:{proof_id}", opened, at=at, actor=actor)
    try:
        _write_private(out, plaintext, force=force)
    except OSError as exc:
        why = f"cannot write {out}: {exc.strerror}"
        raise stop("failed", why) from None
    return Opened(proof_id, str(order_id), out, len(plaintext), digest, seq)


def _write_private(out: Path, data: bytes, *, force: bool) -> None:
    """Write `data` to `out` readable by the owner only (0600); never replace a file unless `force`."""
    if force:
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        target = tmp
    else:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        target = out
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        target.unlink(missing_ok=True)
        raise
    os.close(fd)
    if force:
        os.replace(tmp, out)
