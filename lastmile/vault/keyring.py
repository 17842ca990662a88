"""Key-encryption keys (KEKs) and the keyed-hash secret.

The vault asks a `KeyProvider` for exactly five things: the current KEK version, wrapping a data key,
wrapping a batch of them (one call per sealed batch), unwrapping one by version, and the secret for keyed
hashes. `LocalKeyring` is the embedded default:

* keys live in ``LASTMILE_HOME/keys`` (directory 0700, files 0600), one file per KEK version
  (``kek-v<N>.key``) plus ``hash.key``; each file holds the base64 of 32 random bytes;
* they are created on first use, and only when the directory holds no key at all: a key that is missing
  beside others (or from a vault that already has data under it) is an error, never silently replaced;
* ``LASTMILE_KEK`` (base64 of 32 bytes) wins over the files; it is version 1 unless
  ``LASTMILE_KEK_VERSION`` says otherwise. ``LASTMILE_HASH_KEY`` likewise replaces ``hash.key``.

A production key service plugs in behind the same protocol (its `wrap` and `wrap_many` may call out to a
KMS); the vault stores the returned version beside each wrapped key, so keys can later be rotated and data
keys rewrapped without touching any ciphertext.
"""

import base64
import binascii
import os
import re
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lastmile.errors import SettingsError, VaultError

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
WRAPPED_BYTES = NONCE_BYTES + KEY_BYTES + TAG_BYTES

KEK_ENV = "LASTMILE_KEK"
KEK_VERSION_ENV = "LASTMILE_KEK_VERSION"
HASH_KEY_ENV = "LASTMILE_HASH_KEY"
HASH_KEY_FILE = "hash.key"
# kek-v<N>.key: the intake line (new artifacts are wrapped by the highest); kek-v<N>.<label>.key: a KEK made
# for one purpose (retention's expiry-day keys, label 'expiry-YYYY-MM-DD'), never used for new artifacts.
_KEK_FILE = re.compile(r"^kek-v([1-9][0-9]*)(?:\.([a-z0-9][a-z0-9-]*))?\.key$")


class KeyMissingError(VaultError):
    """A key the vault needs is not available (as opposed to present but wrong)."""


class UnwrapError(VaultError):
    """A wrapped key does not authenticate under the KEK named: wrong key, or a tampered record."""


def kek_file_name(version: int, label: str | None = None) -> str:
    return f"kek-v{version}.{label}.key" if label else f"kek-v{version}.key"


@runtime_checkable
class KeyProvider(Protocol):
    """What the vault needs from a key service. Every failure is a one-line `VaultError`."""

    def current_version(self) -> int:
        """The KEK version new data keys are wrapped with."""
        ...

    def wrap(self, data_key: bytes, aad: bytes) -> tuple[int, bytes]:
        """Wrap a data key under the current KEK, bound to `aad`; returns (kek_version, wrapped)."""
        ...

    def wrap_many(self, data_keys: Sequence[bytes], aads: Sequence[bytes]) -> tuple[int, list[bytes]]:
        """Wrap many data keys under the current KEK, each bound to its own aad (the lists are parallel);
        returns (kek_version, the wrapped keys in order). A batch is wrapped under one KEK version."""
        ...

    def unwrap(self, version: int, wrapped: bytes, aad: bytes) -> bytes:
        """The data key. `UnwrapError` if `wrapped` does not authenticate under that version (wrong key or
        tampered record); `KeyMissingError` if the version is unknown; another `VaultError` otherwise."""
        ...

    def hash_key(self) -> bytes:
        """A 32-byte secret for keyed hashes, separate from every KEK."""
        ...


def _decode_key(text: str, where: str, error: type[Exception]) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise error(f"{where}: not valid base64 (expected base64 of {KEY_BYTES} random bytes)") from None
    if len(raw) != KEY_BYTES:
        raise error(f"{where}: decodes to {len(raw)} bytes, expected {KEY_BYTES}")
    return raw


