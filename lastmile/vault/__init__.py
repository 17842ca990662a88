"""The encrypted vault: envelope encryption of proof blobs and personal data at rest.

Each artifact is sealed under a fresh AES-256-GCM data key and a fresh 96-bit random nonce; the
additional authenticated data binds the artifact's id and kind, so a ciphertext (or wrapped key) moved to
another artifact's row fails to open instead of yielding the wrong plaintext. The data key is wrapped by
the key provider's current key-encryption key (KEK), bound to the same identity, and stored with its KEK
version in `vault_artifacts`, apart from the ciphertext:

* rewrapping under a new KEK rewrites `wrapped_key` / `kek_version` only, never a ciphertext;
* purging (crypto-shredding, `destroy`) destroys the wrapped key and removes the ciphertext (a hole
  punched in the pack, or zeros written where the file system cannot punch: `lastmile.vault.holes`).

Small artifacts (contact JSON, quarantined records) keep their ciphertext inline in the row. Blobs (proof
images) go to append-only pack files ``packs/<pack id>.pack`` under the vault directory (directory 0700,
files 0600): each `seal_many` batch appends its ciphertexts to the Vault's current pack with one
positional vectored write and one fsync, before the rows naming them (pack, offset, length) are stored;
a pack past `PACK_LIMIT` bytes is closed and a new one started. Only ciphertext is ever written to a pack.
Ranges are never reused: a batch that fails in the vault's own transaction is cut off the pack again;
a replaced or destroyed blob's range is punched out (or zeroed) once that is committed (`_shred_ranges`;
a retention run, committed to the purge by its intent, clears its ranges itself: `clear_ranges_of`);
a process killed mid-batch (or a failure inside a caller's transaction) leaves only ciphertext whose data
key was never committed anywhere.

Nothing here reads the clock: `seal_many` and `destroy` take `now`.
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
from typing import NamedTuple

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lastmile.errors import VaultError
from lastmile.vault import holes
from lastmile.vault.keyring import KEY_BYTES, NONCE_BYTES, KeyProvider, UnwrapError
from lastmile.warehouse import apply_schema_file, begin, commit, in_transaction, rollback, sql_text

BLOB_KINDS = frozenset({"signature", "photo", "id_check"})
# partner_payload: a partner carrier's raw tracking payload (lastmile.partners)
# message_body, consent_record: a customer message's text and a consent record's address (lastmile.messages)
INLINE_KINDS = frozenset(
    {"recipient_contact", "quarantined_record", "partner_payload", "message_body", "consent_record"}
)
KINDS = BLOB_KINDS | INLINE_KINDS

_AAD_PREFIX = b"lastmile.vault.v1\x00"
_KIND_AAD = {kind: _AAD_PREFIX + kind.encode() + b"\x00" for kind in KINDS}
_KEK_CHECK_AAD = b"lastmile.vault.v1\x00kek-check"
_HASH_CHECK_LABEL = b"lastmile.vault.v1\x00hash-key-check"
_PER_ARTIFACT_RANDOM = KEY_BYTES + NONCE_BYTES
_PLAIN_TYPES = (bytes, bytearray, memoryview)

BATCH_ROWS = 16384
BATCH_BYTES = 32 * 1024 * 1024
PACK_LIMIT = 256 * 1024 * 1024
PACKS_DIR = "packs"
PACK_HEADER = b"lastmile pack 1\n"  # the first bytes of every pack file; ciphertexts follow back to back
_IOV_MAX = 1024
SHRED_THREADS = 8  # pack files cleared at once by `_shred_ranges`

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
        ("object_offset", pa.int64()),
        ("object_length", pa.int64()),
        ("plaintext_size", pa.int64()),
        ("created_at", pa.timestamp("us", tz="UTC")),
    ]
)
_CREATED_AT = _BATCH_SCHEMA.field("created_at").type

# (object_path, object_offset, object_length); offset and length are None for a legacy one-file object.
Range = tuple[str, int | None, int | None]


class Artifact(NamedTuple):
    """One thing to seal. `kind` is one of KINDS; `order_id` may be None (e.g. a quarantined record).

    (A named tuple, not a dataclass: an ingest builds about one per event, and a batch's columns are taken
    apart with one `zip`.)"""

    artifact_id: str
    kind: str
    order_id: str | None
    plaintext: bytes


@dataclass(slots=True)
class Encrypted:
    """Artifacts encrypted but not stored yet (`Vault.encrypt`), column by column, in their order."""

    ids: list[str]
    kinds: list[str]
    order_ids: list[str | None]
    version: int  # the KEK version every data key here is wrapped under
    wrapped_keys: list[bytes]
    nonces: list[bytes]
    ciphertexts: list[bytes]
    sizes: list[int]  # plaintext sizes

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def nbytes(self) -> int:
        """The bytes its ciphertexts, wrapped keys and nonces hold."""
        return sum(map(len, self.ciphertexts)) + sum(map(len, self.wrapped_keys)) + sum(map(len, self.nonces))

    def take(self, positions: Iterable[int]) -> "Encrypted":
        """The artifacts at these positions, in that order."""
        at = list(positions)
        return Encrypted(
            [self.ids[i] for i in at], [self.kinds[i] for i in at], [self.order_ids[i] for i in at], self.version,
            [self.wrapped_keys[i] for i in at], [self.nonces[i] for i in at], [self.ciphertexts[i] for i in at],
            [self.sizes[i] for i in at],
        )  # fmt: skip

    def batches(self) -> Iterator["Encrypted"]:
        """Bounded batches, as `_batches` cuts them (rows and plaintext bytes); a repeated artifact_id within
        a batch keeps its last item."""
        first, size = 0, 0
        for i, n in enumerate(self.sizes):
            size += n
            if i + 1 - first >= BATCH_ROWS or size >= BATCH_BYTES:
                yield self._last_of_each(first, i + 1)
                first, size = i + 1, 0
        if first < len(self.ids):
            yield self._last_of_each(first, len(self.ids))

    def _last_of_each(self, start: int, stop: int) -> "Encrypted":
        ids = self.ids[start:stop]
        if len(set(ids)) == len(ids):
            return self.take(range(start, stop))
        last = {artifact_id: start + i for i, artifact_id in enumerate(ids)}
        keep = sorted(last.values())
        return self.take(keep)


def artifact_aad(artifact_id: str, kind: str) -> bytes:
    """The additional authenticated data binding a ciphertext and its wrapped key to one artifact."""
    return _AAD_PREFIX + kind.encode() + b"\x00" + artifact_id.encode()


@cache
def _queries() -> dict[str, str]:
    parts = re.split(r"^-- name: (\w+)[ \t]*$", sql_text("lastmile.vault", "queries.sql"), flags=re.M)
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
        if not isinstance(item.plaintext, _PLAIN_TYPES):
            raise _invalid(item)
        size += len(item.plaintext)
        if len(batch) >= BATCH_ROWS or size >= BATCH_BYTES:
            yield list(batch.values())
            batch, size = {}, 0
    if batch:
        yield list(batch.values())


def _valid(item: Artifact) -> bool:
    return (
        item.kind in KINDS
        and isinstance(item.artifact_id, str)
        and bool(item.artifact_id)
        and isinstance(item.plaintext, _PLAIN_TYPES)
    )


def _invalid(item: Artifact) -> Exception:
    if item.kind not in KINDS:
        return ValueError(f"artifact {item.artifact_id!r}: unknown kind {item.kind!r} (known: {sorted(KINDS)})")
    if not isinstance(item.artifact_id, str) or not item.artifact_id:
        return ValueError("artifact_id must be a non-empty string")
    return TypeError(f"artifact {item.artifact_id!r}: plaintext must be bytes")


def _require_aware(now: dt.datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")


def _pwrite_all(fd: int, chunks: list[bytes], offset: int) -> None:
    """Write `chunks` back to back at `offset`: one vectored system call per _IOV_MAX chunks."""
    for first in range(0, len(chunks), _IOV_MAX):
        group = chunks[first : first + _IOV_MAX]
        want = sum(map(len, group))
        done = os.pwritev(fd, group, offset)
        if done < want:  # a short write (rare on a regular file): finish the rest plainly
            rest = memoryview(b"".join(group))[done:]
            at = offset + done
            while rest:
                n = os.pwrite(fd, rest, at)
                rest, at = rest[n:], at + n
        offset += want


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _clear_file(path: Path, spans: list[tuple[int | None, int | None]], free: bool = True) -> None:
    """Clear the spans of one pack (or the whole of a legacy one-file object, which is then unlinked);
    `free=False`: without freeing the blocks where the file system can (`holes.clear_spans`)."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return  # nothing left to clear
    whole_file = any(offset is None or length is None for offset, length in spans)
    try:
        size = os.fstat(fd).st_size
        if whole_file:
            holes.clear_spans(fd, [(0, size)], size=size)
        else:
            holes.clear_spans(fd, [(max(o or 0, 0), n or 0) for o, n in spans], size=size, free=free)
    finally:
        os.close(fd)
    if whole_file:
        path.unlink(missing_ok=True)


