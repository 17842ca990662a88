"""The audit trail: append-only, hash-chained, RFC 9162 Merkle tree with Ed25519-signed checkpoints.

    trail = AuditTrail(conn, audit_key_dir(home.root))
    trail.append("alice", "proof.open", "proof:P3", {"reason": "dispute 42"}, at=now)
    trail.checkpoint(at=now)
    report = trail.verify()   # ok, entries, checkpoints, first_bad_seq, finding

Proofs for auditors: `inclusion_proof`/`consistency_proof` with `root`, checked offline by the pure
`verify_inclusion`/`verify_consistency`, and `verify_checkpoint` with the exported public key.
"""

from pathlib import Path

from lastmile.audit.keys import PRIVATE_FILE, PUBLIC_FILE, AuditKeyError
from lastmile.audit.merkle import leaf_hash, mth, verify_consistency, verify_inclusion
from lastmile.audit.trail import (
    AuditError,
    AuditTrail,
    Checkpoint,
    Entry,
    VerifyReport,
    canonical_bytes,
    verify_checkpoint,
)

AUDIT_DIR = "audit"


def audit_key_dir(home_root: Path) -> Path:
    """Where the signing key lives: LASTMILE_HOME/audit (never LASTMILE_HOME/keys, the data keys)."""
    return Path(home_root) / AUDIT_DIR


__all__ = [
    "AUDIT_DIR",
    "PRIVATE_FILE",
    "PUBLIC_FILE",
    "AuditError",
    "AuditKeyError",
    "AuditTrail",
    "Checkpoint",
    "Entry",
    "VerifyReport",
    "audit_key_dir",
    "canonical_bytes",
    "leaf_hash",
    "mth",
    "verify_checkpoint",
    "verify_consistency",
    "verify_inclusion",
]
