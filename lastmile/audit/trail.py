"""The audit trail: an append-only, hash-chained, Merkle-tree log with signed checkpoints (RFC 9162).

Every entry is a leaf: ``leaf_hash = SHA-256(0x00 || canonical bytes)``, the canonical bytes being the
JSON (sorted keys, no whitespace, UTF-8) of seq, at, actor, action, subject, details and prev_hash, where
prev_hash is the previous entry's leaf hash. The chain names the first entry that an edit, deletion or
reordering breaks; the Merkle tree gives auditors inclusion and consistency proofs; checkpoints (signed
tree heads) pin the tree size and root with an Ed25519 key kept apart from the data keys, so a truncated
tail or a rewritten history shows up against them.

Time is always passed in (``at``); nothing here reads the clock or the environment.
"""

import datetime as dt
import hashlib
import json
import struct
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from lastmile.audit import merkle
from lastmile.audit.keys import AuditKeyError, SigningKey, key_id, load_public_pem, public_pem, signature_ok
from lastmile.errors import LastmileError
from lastmile.warehouse import (
    LAKE_ALIAS,
    apply_schema_file,
    begin,
    commit,
    hold_lock,
    in_transaction,
    is_lake,
    rollback,
    run_sql,
)

SQL = "lastmile.audit"
BATCH_ROWS = 100_000
AUDIT_LOCK = "lastmile.audit.append"  # the advisory lock serialising appends on DuckLake
_FETCH_ROWS = 50_000
_REORDER_WINDOW = 1_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_quote = json.encoder.encode_basestring  # JSON string literal, non-ASCII kept
_DETAILS_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class AuditError(LastmileError):
    """A bad request to the audit trail (range, argument) or a log that must not be signed."""


Row = tuple[int, str, str, str, str, str, str | None, str]  # seq, at text, actor, action, subject, details, prev, leaf


