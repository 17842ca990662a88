"""Purge certificates: a signed JSON statement of what a retention run purged, verifiable offline.

The certificate carries the run id, as_of, the policy version and hash, the counts, and the Merkle root
(RFC 9162: leaf = SHA-256(0x00 || UTF-8 artifact id), ids in sorted order) of the purged artifact ids,
signed with Ed25519 by the audit trail's signing key (public key: LASTMILE_HOME/audit/signing-key.pub).
The signature covers the canonical JSON (sorted keys, no whitespace, UTF-8) of every field except
`signature`. Anyone with the public key can check it with a few lines of Python (docs/retention.md).
"""

import base64
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lastmile.audit.keys import key_id, signature_ok
from lastmile.audit.merkle import mth
from lastmile.errors import LastmileError
from retention.faults import crash_requested

CERT_TYPE = "lastmile.purge-certificate"
CERT_VERSION = 1


class CertificateError(LastmileError):
    """A certificate file that cannot be read as a certificate at all."""


def merkle_root(artifact_ids: Iterable[str], *, presorted: bool = False) -> str:
    """Hex Merkle root of the ids (sorted; duplicates once). `presorted`: the ids are already distinct and
    in code-point order (as `ORDER BY` gives them from DuckDB), so the sort is skipped."""
    ids = artifact_ids if presorted else sorted(set(artifact_ids))
    return merkle_root_utf8(i.encode("utf-8") for i in ids)


def merkle_root_utf8(encoded_ids: Iterable[bytes]) -> str:
    """`merkle_root` of ids given as their UTF-8 bytes, already distinct and in code-point order (bytewise
    order of UTF-8 is code-point order). Each leaf hash continues a copy of SHA-256 already fed the 0x00
    prefix, which saves a concatenation and most of the set-up of a fresh hash per leaf."""
    start = hashlib.sha256(b"\x00").copy
    leaves: list[bytes] = []
    append = leaves.append
    for data in encoded_ids:
        leaf = start()
        leaf.update(data)
        append(leaf.digest())
    return mth(leaves).hex()


def canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def sign(body: dict[str, Any], private: Ed25519PrivateKey) -> dict[str, Any]:
    doc = dict(body)
    doc.update({"signature_algorithm": "Ed25519", "key_id": key_id(private.public_key())})
    doc["signature"] = base64.b64encode(private.sign(canonical(doc))).decode()
    return doc


def signature_valid(doc: dict[str, Any], public: Ed25519PublicKey) -> bool:
    body = {k: v for k, v in doc.items() if k != "signature"}
    try:
        signature = base64.b64decode(str(doc.get("signature", "")), validate=True)
    except ValueError:
        return False
    return signature_ok(public, signature, canonical(body))


def render(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def write_certificate(path: Path, data: bytes) -> None:
    """Write atomically (temp file, fsync, rename). With the crash point `mid_certificate` a test gets
    the worst case instead: half the document at the final path, then the process dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if crash_requested("mid_certificate"):
        with open(path, "wb") as fh:
            fh.write(data[: len(data) // 2])
            fh.flush()
            os.fsync(fh.fileno())
        os._exit(86)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_certificate(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CertificateError(f"certificate {path}: cannot be read ({exc.strerror})") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CertificateError(f"certificate {path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("type") != CERT_TYPE:
        raise CertificateError(f"certificate {path}: not a lastmile purge certificate")
    return doc


@dataclass
class Verification:
    certificate: str
    run_id: str | None
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(ok for _, ok, _ in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append((name, ok, detail))
