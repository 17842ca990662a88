"""The encrypted vault: envelope encryption of proof blobs and personal data at rest.

Each artifact is sealed under a fresh AES-256-GCM data key and a fresh 96-bit random nonce; the
additional authenticated data binds the artifact's id and kind, so a ciphertext (or wrapped key) moved to
another artifact's row fails to open instead of yielding the wrong plaintext. The data key is wrapped by
the key provider's current key-encryption key (KEK), bound to the same identity, and stored with its KEK
version in `vault_artifacts`, apart from the ciphertext:

* rewrapping under a new KEK rewrites `wrapped_key` / `kek_version` only, never a ciphertext;
* purging (crypto-shredding) destroys the wrapped key and deletes the ciphertext.

Small artifacts (contact JSON, quarantined records) keep their ciphertext inline in the row; blobs (proof
images) keep it in a file ``objects/<h[:2]>/<h>.<token>.bin`` under the vault directory, where ``h`` is
the SHA-256 of the artifact id and ``token`` is random per seal (so re-sealing never overwrites the file a
committed row still names). Files are written atomically (temp file + os.replace) with mode 0600.

Nothing here reads the clock: `seal_many` takes `now`.
"""

import contextlib
import datetime as dt
import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb
import pyarrow as pa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lastmile.errors import VaultError
from lastmile.warehouse import sql_text
from retention.keyring import KEY_BYTES, NONCE_BYTES, KeyProvider, UnwrapError

BLOB_KINDS = frozenset({"signature", "photo", "id_check"})
INLINE_KINDS = frozenset({"recipient_contact", "quarantined_record"})
KINDS = BLOB_KINDS | INLINE_KINDS

_AAD_PREFIX = b"lastmile.vault.v1\x00"
_KEK_CHECK_AAD = b"lastmile.vault.v1\x00kek-check"
_HASH_CHECK_LABEL = b"lastmile.vault.v1\x00hash-key-check"
_TOKEN_BYTES = 8
_PER_ARTIFACT_RANDOM = KEY_BYTES + NONCE_BYTES + _TOKEN_BYTES

BATCH_ROWS = 16384
BATCH_BYTES = 32 * 1024 * 1024
IO_WORKERS = max(2, min(4, os.cpu_count() or 1))
_FILES_PER_TASK = 64

_BATCH_SCHEMA = pa.schema(
    [
        ("artifact_id", pa.string()),
        ("artifact_kind", pa.string()),
        ("order_id", pa.string()),
        ("kek_version", pa.int32()),
        ("wrapped_key", pa.binary()),
        ("nonce", pa.binary()),
        ("ciphertext", pa.binary()),
        ("object_path", pa.string()),
        ("plaintext_size", pa.int64()),
        ("ciphertext_sha256", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(frozen=True, slots=True)
class Artifact:
    """One thing to seal. `kind` is one of KINDS; `order_id` may be None (e.g. a quarantined record)."""

    artifact_id: str
    kind: str
    order_id: str | None
    plaintext: bytes


def artifact_aad(artifact_id: str, kind: str) -> bytes:
    """The additional authenticated data binding a ciphertext and its wrapped key to one artifact."""
    return _AAD_PREFIX + kind.encode() + b"\x00" + artifact_id.encode()


@cache
def _queries() -> dict[str, str]:
    parts = re.split(r"^-- name: (\w+)[ \t]*$", sql_text("retention", "vault_queries.sql"), flags=re.M)
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts), 2)}


def _q(name: str) -> str:
    return _queries()[name]


def _batches(items: Iterable[Artifact]) -> Iterator[list[Artifact]]:
    """Bounded batches (rows and bytes); a repeated artifact_id within a batch keeps its last item."""
    batch: dict[str, Artifact] = {}
    size = 0
    for item in items:
        batch.pop(item.artifact_id, None)
        batch[item.artifact_id] = item
        size += len(item.plaintext)
        if len(batch) >= BATCH_ROWS or size >= BATCH_BYTES:
            yield list(batch.values())
            batch, size = {}, 0
    if batch:
        yield list(batch.values())