def _check_private(path: Path, expected: int) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise VaultError(f"{path} is accessible by other users (mode {mode:04o}); run: chmod {expected:o} {path}")


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_private(path: Path, data: bytes) -> None:
    """Write a file atomically (temp file + os.replace) with owner-only permissions."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class LocalKeyring:
    """KEKs and the hash key from files in one directory, or from the environment."""

    def __init__(
        self,
        keys_dir: Path,
        *,
        env_kek: bytes | None = None,
        env_kek_version: int = 1,
        env_hash_key: bytes | None = None,
    ) -> None:
        self.keys_dir = Path(keys_dir)
        self._env_kek = env_kek
        self._env_kek_version = env_kek_version
        self._env_hash_key = env_hash_key
        self._keks: dict[int, bytes] | None = None
        self._hash_key: bytes | None = None
        self._aead: dict[int, AESGCM] = {}
        self._current: tuple[int, AESGCM] | None = None

    # -- loading -------------------------------------------------------------------------------------

    def _file_versions(self) -> dict[int, Path]:
        if not self.keys_dir.is_dir():
            return {}
        found: dict[int, Path] = {}
        for entry in self.keys_dir.iterdir():
            match = _KEK_FILE.match(entry.name)
            if match:
                found[int(match.group(1))] = entry
        return found

    def labels(self) -> dict[int, str | None]:
        """Every KEK version in the keys directory with its label (None: the intake line)."""
        out: dict[int, str | None] = {}
        for version, path in self._file_versions().items():
            match = _KEK_FILE.match(path.name)
            out[version] = match.group(2) if match else None
        return out

    def _has_any_key(self) -> bool:
        return bool(self._file_versions()) or (self.keys_dir / HASH_KEY_FILE).exists()

    def _read_key_file(self, path: Path) -> bytes:
        _check_private(path, 0o600)
        return _decode_key(path.read_text(encoding="ascii", errors="replace"), str(path), VaultError)

    def _create_first_keys(self) -> None:
        """First use of an empty keys directory: create the keys the environment does not supply."""
        self.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.keys_dir, 0o700)
        if self._env_kek is None:
            _write_private(self.keys_dir / kek_file_name(1), base64.b64encode(os.urandom(KEY_BYTES)) + b"\n")
        if self._env_hash_key is None:
            _write_private(self.keys_dir / HASH_KEY_FILE, base64.b64encode(os.urandom(KEY_BYTES)) + b"\n")

    def _load(self, *, create: bool) -> dict[int, bytes]:
        if self._keks is not None:
            return self._keks
        if self.keys_dir.is_dir():
            _check_private(self.keys_dir, 0o700)
        needs_files = self._env_kek is None or self._env_hash_key is None
        if not self._has_any_key():
            if not create:
                # Nothing to load and nothing may be created yet (an unwrap never creates keys).
                return {self._env_kek_version: self._env_kek} if self._env_kek is not None else {}
            if needs_files:
                self._create_first_keys()
        keks = {version: self._read_key_file(path) for version, path in self._file_versions().items()}
        if self._env_kek is not None:
            keks[self._env_kek_version] = self._env_kek
        if not keks:
            raise KeyMissingError(
                f"no key-encryption key: {self.keys_dir} holds no {kek_file_name(1)} and {KEK_ENV} is not set"
            )
        self._keks = keks
        return keks

    # -- KeyProvider -----------------------------------------------------------------------------------

    def versions(self) -> list[int]:
        """Every KEK version this keyring can unwrap with (creates the first keys on first use)."""
        return sorted(self._load(create=True))

    def current_version(self) -> int:
        if self._env_kek is not None:
            self._load(create=True)
            return self._env_kek_version
        keks = self._load(create=True)
        intake = [v for v, label in self.labels().items() if label is None and v in keks]
        return max(intake or keks)

    # -- key management (retention.keys) ---------------------------------------------------------------

    @property
    def env_version(self) -> int | None:
        """The KEK version supplied by LASTMILE_KEK (which lastmile can neither rotate nor destroy), if any."""
        return self._env_kek_version if self._env_kek is not None else None

    def reload(self) -> None:
        """Forget cached keys (after a key was added or destroyed, possibly by another process)."""
        self._keks = None
        self._aead.clear()
        self._current = None

    def add_key(self, label: str | None, *, above: int = 0) -> int:
        """Create a new KEK file (version above every version seen and above `above`); returns its version.
        label None makes it the newest intake KEK (new artifacts are wrapped by it)."""
        if label is not None and not re.fullmatch(r"[a-z0-9][a-z0-9-]*", label):
            raise VaultError(f"bad KEK label {label!r}")
        keks = self._load(create=True)
        version = max([above, *keks, *self._file_versions()]) + 1
        self.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_private(self.keys_dir / kek_file_name(version, label), base64.b64encode(os.urandom(KEY_BYTES)) + b"\n")
        _fsync_path(self.keys_dir)
        self.reload()
        return version

    def wrap_with(self, version: int, data_key: bytes, aad: bytes) -> bytes:
        """Wrap a data key under a named KEK version (rewrap, expiry keys)."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aesgcm(version, create=False).encrypt(nonce, data_key, aad)

    def has_file(self, version: int) -> bool:
        return version in self._file_versions()

    def destroy_key(self, version: int) -> bool:
        """Shred a KEK file (overwrite with zeros, fsync, unlink); False if there is no such file.
        The LASTMILE_KEK key is not a file and cannot be destroyed here."""
        path = self._file_versions().get(version)
        if path is None:
            self.reload()
            return False
        size = path.stat().st_size
        fd = os.open(path, os.O_WRONLY)
        try:
            os.pwrite(fd, bytes(size), 0)
            os.fsync(fd)
        finally:
            os.close(fd)
        path.unlink()
        _fsync_path(self.keys_dir)
        self.reload()
        return True

    def _aesgcm(self, version: int, *, create: bool) -> AESGCM:
        aead = self._aead.get(version)
        if aead is None:
            keks = self._load(create=create)
            if version not in keks:
                from_env = f", and {KEK_ENV} is version {self._env_kek_version}" if self._env_kek else ""
                raise KeyMissingError(
                    f"KEK version {version} is missing (no {self.keys_dir / kek_file_name(version)}"
                    f"{from_env}); data sealed under it cannot be opened"
                )
            aead = self._aead[version] = AESGCM(keks[version])
        return aead

    def _current_aead(self) -> tuple[int, AESGCM]:
        if self._current is None:
            version = self.current_version()
            self._current = (version, self._aesgcm(version, create=True))
        return self._current

    def wrap(self, data_key: bytes, aad: bytes) -> tuple[int, bytes]:
        version, aead = self._current_aead()
        nonce = os.urandom(NONCE_BYTES)
        return version, nonce + aead.encrypt(nonce, data_key, aad)

    def wrap_many(self, data_keys: Sequence[bytes], aads: Sequence[bytes]) -> tuple[int, list[bytes]]:
        if len(data_keys) != len(aads):
            raise ValueError(f"{len(data_keys)} data keys but {len(aads)} aads")
        version, aead = self._current_aead()
        encrypt = aead.encrypt
        rand = os.urandom(NONCE_BYTES * len(data_keys))  # a fresh random nonce per wrapped key
        nonces = [rand[o : o + NONCE_BYTES] for o in range(0, len(rand), NONCE_BYTES)]
        return version, [
            nonce + encrypt(nonce, key, aad) for nonce, key, aad in zip(nonces, data_keys, aads, strict=True)
        ]

    def unwrap(self, version: int, wrapped: bytes, aad: bytes) -> bytes:
        aead = self._aesgcm(version, create=False)
        if len(wrapped) != WRAPPED_BYTES:
            raise UnwrapError(f"wrapped key is {len(wrapped)} bytes, expected {WRAPPED_BYTES} (corrupted)")
        try:
            return aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad)
        except InvalidTag:
            raise UnwrapError(
                f"data key does not unwrap under KEK version {version} (wrong key, or tampered record)"
            ) from None

    def hash_key(self) -> bytes:
        if self._hash_key is None:
            if self._env_hash_key is not None:
                self._hash_key = self._env_hash_key
            else:
                self._load(create=True)
                path = self.keys_dir / HASH_KEY_FILE
                if not path.exists():
                    raise KeyMissingError(
                        f"hash key is missing ({path} not found and {HASH_KEY_ENV} is not set); "
                        "keyed hashes already stored could not be matched"
                    )
                self._hash_key = self._read_key_file(path)
        return self._hash_key


def _env_key(environ: Mapping[str, str], name: str) -> bytes | None:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    return _decode_key(raw, f"environment variable {name}", SettingsError)


def open_keyring(keys_dir: Path, environ: Mapping[str, str] | None = None) -> LocalKeyring:
    """The embedded keyring for `keys_dir`; `LASTMILE_KEK` / `LASTMILE_HASH_KEY` win when set.

    Nothing is created here: the keys are created on first use, and only in an empty directory.
    """
    env = os.environ if environ is None else environ
    env_kek = _env_key(env, KEK_ENV)
    version = 1
    raw_version = env.get(KEK_VERSION_ENV)
    if raw_version is not None and raw_version.strip() != "":
        try:
            version = int(raw_version.strip())
        except ValueError:
            version = 0
        if version < 1:
            raise SettingsError(
                f"environment variable {KEK_VERSION_ENV} = {raw_version!r}: expected a positive integer"
            )
        if env_kek is None:
            raise SettingsError(f"environment variable {KEK_VERSION_ENV} is set but {KEK_ENV} is not")
    return LocalKeyring(keys_dir, env_kek=env_kek, env_kek_version=version, env_hash_key=_env_key(env, HASH_KEY_ENV))