@dataclass(slots=True)
class _PackFile:
    rel: str  # relative to the vault directory
    fd: int
    start: int  # its length when this call opened it (0: created by this call)
    end: int  # where the next ciphertext goes


# One vectored write: the pack, where the first chunk goes, and the chunks.
_Write = tuple[_PackFile, int, list[bytes]]


class _Packs:
    """The pack files one `seal_many` call appends to: each opened once and written sequentially."""

    def __init__(self, vault_dir: Path, resume: str | None) -> None:
        self.vault_dir = vault_dir
        self.files: list[_PackFile] = []
        self.current: _PackFile | None = None
        self._resume = resume

    def _open(self) -> _PackFile:
        """The Vault's pack from its previous call (if still there), else a new one."""
        if self._resume is not None:
            rel, self._resume = self._resume, None
            try:
                fd = os.open(self.vault_dir / rel, os.O_WRONLY)
            except FileNotFoundError:
                pass
            else:
                size = os.fstat(fd).st_size
                self.files.append(pack := _PackFile(rel, fd, size, size))
                return pack
        return self._create()

    def _create(self) -> _PackFile:
        rel = f"{PACKS_DIR}/{os.urandom(8).hex()}.pack"
        fd = os.open(self.vault_dir / rel, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self.files.append(pack := _PackFile(rel, fd, 0, 0))
        _pwrite_all(fd, [PACK_HEADER], 0)
        pack.end = len(PACK_HEADER)
        _fsync_dir(self.vault_dir / PACKS_DIR)
        return pack

    def place(self, chunks: list[bytes]) -> tuple[list[_Write], list[str], list[int]]:
        """Give each chunk a pack and an offset, rolling to a new pack past PACK_LIMIT; nothing is written
        yet. Returns the writes to make and each chunk's pack path and offset."""
        pack = self.current or self._open()
        limit, header = PACK_LIMIT, len(PACK_HEADER)
        group: list[bytes] = []
        writes: list[_Write] = [(pack, pack.end, group)]
        rels: list[str] = []
        offsets: list[int] = []
        for chunk in chunks:
            if pack.end + len(chunk) > limit and pack.end > header:
                pack = self._create()
                group = []
                writes.append((pack, pack.end, group))
            rels.append(pack.rel)
            offsets.append(pack.end)
            pack.end += len(chunk)
            group.append(chunk)
        self.current = pack
        return writes, rels, offsets

    @staticmethod
    def write(writes: list[_Write]) -> None:
        """Make the writes, then fsync each pack written (runs on the I/O thread), then let the kernel drop
        the written pages from its cache: a pack is write-once ciphertext, read back rarely (one proof
        opened for a dispute), so caching it would only evict the warehouse's pages, and a purge months
        later would pay to drop the cached pages of every range it punches out."""
        for pack, offset, chunks in writes:
            if chunks:
                _pwrite_all(pack.fd, chunks, offset)
        for fd in dict.fromkeys(pack.fd for pack, _, chunks in writes if chunks):
            os.fsync(fd)
        if hasattr(os, "posix_fadvise"):  # not on macOS
            for pack, offset, chunks in writes:
                if chunks:
                    os.posix_fadvise(pack.fd, offset, sum(map(len, chunks)), os.POSIX_FADV_DONTNEED)

    def discard(self) -> None:
        """After a rollback: cut every pack back to its length before this call (new packs go)."""
        for pack in self.files:
            if pack.start == 0:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.vault_dir / pack.rel)
                if pack is self.current:
                    self.current = None
            else:
                os.ftruncate(pack.fd, pack.start)

    def close(self) -> None:
        for pack in self.files:
            with contextlib.suppress(OSError):
                os.close(pack.fd)
        self.files.clear()


