"""The audit trail's Ed25519 signing key, kept apart from the data keys.

``<key_dir>/signing-key`` holds the private key (PKCS#8 PEM, file 0600, directory 0700) and
``<key_dir>/signing-key.pub`` its public key (SubjectPublicKeyInfo PEM) for auditors to verify offline.
The key id is the hex SHA-256 of the public key's DER SubjectPublicKeyInfo (RFC 9162's log id).

A key is created only on first use: when neither file exists, or the private key is missing and no
checkpoint has been signed yet. A key that is missing once checkpoints exist is never silently replaced;
verification then needs the public key (the private key alone, or the .pub file alone, is enough).
"""

import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lastmile.errors import LastmileError

PRIVATE_FILE = "signing-key"
PUBLIC_FILE = "signing-key.pub"


class AuditKeyError(LastmileError):
    """The audit signing key is missing, unreadable, too open, or not the key that signed the log."""


def key_id(public_key: Ed25519PublicKey) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_pem(pem: bytes, where: str = "public key") -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise AuditKeyError(f"{where}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AuditKeyError(f"{where}: not an Ed25519 public key")
    return key


def signature_ok(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _too_open(path: Path) -> str | None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        wanted = 0o700 if path.is_dir() else 0o600
        return f"{path} is accessible by other users (mode {mode:04o}); run: chmod {wanted:o} {path}"
    return None


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write a file atomically (temp file + os.replace) with the given permissions."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class SigningKey:
    """Loads (or, on first use, creates) the key pair in `key_dir`; every problem is an `AuditKeyError`."""

    def __init__(self, key_dir: Path) -> None:
        self.key_dir = Path(key_dir)
        self.private_path = self.key_dir / PRIVATE_FILE
        self.public_path = self.key_dir / PUBLIC_FILE
        self._private: Ed25519PrivateKey | None = None
        self._public: Ed25519PublicKey | None = None

    def create_if_absent(self) -> None:
        """Create the key pair unless a private key exists (the caller knows no checkpoint needs the old one)."""
        if self.private_path.exists():
            return
        self.key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.key_dir, 0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write(self.private_path, pem, 0o600)
        _write(self.public_path, public_pem(key.public_key()), 0o644)

    def private(self) -> Ed25519PrivateKey:
        """The private key, to sign with."""
        if self._private is None:
            if not self.private_path.exists():
                raise AuditKeyError(
                    f"audit signing key {self.private_path} is missing; checkpoints cannot be signed "
                    "(restore it from backup; a new key would not match the checkpoints already signed)"
                )
            for path in (self.key_dir, self.private_path):
                problem = _too_open(path)
                if problem:
                    raise AuditKeyError(problem)
            try:
                key = serialization.load_pem_private_key(self.private_path.read_bytes(), password=None)
            except (ValueError, TypeError):
                raise AuditKeyError(f"{self.private_path}: not an unencrypted PEM private key") from None
            if not isinstance(key, Ed25519PrivateKey):
                raise AuditKeyError(f"{self.private_path}: not an Ed25519 private key")
            if self.public_path.exists():
                exported = load_public_pem(self.public_path.read_bytes(), str(self.public_path))
                if key_id(exported) != key_id(key.public_key()):
                    raise AuditKeyError(f"{self.public_path} is not the public key of {self.private_path}")
            self._private = key
        return self._private

    def public(self) -> Ed25519PublicKey:
        """The public key, to verify with: from the private key if present, else from the exported .pub."""
        if self._public is None:
            if self.private_path.exists():
                self._public = self.private().public_key()
            elif self.public_path.exists():
                self._public = load_public_pem(self.public_path.read_bytes(), str(self.public_path))
            else:
                raise AuditKeyError(
                    f"audit signing key missing: neither {self.private_path} nor {self.public_path} exists, "
                    "so the signed checkpoints cannot be verified (restore the key that signed them)"
                )
        return self._public