def canonical_time(at: dt.datetime) -> str:
    """`at` as it appears in the canonical bytes: ISO 8601 in UTC with microseconds and a 'Z'."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise AuditError(f"audit time {at.isoformat()} has no timezone; pass a timezone-aware datetime")
    utc = at.astimezone(dt.UTC)
    if utc.year < 1000:
        raise AuditError(f"audit time {at.isoformat()} is before the year 1000")
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def canonical_details(details: dict[str, Any]) -> str:
    """The details object as canonical JSON text (sorted keys, no whitespace, non-ASCII kept)."""
    if not isinstance(details, dict):
        raise AuditError(f"audit details must be a JSON object (a dict), not {type(details).__name__}")
    try:
        return _DETAILS_JSON.encode(details)
    except (TypeError, ValueError) as exc:
        raise AuditError(f"audit details are not plain JSON: {exc}") from None


def canonical_bytes(
    seq: int, at: str, actor: str, action: str, subject: str, details: str, prev_hash: str | None
) -> bytes:
    """The canonical entry bytes. `at` is `canonical_time(...)`, `details` is `canonical_details(...)`.

    Equal to ``json.dumps({...}, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()`` of
    the seven fields, built directly so that verification does not parse every details object.
    """
    prev = "null" if prev_hash is None else _quote(prev_hash)
    return (
        f'{{"action":{_quote(action)},"actor":{_quote(actor)},"at":{_quote(at)},"details":{details},'
        f'"prev_hash":{prev},"seq":{seq},"subject":{_quote(subject)}}}'
    ).encode()


def _row_leaf(row: Row, seq: int, prev_hash: str | None) -> str | None:
    """Hex leaf hash of a stored row's payload (actor .. details) placed at `seq` after `prev_hash`."""
    try:
        data = canonical_bytes(seq, row[1], row[2], row[3], row[4], row[5], prev_hash)
    except (TypeError, UnicodeEncodeError):  # a NULL or unencodable value written behind our back
        return None
    return hashlib.sha256(b"\x00" + data).hexdigest()


@dataclass(frozen=True)
class Entry:
    seq: int
    at: dt.datetime
    actor: str
    action: str
    subject: str
    details: dict[str, Any]
    prev_hash: bytes | None
    leaf_hash: bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": canonical_time(self.at),
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "details": self.details,
            "prev_hash": None if self.prev_hash is None else self.prev_hash.hex(),
            "leaf_hash": self.leaf_hash.hex(),
        }


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head: the root of the first `tree_size` entries, signed at `signed_at`."""

    tree_size: int
    root_hash: bytes
    signed_at: dt.datetime
    key_id: str
    signature: bytes

    def tree_head(self) -> bytes:
        """The signed bytes: RFC 9162 TreeHeadDataV2 (uint64 ms timestamp, uint64 tree_size,
        NodeHash root_hash with its one-byte length, empty extensions)."""
        millis = (self.signed_at - _EPOCH) // dt.timedelta(milliseconds=1)
        return struct.pack(">QQB", millis, self.tree_size, len(self.root_hash)) + self.root_hash + b"\x00\x00"

    def to_dict(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "signed_at": canonical_time(self.signed_at)[:-4] + "Z",  # milliseconds, as signed
            "key_id": self.key_id,
            "signature": self.signature.hex(),
        }


def verify_checkpoint(checkpoint: Checkpoint, public_key_pem: bytes) -> bool:
    """Offline check of a checkpoint against the exported public key (audit/signing-key.pub)."""
    public = load_public_pem(public_key_pem)
    return checkpoint.key_id == key_id(public) and signature_ok(public, checkpoint.signature, checkpoint.tree_head())


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    entries: int
    checkpoints: int
    first_bad_seq: int | None
    finding: str  # one line


def _hex_or_empty(text: str | None) -> bytes:
    """A stored hash or signature; a value that is not hex is kept as b"": it cannot verify."""
    try:
        return bytes.fromhex(text or "")
    except ValueError:
        return b""


def _join_hashes(hashes: Iterable[bytes]) -> str:
    return ",".join(h.hex() for h in hashes)


def _split_hashes(text: str) -> list[bytes]:
    """Comma-separated hex hashes; ValueError if any is not 32 bytes of hex."""
    out = [bytes.fromhex(part) for part in text.split(",")] if text else []
    if any(len(h) != merkle.HASH_SIZE for h in out):
        raise ValueError("not a SHA-256 hash")
    return out


def _unhex(text: str | None, what: str) -> bytes:
    try:
        return bytes.fromhex(text or "")
    except ValueError:
        raise AuditError(f"{what} is not hex; run `lastmile audit verify`") from None


class AuditTrail:
    """The audit log in the warehouse (`audit_entries`, `audit_checkpoints`) and its signing key."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, key_dir: Path) -> None:
        self.conn = conn
        (present,) = self._one("tables_present.sql")
        if present < 3:
            try:
                apply_schema_file(conn, SQL, "sql/schema.sql")
            except duckdb.Error:
                if present < 2:
                    raise
                # a read-only warehouse from before audit_frontier: verify works without it
        self._key = SigningKey(Path(key_dir))
        if not self._key.private_path.exists() and not self._checkpoint_rows():
            self._key.create_if_absent()  # first use: nothing has been signed, so nothing can be orphaned

    # -- small helpers -------------------------------------------------------------------------------

    def _run(self, name: str, params: dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
        return run_sql(self.conn, SQL, f"sql/{name}", params)

    def _one(self, name: str, params: dict[str, Any] | None = None) -> tuple[Any, ...]:
        row = self._run(name, params).fetchone()
        assert row is not None
        return tuple(row)

    def _checkpoint_rows(self) -> list[tuple[Any, ...]]:
        return self._run("checkpoints.sql").fetchall()

    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint, smallest tree first, as stored (`verify` says whether to trust them)."""

        def raw(text: str | None) -> bytes:  # a value that is not hex is kept as b"": it cannot verify
            try:
                return bytes.fromhex(text or "")
            except ValueError:
                return b""

        out = []
        for size, root, signed_at, kid, signature in self._checkpoint_rows():
            out.append(Checkpoint(int(size), raw(root), signed_at.astimezone(dt.UTC), str(kid), raw(signature)))
        return out

    def _last_checkpoint(self) -> Checkpoint | None:
        row = self._run("last_checkpoint.sql").fetchone()
        if row is None:
            return None
        size, root, signed_at, kid, signature = row
        return Checkpoint(
            int(size), _hex_or_empty(root), signed_at.astimezone(dt.UTC), str(kid), _hex_or_empty(signature)
        )

    def _head(self) -> tuple[int, str] | None:
        """The last entry (seq, leaf hash): looked for from the last checkpoint's last entry on (cost
        independent of the log's length), else, if the log is shorter than that, in the whole log."""
        last = self._last_checkpoint()
        if last is not None and last.tree_size > 0:
            row = self._run("head_from.sql", {"from_seq": last.tree_size - 1}).fetchone()
            if row is not None:
                return int(row[0]), str(row[1])
        row = self._run("head.sql").fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def _frontiers(self) -> dict[int, tuple[str, str]]:
        try:
            rows = self._run("frontiers.sql").fetchall()
        except duckdb.CatalogException:  # a read-only warehouse from before frontiers
            return {}
        return {int(size): (str(nodes), str(path)) for size, nodes, path in rows}

    def size(self) -> int:
        """Number of entries in the log."""
        return int(self._one("size.sql")[0])

    def public_key_pem(self) -> bytes:
        """The public key that verifies this trail's checkpoints (PEM SubjectPublicKeyInfo)."""
        return public_pem(self._key.public())

    # -- appending -----------------------------------------------------------------------------------

    def append(self, actor: str, action: str, subject: str, details: dict[str, Any], *, at: dt.datetime) -> int:
        """Append one entry; returns its seq."""
        return self.append_many([(actor, action, subject, details, at)])[0]

    @contextmanager
    def _serialised(self) -> Iterator[None]:
        """Appending and signing take turns across processes. On the embedded file there is one writer.
        On DuckLake (no keys; concurrent appends would both take the same seq) a PostgreSQL advisory lock
        is held from reading the head until the entries commit: around the append's own transaction, or,
        inside a caller's transaction, until the caller commits or rolls back (lastmile.warehouse.commit
        releases it). A caller's transaction that began before another process's append committed cannot
        see that append: it is refused (run again), never forked."""
        if not is_lake(self.conn):
            yield
            return
        if in_transaction(self.conn):
            if hold_lock(self.conn, AUDIT_LOCK):
                fresh = self.conn.cursor()
                try:
                    fresh.execute(f"USE {LAKE_ALIAS}")
                    latest = (run_sql(fresh, SQL, "sql/size.sql").fetchone() or (0,))[0]
                finally:
                    fresh.close()
                if int(latest) > self.size():
                    raise AuditError("another process appended to the audit trail while this command ran; run it again")
            yield
            return
        hold_lock(self.conn, AUDIT_LOCK)
        begin(self.conn)
        try:
            yield
        except BaseException:
            rollback(self.conn)
            raise
        commit(self.conn)

    def append_many(self, entries: Iterable[tuple[str, str, str, dict[str, Any], dt.datetime]]) -> list[int]:
        """Append entries in order; returns their seqs (see `_append_many`)."""
        items = list(entries)
        with self._serialised():
            return self._append_many(items)

    def _append_many(self, entries: Iterable[tuple[str, str, str, dict[str, Any], dt.datetime]]) -> list[int]:
        """Append entries in order, one INSERT per batch of up to 100,000; returns their seqs.

        Every entry is validated and hashed before anything is written, so a bad entry writes nothing.
        No transaction is opened here, so a caller may append inside its own (the entries then commit or
        roll back with the caller's change); the primary key on seq refuses a concurrent writer's fork.
        """
        head = self._head()
        next_seq = 0 if head is None else int(head[0]) + 1
        prev: str | None = None if head is None else str(head[1])
        cols: dict[str, list[Any]] = {k: [] for k in ("seq", "at", "actor", "action", "subject", "details")}
        prevs: list[str | None] = []
        leaves: list[str] = []
        sha = hashlib.sha256
        for i, item in enumerate(entries):
            try:
                actor, action, subject, details, at = item
            except (TypeError, ValueError):
                raise AuditError(f"audit entry {i}: expected (actor, action, subject, details, at)") from None
            for name, value in (("actor", actor), ("action", action), ("subject", subject)):
                if not isinstance(value, str) or not value.strip():
                    raise AuditError(f"audit entry {i}: {name} must be a non-empty string, not {value!r}")
            if not isinstance(at, dt.datetime):
                raise AuditError(f"audit entry {i}: at must be a datetime, not {type(at).__name__}")
            at_text = canonical_time(at)
            details_text = canonical_details(details)
            try:
                data = canonical_bytes(next_seq, at_text, actor, action, subject, details_text, prev)
            except UnicodeEncodeError:
                raise AuditError(f"audit entry {i}: text is not encodable as UTF-8") from None
            leaf = sha(b"\x00" + data).hexdigest()
            cols["seq"].append(next_seq)
            cols["at"].append(at)
            cols["actor"].append(actor)
            cols["action"].append(action)
            cols["subject"].append(subject)
            cols["details"].append(details_text)
            prevs.append(prev)
            leaves.append(leaf)
            next_seq += 1
            prev = leaf
        seqs: list[int] = cols["seq"]
        for start in range(0, len(seqs), BATCH_ROWS):
            stop = start + BATCH_ROWS
            batch = pa.table(
                {
                    "seq": pa.array(seqs[start:stop], pa.int64()),
                    "at": pa.array(cols["at"][start:stop], pa.timestamp("us", tz="UTC")),
                    "actor": pa.array(cols["actor"][start:stop], pa.string()),
                    "action": pa.array(cols["action"][start:stop], pa.string()),
                    "subject": pa.array(cols["subject"][start:stop], pa.string()),
                    "details": pa.array(cols["details"][start:stop], pa.string()),
                    "prev_hash": pa.array(prevs[start:stop], pa.string()),
                    "leaf_hash": pa.array(leaves[start:stop], pa.string()),
                }
            )
            self.conn.register("audit_batch", batch)
            try:
                self._run("insert_entries.sql")
            finally:
                self.conn.unregister("audit_batch")
        return list(seqs)

    # -- reading -------------------------------------------------------------------------------------

    def entries(self, subject: str | None = None, subject_prefix: str | None = None) -> list[Entry]:
        """Entries in seq order: all, those of one subject, or those whose subject starts with a prefix."""
        rows = self._run("entries.sql", {"subject": subject, "prefix": subject_prefix}).fetchall()
        return [
            Entry(
                int(seq),
                at.astimezone(dt.UTC),
                actor,
                action,
                subj,
                json.loads(details),
                None if prev is None else _unhex(prev, f"prev_hash of entry {seq}"),
                _unhex(leaf, f"leaf_hash of entry {seq}"),
            )
            for seq, at, actor, action, subj, details, prev, leaf in rows
        ]

    def entries_touching(
        self, subjects: Iterable[str], *, order_id: str | None = None, file_ids: Iterable[str] = ()
    ) -> list[Entry]:
        """Entries in seq order whose subject is one of `subjects`, whose details name `order_id`
        (details.order_id), or one of `file_ids` (details.file_id)."""
        params = {"subjects": list(subjects), "order_id": order_id, "file_ids": list(file_ids)}
        return [self._entry(row) for row in self._run("entries_touching.sql", params).fetchall()]

    @staticmethod
    def _entry(row: tuple[Any, ...]) -> Entry:
        seq, at, actor, action, subj, details, prev, leaf = row
        return Entry(
            int(seq),
            at.astimezone(dt.UTC),
            actor,
            action,
            subj,
            json.loads(details),
            None if prev is None else _unhex(prev, f"prev_hash of entry {seq}"),
            _unhex(leaf, f"leaf_hash of entry {seq}"),
        )

    def _leaves(self, limit: int | None = None) -> list[bytes]:
        rows = self._run("leaf_hashes.sql", {"limit": limit if limit is not None else 2**62}).fetchall()
        out = []
        for i, (seq, leaf) in enumerate(rows):
            if seq != i:
                raise AuditError(f"entry {i} is missing from the log (found seq {seq}); run `lastmile audit verify`")
            out.append(_unhex(leaf, f"leaf_hash of entry {seq}"))
        return out

    def _tree(self, tree_size: int | None, what: str) -> list[bytes]:
        leaves = self._leaves(tree_size)
        if tree_size is not None and (tree_size < 0 or len(leaves) < tree_size):
            raise AuditError(f"{what}: tree size {tree_size} is outside the log (0..{len(leaves)})")
        return leaves

    def root(self, tree_size: int | None = None) -> bytes:
        """Merkle Tree Hash of the first `tree_size` entries (all by default)."""
        return merkle.mth(self._tree(tree_size, "root"))

    def inclusion_proof(self, seq: int, tree_size: int | None = None) -> list[bytes]:
        """Audit path of entry `seq` in the tree of the first `tree_size` entries (all by default)."""
        leaves = self._tree(tree_size, "inclusion proof")
        if not 0 <= seq < len(leaves):
            raise AuditError(f"inclusion proof: entry {seq} is not in a tree of size {len(leaves)}")
        return merkle.inclusion_path(seq, leaves)

    def inclusion_proofs(self, seqs: Iterable[int], tree_size: int) -> dict[int, list[bytes]]:
        """Audit paths of several entries in the tree of the first `tree_size` entries, reading the leaves once."""
        leaves = self._tree(tree_size, "inclusion proof")
        subtree: dict[tuple[int, int], bytes] = {}  # the large subtrees are shared between the paths

        def node(lo: int, hi: int) -> bytes:
            if (lo, hi) not in subtree:
                subtree[(lo, hi)] = merkle.mth(leaves[lo:hi])
            return subtree[(lo, hi)]

        out = {}
        for seq in seqs:
            if not 0 <= seq < len(leaves):
                raise AuditError(f"inclusion proof: entry {seq} is not in a tree of size {len(leaves)}")
            path: list[bytes] = []
            lo, hi, m = 0, len(leaves), seq
            while hi - lo > 1:  # RFC 9162 PATH(m, D[n]), as merkle.inclusion_path
                k = 1 << ((hi - lo - 1).bit_length() - 1)
                if m < k:
                    path.append(node(lo + k, hi))
                    hi = lo + k
                else:
                    path.append(node(lo, lo + k))
                    lo, m = lo + k, m - k
            path.reverse()
            out[seq] = path
        return out

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """Proof that the tree of the first `new_size` entries (all by default) extends the first `old_size`."""
        leaves = self._tree(new_size, "consistency proof")
        if not 0 <= old_size <= len(leaves):
            raise AuditError(f"consistency proof: old size {old_size} is outside 0..{len(leaves)}")
        return merkle.consistency_proof(old_size, leaves)

    # -- verification --------------------------------------------------------------------------------

    def _explain_mismatch(self, row: Row, max_seq: int) -> tuple[int, str]:
        """Entry `row` does not hash to its leaf_hash: moved here from elsewhere, or edited?"""
        i = row[0]
        # Whole row moved (every column but seq): its content hashes correctly at its original seq.
        for j in range(i + 1, max_seq + 1):
            if _row_leaf(row, j, row[6]) == row[7]:
                return i, f"entries {i} and {j} are out of order"
        # Payload moved (seq, prev_hash and leaf_hash left in place): it hashes with a nearby row's chain.
        near = self._run("canonical_range.sql", {"lo": i + 1, "hi": i + _REORDER_WINDOW}).fetchall()
        for other in near:
            if _row_leaf(row, other[0], other[6]) == other[7]:
                return i, f"entries {i} and {other[0]} are out of order"
        return i, f"entry {i} was edited: its hash does not match"

    def verify(self) -> VerifyReport:
        """Recompute every leaf hash, the chain, and the root at every checkpoint's size (one pass), and
        every checkpoint signature. Names the first failure; `AuditKeyError` if the key is missing or wrong."""
        cps = self.checkpoints()
        n_entries, max_seq = (int(v) for v in self._one("size.sql"))
        bad_signature: int | None = None
        trusted: dict[int, int] = {}  # tree_size -> checkpoint number, for well-signed checkpoints
        if cps:
            public = self._key.public()
            ours = key_id(public)
            if not any(cp.key_id == ours for cp in cps):
                where = self._key.private_path if self._key.private_path.exists() else self._key.public_path
                raise AuditKeyError(
                    f"audit signing key {where} (key id {ours[:16]}) signed none of the {len(cps)} checkpoints "
                    f"(they name key id {cps[-1].key_id[:16]}); restore the key that signed them"
                )
            for number, cp in enumerate(cps):
                if cp.key_id == ours and signature_ok(public, cp.signature, cp.tree_head()):
                    trusted[cp.tree_size] = number
                elif bad_signature is None:
                    bad_signature = number

        def report(first_bad: int | None, finding: str) -> VerifyReport:
            return VerifyReport(False, n_entries, len(cps), first_bad, finding)

        acc = merkle.RootAccumulator()
        last_good_size = 0
        frontiers = self._frontiers()

        def frontier_finding(size: int) -> str | None:
            nodes, path = frontiers[size]
            if (nodes, path) == tuple(_join_hashes(h) for h in acc.frontier()):
                return None
            return (
                f"the frontier stored with the checkpoint of tree size {size} does not match the log (edited); "
                "signing refuses until that audit_frontier row is deleted (the next checkpoint then rebuilds it)"
            )

        def root_finding(size: int) -> str | None:
            number = trusted[size]
            if acc.root() == cps[number].root_hash:
                return None
            rewritten = (
                f"entry {size - 1}" if size - last_good_size == 1 else f"an entry in {last_good_size}..{size - 1}"
            )
            return f"checkpoint {number} (tree size {size}) root does not match the log ({rewritten} was rewritten)"

        if 0 in trusted and (finding := root_finding(0)):
            return report(None, finding)
        if 0 in frontiers and (finding := frontier_finding(0)):
            return report(None, finding)
        expected = 0
        prev: str | None = None
        sha = hashlib.sha256
        cursor = self._run("canonical_rows.sql", {"from_seq": 0})
        while rows := cursor.fetchmany(_FETCH_ROWS):
            for row in rows:
                seq, at, actor, action, subject, details, prev_hash, stored = row
                if seq != expected:
                    if seq < expected:
                        return report(seq, f"entry {seq} is out of place (expected seq {expected})")
                    gap = (
                        f"entry {expected} is missing"
                        if seq == expected + 1
                        else (f"entries {expected} to {seq - 1} are missing")
                    )
                    jump = f"seq jumps {expected - 1} -> {seq}" if expected else f"the log starts at seq {seq}"
                    return report(expected, f"{gap} ({jump})")
                try:
                    digest = sha(
                        b"\x00" + canonical_bytes(seq, at, actor, action, subject, details, prev_hash)
                    ).digest()
                except (TypeError, UnicodeEncodeError):
                    digest = b""
                if digest.hex() != stored:
                    bad, finding = self._explain_mismatch(row, max_seq)
                    return report(bad, finding)
                if prev_hash != prev:
                    if seq == 0:
                        return report(0, "entry 0 was edited: it names a previous entry")
                    return report(
                        seq - 1, f"entry {seq - 1} was edited: entry {seq}'s prev_hash does not match its hash"
                    )
                acc.add(digest)
                expected += 1
                prev = stored
                if expected in trusted:
                    if finding := root_finding(expected):
                        return report(None, finding)
                    last_good_size = expected
                if expected in frontiers and (finding := frontier_finding(expected)):
                    return report(None, finding)
        n = expected
        if bad_signature is not None:
            cp = cps[bad_signature]
            return report(
                None,
                f"checkpoint {bad_signature} (tree size {cp.tree_size}) signature does not verify (forged or edited)",
            )
        beyond = [size for size in trusted if size > n]
        if beyond:
            cp = cps[trusted[max(beyond)]]
            return report(
                n,
                f"log truncated: checkpoint of {cp.to_dict()['signed_at']} covers {cp.tree_size} entries, log has {n}",
            )
        if stray := [size for size in frontiers if size > n]:
            return report(n, f"the frontier stored for tree size {max(stray)} lies beyond the log's {n} entries")
        summary = f"log intact: {n} entries, {len(cps)} signed checkpoint{'' if len(cps) == 1 else 's'}"
        if cps:
            latest = cps[-1].tree_size
            summary += f", the latest covering {latest}"
            if n > latest:
                summary += f"; {n - latest} entries after it are not yet signed"
        return VerifyReport(True, n, len(cps), None, summary)

    # -- signing -------------------------------------------------------------------------------------

    def checkpoint(self, *, at: dt.datetime) -> Checkpoint:
        """Sign the current tree head (see `_checkpoint`), taking turns with other processes' appends."""
        with self._serialised():
            return self._checkpoint(at=at)

    def _checkpoint(self, *, at: dt.datetime) -> Checkpoint:
        """Sign the current tree head (timestamp `at`, kept to the millisecond). Returns the last checkpoint
        unchanged if no entry was added since.

        Cost: O(log n) plus the new entries, whatever the log's length n. The frontier stored with the last
        checkpoint (its compact range) must reproduce that checkpoint's signed root; the last entry it
        covers is re-read and must still hash to the frontier's last leaf; every new entry must follow in
        seq order, hash, and chain. Then the frontier is extended by the new entries only, its root signed,
        and stored with the new checkpoint. Refuses (`AuditError`) a bad last signature, a truncated log,
        a frontier that does not reproduce the signed root (tampered), a last covered entry that changed,
        or a new entry that does not hash or chain. An entry edited further back is not read here (that
        is `verify`'s job), but it cannot be endorsed either: the new root is computed from the signed
        frontier, not from the edited rows, so every later checkpoint still contradicts the edit.
        A checkpoint stored without a frontier (a log from before frontiers) is checked the old way once:
        every stored leaf hash re-read and its root recomputed."""
        canonical_time(at)
        signed_at = at.astimezone(dt.UTC)
        signed_at = signed_at.replace(microsecond=signed_at.microsecond // 1000 * 1000)
        refuse = "refusing to sign an audit checkpoint"
        last = self._last_checkpoint()
        start = 0 if last is None else last.tree_size
        rows = self._run("canonical_rows.sql", {"from_seq": max(start - 1, 0)}).fetchall()
        boundary = rows[0] if start and rows and rows[0][0] == start - 1 else None
        new_rows = rows[1:] if boundary is not None else rows
        if last is not None:
            if start and boundary is None:
                raise AuditError(
                    f"{refuse}: log truncated: the last checkpoint covers {last.tree_size} entries, "
                    f"log has {self.size()}"
                )
            if not new_rows:
                return last
            public = self._key.public()
            if last.key_id != key_id(public) or not signature_ok(public, last.signature, last.tree_head()):
                raise AuditError(
                    f"{refuse}: the last checkpoint's signature does not verify; run `lastmile audit verify`"
                )
        acc = self._verified_frontier(last, refuse)
        prev: str | None = None
        if boundary is not None:
            leaf = _row_leaf(boundary, boundary[0], boundary[6])
            if leaf is None or leaf != boundary[7] or not acc.holds_last(bytes.fromhex(leaf)):
                raise AuditError(
                    f"{refuse}: entry {start - 1}, the last one the last checkpoint covers, no longer matches it; "
                    "run `lastmile audit verify`"
                )
            prev = leaf
        expected = start
        for row in new_rows:
            if row[0] != expected:
                raise AuditError(f"{refuse}: entry {expected} is missing (found {row[0]}); run `lastmile audit verify`")
            leaf = _row_leaf(row, row[0], row[6])
            if leaf is None or leaf != row[7] or row[6] != prev:
                raise AuditError(f"{refuse}: entry {row[0]} does not hash or chain; run `lastmile audit verify`")
            acc.add(bytes.fromhex(leaf))
            prev = leaf
            expected += 1
        private = self._key.private()
        head = Checkpoint(acc.size, acc.root(), signed_at, key_id(private.public_key()), b"")
        signed = Checkpoint(head.tree_size, head.root_hash, signed_at, head.key_id, private.sign(head.tree_head()))
        nodes, last_path = acc.frontier()
        self._run(
            "insert_checkpoint.sql",
            {
                "tree_size": signed.tree_size,
                "root_hash": signed.root_hash.hex(),
                "signed_at": signed.signed_at,
                "key_id": signed.key_id,
                "signature": signed.signature.hex(),
            },
        )
        self._run(
            "insert_frontier.sql",
            {"tree_size": acc.size, "nodes": _join_hashes(nodes), "last_path": _join_hashes(last_path)},
        )
        return signed

    def _verified_frontier(self, last: Checkpoint | None, refuse: str) -> merkle.RootAccumulator:
        """The compact range at the last checkpoint, checked against its signed root."""
        if last is None:
            return merkle.RootAccumulator()
        row = self._run("frontier_at.sql", {"tree_size": last.tree_size}).fetchone()
        if row is None:  # a checkpoint from before frontiers: rebuild it from the stored leaves, once
            acc = merkle.RootAccumulator()
            for leaf in self._leaves(last.tree_size):
                acc.add(leaf)
            if acc.size != last.tree_size or acc.root() != last.root_hash:
                raise AuditError(
                    f"{refuse}: the log no longer matches the last checkpoint; run `lastmile audit verify`"
                )
            return acc
        resumed: merkle.RootAccumulator | None
        try:
            resumed = merkle.RootAccumulator.resume(last.tree_size, _split_hashes(row[0]), _split_hashes(row[1]))
        except ValueError:
            resumed = None
        if resumed is None or resumed.root() != last.root_hash:
            raise AuditError(
                f"{refuse}: the stored frontier of the last checkpoint (tree size {last.tree_size}) does not "
                "reproduce its signed root (tampered); run `lastmile audit verify`"
            )
        return resumed