class Vault:
    """Seal and open artifacts. `conn` is a warehouse connection; the vault's schema is applied here."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, vault_dir: Path, keys: KeyProvider) -> None:
        self.conn = conn
        self.vault_dir = Path(vault_dir)
        self.keys = keys
        apply_schema_file(conn, "lastmile.vault", "schema.sql")
        row = conn.execute(_q("needs_pack_migration")).fetchone()
        if row and row[0]:
            conn.execute(_q("migrate_pack_columns"))
        self._registered: set[int] | None = None
        self._hash_base: hmac.HMAC | None = None
        self._dirs_made = False
        self._pack: str | None = None  # the pack this Vault appends to, once it has one
        self._pending_shred: list[Range] = []

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

    def _ensure_dirs(self) -> None:
        """Create the vault and packs directories owner-only (once per Vault)."""
        if not self._dirs_made:
            for directory in (self.vault_dir, self.vault_dir / PACKS_DIR):
                directory.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.chmod(directory, 0o700)
            self._dirs_made = True

    def encrypt(self, items: Iterable[Artifact]) -> "Encrypted":
        """Encrypt artifacts without storing anything (no warehouse, no pack: safe on another thread once
        this Vault has sealed or hashed once on its own). `seal_encrypted` stores them, or a part of them.
        A bad artifact raises as `seal_many` would."""
        batch = list(items)
        for item in batch:
            if not _valid(item):
                raise _invalid(item)
        return self._encrypt(batch)

    def _encrypt(self, batch: list[Artifact]) -> "Encrypted":
        """Column by column: the data keys and nonces are slices of one random buffer, each plaintext is
        encrypted under its own key, and the keys are wrapped in one call to the key provider."""
        n = len(batch)
        if not n:
            version, _ = self.keys.wrap_many([], [])
            return Encrypted([], [], [], version, [], [], [], [])
        ids, kinds, order_ids, plaintexts = (list(column) for column in zip(*batch, strict=True))
        try:
            if not all(ids):
                raise ValueError("empty artifact_id")
            aads = [_KIND_AAD[kind] + artifact_id.encode() for kind, artifact_id in zip(kinds, ids, strict=True)]
            rand = os.urandom(n * _PER_ARTIFACT_RANDOM)  # every data key and nonce of the batch
            starts = range(0, n * _PER_ARTIFACT_RANDOM, _PER_ARTIFACT_RANDOM)
            data_keys = [rand[o : o + KEY_BYTES] for o in starts]
            nonces = [rand[o + KEY_BYTES : o + _PER_ARTIFACT_RANDOM] for o in starts]
            ciphertexts = [
                AESGCM(key).encrypt(nonce, plaintext, aad)
                for key, nonce, plaintext, aad in zip(data_keys, nonces, plaintexts, aads, strict=True)
            ]
        except (KeyError, AttributeError, TypeError, ValueError):
            for item in batch:
                if not _valid(item):
                    raise _invalid(item) from None
            raise
        version, wrapped_keys = self.keys.wrap_many(data_keys, aads)
        if len(wrapped_keys) != n:
            raise VaultError(f"the key provider wrapped {len(wrapped_keys)} data keys of {n}")
        sizes = [len(p) for p in plaintexts]
        return Encrypted(ids, kinds, order_ids, version, wrapped_keys, nonces, ciphertexts, sizes)

    def _place(self, enc: "Encrypted", now: dt.datetime, packs: _Packs) -> tuple[pa.Table, list[_Write]]:
        """A batch's rows, and the pack writes its blobs need (nothing written yet)."""
        n = len(enc)
        blob_kinds = BLOB_KINDS
        blob_rows = [i for i, kind in enumerate(enc.kinds) if kind in blob_kinds]
        inline: list[bytes | None] = enc.ciphertexts  # type: ignore[assignment]
        paths: list[str | None] = [None] * n
        offsets: list[int | None] = [None] * n
        lengths: list[int | None] = [None] * n
        writes: list[_Write] = []
        if blob_rows:
            self._ensure_dirs()
            blobs = [enc.ciphertexts[i] for i in blob_rows]
            inline = list(enc.ciphertexts)
            writes, rels, places = packs.place(blobs)
            for i, rel, start, ciphertext in zip(blob_rows, rels, places, blobs, strict=True):
                paths[i], offsets[i], lengths[i] = rel, start, len(ciphertext)
                inline[i] = None
        table = pa.Table.from_arrays(
            [
                pa.array(enc.ids, pa.string()),
                pa.array(enc.kinds, pa.string()),
                pa.array(enc.order_ids, pa.string()),
                pa.repeat(pa.scalar(enc.version, pa.int32()), n),
                pa.array(enc.wrapped_keys, pa.binary()),
                pa.array(enc.nonces, pa.binary()),
                pa.array(inline, pa.binary()),
                pa.array(paths, pa.string()),
                pa.array(offsets, pa.int64()),
                pa.array(lengths, pa.int64()),
                pa.array(enc.sizes, pa.int64()),
                pa.repeat(pa.scalar(now, _CREATED_AT), n),
            ],
            schema=_BATCH_SCHEMA,
        )
        return table, writes

    def _store(self, table: pa.Table) -> list[Range]:
        """Insert the batch, replacing any rows with its ids (two statements; a batch of new artifacts only,
        as an ingest's first reading, is a plain INSERT, about four times cheaper than the MERGE); returns
        the replaced blobs' ranges."""
        self.conn.register("vault_batch", table)
        try:
            found = self.conn.execute(_q("replaced_ranges")).fetchall()
            self.conn.execute(_q("upsert_batch" if found else "insert_batch"))
        finally:
            self.conn.unregister("vault_batch")
        return [(str(p), o, n) for p, o, n in found if p is not None]

    def _begin(self) -> bool:
        """Start a transaction unless the caller already runs one (then the caller commits).

        (lastmile.warehouse.in_transaction knows how to tell, on either store.)
        """
        if in_transaction(self.conn):
            return False
        begin(self.conn)
        return True

    def seal_many(self, items: Iterable[Artifact], *, now: dt.datetime) -> int:
        """Seal every artifact; an artifact_id already in the vault is replaced (fresh key, old destroyed).

        Returns the number of artifacts sealed (a repeated id within one call counts once per batch it
        lands in; the last one wins). All rows are written in one transaction: the vault's own, or the
        caller's if one is open. A batch's blobs are in its pack, fsynced, before its rows are stored. On
        any error nothing is replaced, and (in the vault's own transaction) the packs are cut back to
        their length before the call. The ciphertext ranges of replaced blobs are zeroed once the
        replacement is committed (inside a caller's transaction: see `shred_pending`).
        """
        _require_aware(now)
        return self._seal((self._encrypt(batch) for batch in _batches(items)), now)

    def seal_encrypted(self, encrypted: "Encrypted", *, now: dt.datetime) -> int:
        """Store what `encrypt` made (or a `take` of it), exactly as `seal_many` stores: same batches,
        transaction, replacement and clean-up. A repeated artifact_id keeps its last item."""
        _require_aware(now)
        return self._seal(encrypted.batches(), now)

    def _seal(self, batches: Iterator["Encrypted"], now: dt.datetime) -> int:
        self._verify_keks()
        self._hash_hmac()
        own = self._begin()
        packs = _Packs(self.vault_dir, self._pack)
        replaced: list[Range] = []
        sealed = 0
        try:
            self._register_hash_key(now)
            # A one-batch pipeline: while the main thread encrypts batch k+1, the I/O thread writes batch
            # k's ciphertexts, fsyncs them and then stores its rows (DuckDB runs without the GIL). The
            # main thread touches the connection and the key provider's registration only while the I/O
            # thread is idle, and hands it batch k+1 only once batch k has succeeded.
            pending: Future[list[Range]] | None = None
            with ThreadPoolExecutor(1, thread_name_prefix="vault-io") as pool:
                for batch in batches:
                    table, writes = self._place(batch, now, packs)
                    if pending is not None:
                        replaced.extend(pending.result())
                    self._register_keys(set(table.column("kek_version").unique().to_pylist()), now)
                    pending = pool.submit(self._write_and_store, table, writes)
                    sealed += len(batch)
                if pending is not None:
                    replaced.extend(pending.result())
            if own:
                commit(self.conn)
        except BaseException:
            # Inside a caller's transaction the caller decides; bytes already referenced stay put.
            if own:
                with contextlib.suppress(duckdb.Error):
                    rollback(self.conn)
                with contextlib.suppress(OSError):  # the error that got us here matters more
                    packs.discard()
            self._registered = None
            raise
        finally:
            packs.close()
            if packs.current is not None:
                self._pack = packs.current.rel
            elif self._pack is not None and not (self.vault_dir / self._pack).exists():
                self._pack = None
        self._after_commit(own, replaced)
        return sealed

    def _write_and_store(self, table: pa.Table, writes: list[_Write]) -> list[Range]:
        """One batch on the I/O thread: its ciphertexts written and fsynced, then its rows stored."""
        _Packs.write(writes)
        return self._store(table)

    def _after_commit(self, own: bool, freed: list[Range]) -> None:
        """Zero ranges no committed row needs any more; inside a caller's transaction, only note them."""
        if own:
            self._shred_ranges(freed + self._unreferenced(self._pending_shred))
            self._pending_shred.clear()
        else:
            self._registered = None  # the caller may still roll back what was registered
            self._pending_shred.extend(freed)

    def _unreferenced(self, ranges: list[Range]) -> list[Range]:
        if not ranges:
            return []
        paths = [r[0] for r in ranges]
        offsets = [r[1] for r in ranges]
        live = set(self.conn.execute(_q("live_ranges"), [paths, offsets]).fetchall())
        return [r for r in ranges if (r[0], r[1]) not in live]

    def shred_pending(self) -> int:
        """Zero the ranges freed inside a caller's transaction (replaced or destroyed blobs) that no live
        row names any more; call it once that transaction has committed. Returns how many were zeroed.
        (The vault's next own transaction does this too.)"""
        ranges = self._unreferenced(self._pending_shred)
        self._pending_shred.clear()
        self._shred_ranges(ranges)
        return len(ranges)

    # -- destroying ------------------------------------------------------------------------------------

    def destroy_many(
        self,
        artifact_ids: Iterable[str] | pa.Array | pa.ChunkedArray,
        *,
        now: dt.datetime,
        run_id: str,
        distinct: bool = False,
        clear_ranges: bool = True,
    ) -> int:
        """Crypto-shred artifacts: null the wrapped data key, nonce and inline ciphertext, record `now`
        and `run_id` as purged_at / purged_by_run (the row stays as the tombstone), commit, then remove
        each blob's pack range (a hole punched, or zeros written where the file system cannot punch; one
        fsync per pack). Set-based: the ids (an Arrow string array passes straight through) are joined
        in two statements, whatever their number, and the cost per artifact does not depend on its size.
        An artifact already purged keeps its first purge time and run and has its range cleared again,
        which completes a purge interrupted between the two steps. Unknown ids are ignored; returns how
        many artifacts were found (a repeated id counts once). `distinct`: the caller guarantees the ids are
        distinct (as a retention run's intents are), which skips removing repeats, a cost comparable to the
        update itself at a million ids. Inside a caller's transaction the clearing waits for
        `shred_pending` (or the vault's next own transaction). `clear_ranges=False`: the caller clears these
        artifacts' ranges itself (`clear_ranges_of`, as a retention run does from its intent)."""
        _require_aware(now)
        if isinstance(artifact_ids, pa.Array | pa.ChunkedArray):
            column = artifact_ids.cast(pa.string())
            ids = pa.table({"artifact_id": column if distinct else pc.unique(column)})
        else:
            ids = pa.table({"artifact_id": pa.array(list(dict.fromkeys(artifact_ids)), pa.string())})
        if not ids.num_rows:
            return 0
        own = self._begin()
        self.conn.register("vault_ids", ids)
        try:
            row = self.conn.execute(_q("destroy_artifacts"), {"now": now, "run_id": run_id}).fetchone()
            ranges = self.conn.execute(_q("destroyed_ranges")).fetchall() if clear_ranges else []
            if own:
                commit(self.conn)
        except BaseException:
            if own:
                with contextlib.suppress(duckdb.Error):
                    rollback(self.conn)
            raise
        finally:
            self.conn.unregister("vault_ids")
        self._after_commit(own, [(str(p), o, n) for p, o, n in ranges])
        return int(row[0]) if row else 0

    def destroy(self, artifact_id: str, *, now: dt.datetime, run_id: str) -> None:
        """Crypto-shred one artifact (see `destroy_many`); `VaultError` if it is not in the vault."""
        if not self.destroy_many([artifact_id], now=now, run_id=run_id):
            raise VaultError(f"artifact {artifact_id!r} is not in the vault")

    def _shred_range(self, rel: str, offset: int | None, length: int | None) -> None:
        """Clear one ciphertext range (hole, or zeros) and fsync (a legacy object file: all of it, unlinked)."""
        self._shred_ranges([(rel, offset, length)])

    def _shred_ranges(self, ranges: Iterable[Range], free: bool = True) -> None:
        """`_shred_range` for many ranges: each file opened once, its ranges (adjacent ones merged) punched
        out as holes, or overwritten with zeros where the file system cannot punch (`holes.clear_spans`),
        then fsynced once. Files are cleared in parallel (up to SHRED_THREADS): what a punch costs is
        mostly waiting on the storage (freeing, and on a file system mounted with `discard`, trimming
        the blocks), not CPU, and one file's punches are serialized by the kernel anyway. Touches no
        database connection, so it may run on another thread than the Vault's. `free=False`: the spans read
        as zeros without their blocks being freed, where the file system can (see `clear_ranges_of`)."""
        by_file: dict[str, list[tuple[int | None, int | None]]] = {}
        for rel, offset, length in ranges:
            by_file.setdefault(rel, []).append((offset, length))
        jobs = [(self._object_file(rel), spans) for rel, spans in by_file.items()]
        if len(jobs) <= 1:
            for path, spans in jobs:
                _clear_file(path, spans, free)
            return
        with ThreadPoolExecutor(min(SHRED_THREADS, len(jobs)), thread_name_prefix="vault-shred") as pool:
            for done in [pool.submit(_clear_file, path, spans, free) for path, spans in jobs]:
                done.result()

    def clear_ranges_of(self, ranges: Iterable[Range], *, free_space: bool = True) -> None:
        """Punch out (or zero) these ciphertext ranges now, whether or not a row still names them: for a
        caller that has durably committed to destroying the artifacts that name them (a retention run
        whose intent is written), so that clearing overlaps its other work. Those artifacts cannot be
        opened from here on. File work only: safe to call on another thread while the Vault's connection
        is in use. `free_space=False`: the ranges read as zeros at once, in time that does not grow with their
        length (unwritten extents, where the file system has them), and their blocks stay allocated until
        the same ranges are cleared again with `free_space=True` (freeing blocks costs the file system time
        in proportion to the bytes: a retention run does it after its certificate, `reclaim_space`)."""
        self._shred_ranges(ranges, free_space)

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
        kind, version, wrapped, nonce, inline, rel, offset, length, size, purged_at, purged_by = row
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
            ciphertext = self._read_range(artifact_id, str(rel), offset, length)
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

    def _object_file(self, rel: str) -> Path:
        root = self.vault_dir.resolve()
        path = (root / rel).resolve()
        if not path.is_relative_to(root):
            raise VaultError(f"object path {rel!r} leaves the vault (tampered record)")
        return path

    def _read_range(self, artifact_id: str, rel: str, offset: int | None, length: int | None) -> bytes:
        try:
            path = self._object_file(rel)
        except VaultError as exc:
            raise VaultError(f"artifact {artifact_id!r}: {exc}") from None
        if (offset is None) != (length is None) or (offset is not None and (offset < 0 or (length or 0) < 0)):
            raise VaultError(f"artifact {artifact_id!r}: bad ciphertext range {offset}+{length} (corrupted record)")
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise VaultError(f"artifact {artifact_id!r}: ciphertext file {path} is missing") from None
        try:
            if offset is None or length is None:  # a legacy one-file object
                return path.read_bytes()
            data = os.pread(fd, length, offset)
        finally:
            os.close(fd)
        if len(data) != length:
            raise VaultError(
                f"artifact {artifact_id!r}: ciphertext range {offset}+{length} runs past the end of {path} "
                "(truncated pack)"
            )
        return data

    def keyed_hash(self, value: str | None) -> str | None:
        """HMAC-SHA256 (hex) of `value` under the keyring's hash key: joinable, not reversible."""
        if value is None:
            return None
        mac = self._hash_hmac().copy()
        mac.update(value.encode())
        return mac.hexdigest()