def _validate(item: Artifact) -> None:
    if item.kind not in KINDS:
        raise ValueError(f"artifact {item.artifact_id!r}: unknown kind {item.kind!r} (known: {sorted(KINDS)})")
    if not item.artifact_id:
        raise ValueError("artifact_id must not be empty")
    if not isinstance(item.plaintext, bytes | bytearray | memoryview):
        raise TypeError(f"artifact {item.artifact_id!r}: plaintext must be bytes")


def _write_object(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _write_objects(chunk: list[tuple[Path, bytes]]) -> None:
    for path, data in chunk:
        _write_object(path, data)


def _unlink_quietly(path: Path) -> None:
    for candidate in (path, path.with_name(path.name + ".tmp")):
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()


class Vault:
    """Seal and open artifacts. `conn` is a warehouse connection; the vault's schema is applied here."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, vault_dir: Path, keys: KeyProvider) -> None:
        self.conn = conn
        self.vault_dir = Path(vault_dir)
        self.keys = keys
        conn.execute(sql_text("retention", "vault_schema.sql"))
        self._registered: set[int] | None = None
        self._hash_base: hmac.HMAC | None = None
        self._made_dirs: set[Path] = set()
        self._pending_unlink: list[str] = []

    # -- key checks ------------------------------------------------------------------------------------

    def _verify_keks(self) -> set[int]:
        """Every registered, unretired KEK version must be present and be the key that sealed the data."""
        if self._registered is None:
            registered: set[int] = set()
            for version, check in self.conn.execute(_q("registered_keks")).fetchall():
                try:
                    self.keys.unwrap(int(version), bytes(check), _KEK_CHECK_AAD)
                except UnwrapError:
                    raise VaultError(
                        f"wrong key-encryption key: KEK version {version} is not the key this vault's data "
                        "was sealed with (check LASTMILE_KEK / LASTMILE_KEK_VERSION and the keys directory)"
                    ) from None
                registered.add(int(version))
            self._registered = registered
        return self._registered

    def _hash_fingerprint(self, key: bytes) -> str:
        return hmac.new(key, _HASH_CHECK_LABEL, hashlib.sha256).hexdigest()

    def _hash_hmac(self) -> hmac.HMAC:
        if self._hash_base is None:
            self._verify_keks()  # before anything may create keys in an empty keys directory
            key = self.keys.hash_key()
            known = [str(r[0]) for r in self.conn.execute(_q("registered_hash_keys")).fetchall()]
            if known and self._hash_fingerprint(key) not in known:
                raise VaultError(
                    "wrong hash key: it is not the key this warehouse's keyed hashes were made with "
                    "(check LASTMILE_HASH_KEY and the keys directory)"
                )
            self._hash_base = hmac.new(key, digestmod=hashlib.sha256)
        return self._hash_base

    def _register_keys(self, versions: set[int], now: dt.datetime) -> None:
        registered = self._verify_keks()
        for version in sorted(versions - registered):
            got, check = self.keys.wrap(os.urandom(KEY_BYTES), _KEK_CHECK_AAD)
            if got != version:
                raise VaultError(f"KEK version changed from {version} to {got} while sealing; run again")
            self.conn.execute(_q("register_kek"), [version, check, now])
            registered.add(version)

    def _register_hash_key(self, now: dt.datetime) -> None:
        if not self.conn.execute(_q("registered_hash_keys")).fetchall():
            self.conn.execute(_q("register_hash_key"), [self._hash_fingerprint(self.keys.hash_key()), now])

    # -- sealing ---------------------------------------------------------------------------------------

    def _ensure_dir(self, path: Path) -> None:
        """Create an object directory (and the vault and objects directories above it) owner-only."""
        if path in self._made_dirs:
            return
        for directory in (self.vault_dir, self.vault_dir / "objects", path):
            if directory not in self._made_dirs:
                directory.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.chmod(directory, 0o700)
                self._made_dirs.add(directory)

    def _seal_batch(
        self, batch: list[Artifact], now: dt.datetime
    ) -> tuple[pa.Table, list[tuple[Path, bytes]], set[int]]:
        n = len(batch)
        rand = os.urandom(n * _PER_ARTIFACT_RANDOM)
        versions: list[int] = []
        wrapped_keys: list[bytes] = []
        nonces: list[bytes] = []
        inline: list[bytes | None] = []
        paths: list[str | None] = []
        digests: list[str] = []
        files: list[tuple[Path, bytes]] = []
        wrap = self.keys.wrap
        sha256 = hashlib.sha256
        for i, item in enumerate(batch):
            _validate(item)
            off = i * _PER_ARTIFACT_RANDOM
            data_key = rand[off : off + KEY_BYTES]
            nonce = rand[off + KEY_BYTES : off + KEY_BYTES + NONCE_BYTES]
            aad = artifact_aad(item.artifact_id, item.kind)
            ciphertext = AESGCM(data_key).encrypt(nonce, bytes(item.plaintext), aad)
            version, wrapped = wrap(data_key, aad)
            versions.append(version)
            wrapped_keys.append(wrapped)
            nonces.append(nonce)
            digests.append(sha256(ciphertext).hexdigest())
            if item.kind in BLOB_KINDS:
                name = sha256(item.artifact_id.encode()).hexdigest()
                token = rand[off + KEY_BYTES + NONCE_BYTES : off + _PER_ARTIFACT_RANDOM].hex()
                rel = f"objects/{name[:2]}/{name}.{token}.bin"
                files.append((self.vault_dir / rel, ciphertext))
                paths.append(rel)
                inline.append(None)
            else:
                paths.append(None)
                inline.append(ciphertext)
        table = pa.Table.from_arrays(
            [
                pa.array([a.artifact_id for a in batch], pa.string()),
                pa.array([a.kind for a in batch], pa.string()),
                pa.array([a.order_id for a in batch], pa.string()),
                pa.array(versions, pa.int32()),
                pa.array(wrapped_keys, pa.binary()),
                pa.array(nonces, pa.binary()),
                pa.array(inline, pa.binary()),
                pa.array(paths, pa.string()),
                pa.array([len(a.plaintext) for a in batch], pa.int64()),
                pa.array(digests, pa.string()),
                pa.array([now] * n, pa.timestamp("us", tz="UTC")),
            ],
            schema=_BATCH_SCHEMA,
        )
        return table, files, set(versions)

    def _submit_writes(
        self, pool: ThreadPoolExecutor, files: list[tuple[Path, bytes]], written: list[Path]
    ) -> list[Future[None]]:
        for parent in {path.parent for path, _ in files}:
            self._ensure_dir(parent)
        written.extend(path for path, _ in files)
        step = _FILES_PER_TASK
        return [pool.submit(_write_objects, files[i : i + step]) for i in range(0, len(files), step)]

    def _finish(self, table: pa.Table, futures: list[Future[None]], replaced: list[str]) -> int:
        for future in futures:
            future.result()
        replaced.extend(self._store(table))
        return int(table.num_rows)

    def _store(self, table: pa.Table) -> list[str]:
        """Replace any rows with the batch's ids by the batch (two statements); returns replaced objects."""
        self.conn.register("vault_batch", table)
        try:
            replaced = [r[0] for r in self.conn.execute(_q("delete_replaced")).fetchall() if r[0] is not None]
            self.conn.execute(_q("insert_batch"))
        finally:
            self.conn.unregister("vault_batch")
        return replaced

    def _begin(self) -> bool:
        """Start a transaction unless the caller already runs one (then the caller commits).

        In autocommit mode every statement runs in a new transaction, so two consecutive transaction
        ids differ; inside an open transaction they are equal. (A failed BEGIN would abort the caller's
        transaction, so it cannot be used as the probe.)
        """
        first, second = (self.conn.execute(_q("transaction_id")).fetchone() for _ in range(2))
        if first == second:
            return False
        self.conn.execute("BEGIN TRANSACTION")
        return True

    def seal_many(self, items: Iterable[Artifact], *, now: dt.datetime) -> int:
        """Seal every artifact; an artifact_id already in the vault is replaced (fresh key, old destroyed).

        Returns the number of artifacts sealed (a repeated id within one call counts once per batch it
        lands in; the last one wins). All rows are written in one transaction: the vault's own, or the
        caller's if one is open. On any error nothing is replaced and new object files are removed.
        """
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        self._verify_keks()
        self._hash_hmac()
        own = self._begin()
        written: list[Path] = []
        replaced: list[str] = []
        sealed = 0
        try:
            self._register_hash_key(now)
            # A one-batch pipeline: batch k's object files are written by the I/O threads while batch
            # k+1 is encrypted; batch k's rows are stored once its files are all in place.
            pending: tuple[pa.Table, list[Future[None]]] | None = None
            with ThreadPoolExecutor(IO_WORKERS, thread_name_prefix="vault-io") as pool:
                for batch in _batches(items):
                    table, files, versions = self._seal_batch(batch, now)
                    self._register_keys(versions, now)
                    futures = self._submit_writes(pool, files, written)
                    if pending is not None:
                        sealed += self._finish(*pending, replaced)
                    pending = (table, futures)
                if pending is not None:
                    sealed += self._finish(*pending, replaced)
            if own:
                self.conn.execute("COMMIT")
        except BaseException:
            if own:
                with contextlib.suppress(duckdb.Error):
                    self.conn.execute("ROLLBACK")
            for path in written:
                _unlink_quietly(path)
            self._registered = None
            raise
        if not own:
            # The caller may still roll back: forget what was registered, and delete replaced objects
            # only once no committed row names them (checked on the next own transaction).
            self._registered = None
            self._pending_unlink.extend(replaced)
        else:
            self._unlink_unreferenced(replaced + self._pending_unlink)
            self._pending_unlink.clear()
        return sealed

    def _unlink_unreferenced(self, rel_paths: list[str]) -> None:
        if not rel_paths:
            return
        in_use = {r[0] for r in self.conn.execute(_q("object_paths_in_use"), [rel_paths]).fetchall()}
        for rel in rel_paths:
            if rel not in in_use:
                _unlink_quietly(self.vault_dir / rel)

    # -- reading ---------------------------------------------------------------------------------------

    def exists(self, artifact_id: str) -> bool:
        """True if the artifact was ever sealed here: live, or purged (its tombstone row remains)."""
        row = self.conn.execute(_q("exists_artifact"), [artifact_id]).fetchone()
        return bool(row and row[0])

    def open(self, artifact_id: str) -> bytes:
        """The plaintext; `VaultError` if unknown, purged, its key is missing or wrong, or it was tampered."""
        self._verify_keks()
        row = self.conn.execute(_q("open_artifact"), [artifact_id]).fetchone()
        if row is None:
            raise VaultError(f"artifact {artifact_id!r} is not in the vault")
        kind, version, wrapped, nonce, inline, rel, size, _digest, purged_at, purged_by = row
        if purged_at is not None or wrapped is None or nonce is None:
            by = f" by run {purged_by}" if purged_by else ""
            raise VaultError(f"artifact {artifact_id!r} was purged at {purged_at}{by}; it cannot be opened")
        aad = artifact_aad(artifact_id, str(kind))
        try:
            data_key = self.keys.unwrap(int(version), bytes(wrapped), aad)
        except UnwrapError:
            raise VaultError(
                f"artifact {artifact_id!r}: its data key does not authenticate under KEK version {version} "
                "(the record was tampered with or swapped from another artifact)"
            ) from None
        if inline is not None:
            ciphertext = bytes(inline)
        elif rel is not None:
            ciphertext = self._read_object(artifact_id, str(rel))
        else:
            raise VaultError(f"artifact {artifact_id!r} has no ciphertext (corrupted record)")
        try:
            plaintext = AESGCM(data_key).decrypt(bytes(nonce), ciphertext, aad)
        except InvalidTag:
            raise VaultError(
                f"artifact {artifact_id!r}: ciphertext fails authentication "
                "(tampered with, or swapped from another artifact)"
            ) from None
        if len(plaintext) != size:
            raise VaultError(f"artifact {artifact_id!r}: size {len(plaintext)} differs from recorded {size}")
        return plaintext

    def _read_object(self, artifact_id: str, rel: str) -> bytes:
        root = self.vault_dir.resolve()
        path = (root / rel).resolve()
        if not path.is_relative_to(root):
            raise VaultError(f"artifact {artifact_id!r}: object path {rel!r} leaves the vault (tampered)")
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise VaultError(f"artifact {artifact_id!r}: ciphertext file {path} is missing") from None

    def keyed_hash(self, value: str | None) -> str | None:
        """HMAC-SHA256 (hex) of `value` under the keyring's hash key: joinable, not reversible."""
        if value is None:
            return None
        mac = self._hash_hmac().copy()
        mac.update(value.encode())
        return mac.hexdigest()
