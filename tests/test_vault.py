"""The encrypted vault and its keyring, against a throwaway warehouse under tmp_path."""

import base64
import datetime as dt
import itertools
import json
import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path

import duckdb
import pytest

from lastmile.errors import LastmileError, SettingsError, VaultError
from lastmile.vault import BLOB_KINDS, KINDS, PACK_HEADER, Artifact, Vault
from lastmile.vault.keyring import KeyProvider, LocalKeyring, open_keyring
from lastmile.warehouse import connect, transaction

NOW = dt.datetime(2025, 3, 14, 9, 26, tzinfo=dt.UTC)
CONTACT = json.dumps(
    {"recipient_name": "Zebulon Quattrocchi", "recipient_phone": "+447700900123", "recipient_email": "zq@x.io"}
).encode()


def key_b64() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def blob(marker: bytes, size: int = 6000) -> bytes:
    """A fake PNG whose bytes carry a recognisable marker throughout."""
    body = (marker * (size // len(marker) + 1))[: size - 8]
    return b"\x89PNG\r\n\x1a\n" + body


class Home:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.warehouse = root / "warehouse.duckdb"
        self.keys_dir = root / "keys"
        self.vault_dir = root / "vault"

    def vault(self, environ: Mapping[str, str] | None = None) -> tuple[Vault, duckdb.DuckDBPyConnection]:
        conn = connect(self.warehouse)
        return Vault(conn, self.vault_dir, open_keyring(self.keys_dir, environ or {})), conn

    def packs(self) -> list[Path]:
        return sorted(p for p in (self.vault_dir / "packs").rglob("*") if p.is_file())

    def snapshot(self) -> dict[Path, bytes]:
        return {p: p.read_bytes() for p in self.packs()}


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home")


@pytest.fixture
def vault(home: Home) -> Iterator[Vault]:
    v, conn = home.vault()
    yield v
    conn.close()


def rows(conn: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    return conn.execute("SELECT * FROM vault_artifacts ORDER BY artifact_id").fetchall()


def range_of(vault: Vault, artifact_id: str) -> tuple[int, int]:
    offset, length = (
        vault.conn.execute(
            "SELECT object_offset, object_length FROM vault_artifacts WHERE artifact_id = ?", [artifact_id]
        ).fetchone()
        or ()
    )
    return int(offset), int(length)


def one_line(exc: BaseException) -> str:
    message = str(exc)
    assert "\n" not in message and message
    return message


# -- round trips ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_round_trip_each_kind(vault: Vault, home: Home, kind: str) -> None:
    plaintext = blob(kind.encode()) if kind in BLOB_KINDS else CONTACT
    assert vault.seal_many([Artifact("a-1", kind, "o-1", plaintext)], now=NOW) == 1
    assert vault.open("a-1") == plaintext
    assert vault.exists("a-1") and not vault.exists("a-2")
    inline, path, offset, length, version, size = (
        vault.conn.execute(
            "SELECT ciphertext, object_path, object_offset, object_length, kek_version, plaintext_size "
            "FROM vault_artifacts"
        ).fetchone()
        or ()
    )
    assert (version, size) == (1, len(plaintext))
    if kind in BLOB_KINDS:
        assert inline is None and path.startswith("packs/") and path.endswith(".pack")
        (pack,) = home.packs()
        assert pack == home.vault_dir / path and pack.stat().st_size == offset + length
        assert (offset, length) == (len(PACK_HEADER), len(plaintext) + 16)
    else:
        assert path is None and offset is None and len(inline) == len(plaintext) + 16 and home.packs() == []


def test_many_artifacts_in_several_batches(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("lastmile.vault.BATCH_ROWS", 7)
    items = [Artifact(f"p{i}", "photo", f"o{i}", blob(b"p%d" % i, 100 + i)) for i in range(30)]
    items += [Artifact(f"contact:o{i}", "recipient_contact", f"o{i}", b"c%d" % i) for i in range(30)]
    assert vault.seal_many(items, now=NOW) == 60
    assert all(vault.open(a.artifact_id) == a.plaintext for a in items)


def test_unknown_artifact(vault: Vault) -> None:
    with pytest.raises(VaultError, match="'nope' is not in the vault"):
        vault.open("nope")


def test_env_kek_round_trip_with_version(home: Home) -> None:
    env = {"LASTMILE_KEK": key_b64(), "LASTMILE_KEK_VERSION": "3"}
    v, conn = home.vault(env)
    v.seal_many([Artifact("contact:o1", "recipient_contact", "o1", CONTACT)], now=NOW)
    assert conn.execute("SELECT kek_version FROM vault_artifacts").fetchall() == [(3,)]
    assert sorted(p.name for p in home.keys_dir.iterdir()) == ["hash.key"]  # the KEK is not on disk
    conn.close()
    v, conn = home.vault(env)
    assert v.open("contact:o1") == CONTACT
    conn.close()


def test_local_keyring_is_a_key_provider(tmp_path: Path) -> None:
    keys = open_keyring(tmp_path / "keys", {})
    assert isinstance(keys, LocalKeyring) and isinstance(keys, KeyProvider)
    version, wrapped = keys.wrap(b"k" * 32, b"aad")
    assert keys.unwrap(version, wrapped, b"aad") == b"k" * 32
    with pytest.raises(VaultError):
        keys.unwrap(version, wrapped, b"other aad")


def test_wrap_many_binds_each_key_to_its_own_aad(tmp_path: Path) -> None:
    keys = open_keyring(tmp_path / "keys", {})
    data_keys = [os.urandom(32) for _ in range(3)]
    aads = [b"aad-a", b"aad-b", b"aad-c"]
    version, wrapped = keys.wrap_many(data_keys, aads)
    assert version == keys.current_version() and len(wrapped) == 3
    assert [keys.unwrap(version, w, a) for w, a in zip(wrapped, aads, strict=True)] == data_keys
    assert len({w[:12] for w in wrapped}) == 3  # a fresh nonce for each key
    with pytest.raises(VaultError):
        keys.unwrap(version, wrapped[0], aads[1])
    with pytest.raises(ValueError, match="2 data keys but 3 aads"):
        keys.wrap_many(data_keys[:2], aads)
    assert keys.wrap_many([], []) == (version, [])


# -- binding, tampering ----------------------------------------------------------------------------------


def test_swapped_inline_ciphertexts_fail_instead_of_opening_wrong_data(vault: Vault) -> None:
    vault.seal_many(
        [
            Artifact("contact:o1", "recipient_contact", "o1", b'{"recipient_name": "Ann"}'),
            Artifact("contact:o2", "recipient_contact", "o2", b'{"recipient_name": "Bob"}'),
        ],
        now=NOW,
    )
    conn = vault.conn
    # Swap the whole crypto payload (wrapped key, nonce, ciphertext) between the two rows.
    conn.execute(
        """UPDATE vault_artifacts AS t SET wrapped_key = s.wrapped_key, nonce = s.nonce, ciphertext = s.ciphertext
           FROM vault_artifacts AS s
           WHERE t.artifact_id <> s.artifact_id"""
    )
    for artifact_id in ("contact:o1", "contact:o2"):
        with pytest.raises(VaultError, match="swapped") as info:
            vault.open(artifact_id)
        one_line(info.value)


def test_swapped_ciphertext_only_fails(vault: Vault) -> None:
    vault.seal_many(
        [
            Artifact("q:1", "quarantined_record", None, b"raw one"),
            Artifact("q:2", "quarantined_record", None, b"raw 2"),
        ],
        now=NOW,
    )
    vault.conn.execute(
        """UPDATE vault_artifacts AS t SET nonce = s.nonce, ciphertext = s.ciphertext
           FROM vault_artifacts AS s WHERE t.artifact_id <> s.artifact_id"""
    )
    with pytest.raises(VaultError, match="ciphertext fails authentication"):
        vault.open("q:1")


@pytest.mark.parametrize("columns", ["object_offset, object_length", "object_offset, object_length, nonce"])
def test_swapped_pack_ranges_fail(vault: Vault, columns: str) -> None:
    vault.seal_many(
        [Artifact("p1", "photo", "o1", blob(b"one")), Artifact("p2", "signature", "o1", blob(b"two"))], now=NOW
    )
    assert vault.conn.execute("SELECT count(DISTINCT object_path) FROM vault_artifacts").fetchall() == [(1,)]
    assignments = ", ".join(f"{c} = s.{c}" for c in columns.split(", "))
    vault.conn.execute(
        f"""UPDATE vault_artifacts AS t SET {assignments}
            FROM vault_artifacts AS s WHERE t.artifact_id <> s.artifact_id"""
    )
    for artifact_id in ("p1", "p2"):
        with pytest.raises(VaultError, match="ciphertext fails authentication"):
            vault.open(artifact_id)


def test_changed_kind_fails(vault: Vault) -> None:
    vault.seal_many([Artifact("p1", "photo", "o1", blob(b"one"))], now=NOW)
    vault.conn.execute("UPDATE vault_artifacts SET artifact_kind = 'signature'")
    with pytest.raises(VaultError, match="does not authenticate"):
        vault.open("p1")


def test_tampered_inline_byte_fails(vault: Vault) -> None:
    vault.seal_many([Artifact("contact:o1", "recipient_contact", "o1", CONTACT)], now=NOW)
    (ciphertext,) = vault.conn.execute("SELECT ciphertext FROM vault_artifacts").fetchone() or ()
    tampered = bytearray(ciphertext)
    tampered[5] ^= 0x01
    vault.conn.execute("UPDATE vault_artifacts SET ciphertext = ?", [bytes(tampered)])
    with pytest.raises(VaultError, match="ciphertext fails authentication") as info:
        vault.open("contact:o1")
    one_line(info.value)


@pytest.mark.parametrize("where", ["first byte", "middle", "tag"])
def test_tampered_pack_byte_fails_for_that_artifact_only(vault: Vault, home: Home, where: str) -> None:
    items = [Artifact(f"p{i}", "photo", "o1", blob(b"blob%d" % i)) for i in range(3)]
    vault.seal_many(items, now=NOW)
    offset, length = range_of(vault, "p1")
    (pack,) = home.packs()
    data = bytearray(pack.read_bytes())
    data[offset + {"first byte": 0, "middle": length // 2, "tag": length - 1}[where]] ^= 0x80
    pack.write_bytes(bytes(data))
    with pytest.raises(VaultError, match="'p1': ciphertext fails authentication") as info:
        vault.open("p1")
    one_line(info.value)
    assert vault.open("p0") == items[0].plaintext and vault.open("p2") == items[2].plaintext


def test_tampered_wrapped_key_fails(vault: Vault) -> None:
    vault.seal_many([Artifact("p1", "photo", "o1", blob(b"one"))], now=NOW)
    (wrapped,) = vault.conn.execute("SELECT wrapped_key FROM vault_artifacts").fetchone() or ()
    vault.conn.execute("UPDATE vault_artifacts SET wrapped_key = ?", [bytes(wrapped[:-1]) + bytes([wrapped[-1] ^ 1])])
    with pytest.raises(VaultError, match="data key does not authenticate under KEK version 1"):
        vault.open("p1")


def test_missing_pack_file_fails(vault: Vault, home: Home) -> None:
    vault.seal_many([Artifact("p1", "photo", "o1", blob(b"one"))], now=NOW)
    home.packs()[0].unlink()
    with pytest.raises(VaultError, match="is missing"):
        vault.open("p1")


def test_truncated_pack_fails(vault: Vault, home: Home) -> None:
    vault.seal_many([Artifact("p1", "photo", "o1", blob(b"one")), Artifact("p2", "photo", "o1", blob(b"2"))], now=NOW)
    offset, _ = range_of(vault, "p2")
    os.truncate(home.packs()[0], offset + 10)
    with pytest.raises(VaultError, match=r"runs past the end .* \(truncated pack\)") as info:
        vault.open("p2")
    one_line(info.value)
    assert vault.open("p1") == blob(b"one")


@pytest.mark.parametrize("change", ["object_path = '../../keys/kek-v1.key'", "object_offset = -5"])
def test_tampered_range_is_refused(vault: Vault, change: str) -> None:
    vault.seal_many([Artifact("p1", "photo", "o1", blob(b"one"))], now=NOW)
    vault.conn.execute(f"UPDATE vault_artifacts SET {change}")
    with pytest.raises(VaultError, match=r"leaves the vault|bad ciphertext range"):
        vault.open("p1")


def test_purged_artifact_cannot_be_opened(vault: Vault) -> None:
    vault.seal_many([Artifact("contact:o1", "recipient_contact", "o1", CONTACT)], now=NOW)
    vault.conn.execute(
        "UPDATE vault_artifacts SET wrapped_key = NULL, nonce = NULL, ciphertext = NULL, "
        "purged_at = ?, purged_by_run = 'run-1'",
        [NOW],
    )
    with pytest.raises(VaultError, match=r"was purged .* by run run-1"):
        vault.open("contact:o1")
    assert vault.exists("contact:o1")  # the tombstone remains


# -- wrong and missing keys --------------------------------------------------------------------------------


def test_wrong_kek_is_refused_and_nothing_is_overwritten(home: Home) -> None:
    good = {"LASTMILE_KEK": key_b64()}
    v, conn = home.vault(good)
    v.seal_many(
        [Artifact("contact:o1", "recipient_contact", "o1", CONTACT), Artifact("p1", "photo", "o1", blob(b"x"))],
        now=NOW,
    )
    before, files_before = rows(conn), home.snapshot()
    conn.close()

    wrong = {"LASTMILE_KEK": key_b64()}
    v, conn = home.vault(wrong)
    with pytest.raises(VaultError, match="wrong key-encryption key: KEK version 1") as info:
        v.open("contact:o1")
    one_line(info.value)
    with pytest.raises(VaultError, match="wrong key-encryption key"):
        v.seal_many([Artifact("contact:o1", "recipient_contact", "o1", b"{}")], now=NOW)
    with pytest.raises(VaultError, match="wrong key-encryption key"):
        v.seal_many([Artifact("p2", "photo", "o2", blob(b"new"))], now=NOW)
    assert rows(conn) == before
    assert home.snapshot() == files_before
    conn.close()

    v, conn = home.vault(good)
    assert v.open("contact:o1") == CONTACT and v.open("p1") == blob(b"x")
    conn.close()


def test_env_kek_that_differs_from_the_key_file_is_refused(home: Home) -> None:
    v, conn = home.vault()
    v.seal_many([Artifact("contact:o1", "recipient_contact", "o1", CONTACT)], now=NOW)
    conn.close()
    v, conn = home.vault({"LASTMILE_KEK": key_b64()})
    with pytest.raises(VaultError, match="wrong key-encryption key"):
        v.open("contact:o1")
    conn.close()


@pytest.mark.parametrize("remove", ["kek file", "keys dir"])
def test_missing_key_with_existing_data_is_an_error_not_a_new_key(home: Home, remove: str) -> None:
    v, conn = home.vault()
    v.seal_many([Artifact("contact:o1", "recipient_contact", "o1", CONTACT)], now=NOW)
    before = rows(conn)
    conn.close()
    if remove == "kek file":
        (home.keys_dir / "kek-v1.key").unlink()
    else:
        for path in home.keys_dir.iterdir():
            path.unlink()
        home.keys_dir.rmdir()

    v, conn = home.vault()
    with pytest.raises(VaultError, match=r"KEK version 1 is missing|kek-v1\.key") as info:
        v.open("contact:o1")
    one_line(info.value)
    for attempt in (
        lambda: v.seal_many([Artifact("contact:o2", "recipient_contact", "o2", CONTACT)], now=NOW),
        lambda: v.keyed_hash("someone@example.com"),
    ):
        with pytest.raises(VaultError, match=r"KEK version 1 is missing|kek-v1\.key"):
            attempt()
    assert rows(conn) == before
    assert not (home.keys_dir / "kek-v1.key").exists()  # never silently recreated
    conn.close()


def test_wrong_hash_key_is_refused(home: Home) -> None:
    kek = key_b64()
    v, conn = home.vault({"LASTMILE_KEK": kek, "LASTMILE_HASH_KEY": key_b64()})
    first = v.keyed_hash("zq@x.io")
    v.seal_many([Artifact("contact:o1", "recipient_contact", "o1", CONTACT)], now=NOW)
    conn.close()
    v, conn = home.vault({"LASTMILE_KEK": kek, "LASTMILE_HASH_KEY": key_b64()})
    with pytest.raises(VaultError, match="wrong hash key"):
        v.keyed_hash("zq@x.io")
    conn.close()
    assert first is not None


def test_keyed_hash(vault: Vault) -> None:
    assert vault.keyed_hash(None) is None
    digest = vault.keyed_hash("+447700900123")
    assert digest is not None and len(digest) == 64
    assert digest == vault.keyed_hash("+447700900123") != vault.keyed_hash("+447700900124")
    import hashlib

    assert digest != hashlib.sha256(b"+447700900123").hexdigest()


# -- storage on disk -------------------------------------------------------------------------------------


def test_keys_and_objects_are_owner_only(vault: Vault, home: Home) -> None:
    vault.seal_many([Artifact("p1", "photo", "o1", blob(b"x"))], now=NOW)
    assert stat.S_IMODE(home.keys_dir.stat().st_mode) == 0o700
    key_files = sorted(home.keys_dir.iterdir())
    assert [p.name for p in key_files] == ["hash.key", "kek-v1.key"]
    for path in key_files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(base64.b64decode(path.read_text())) == 32
    assert len(home.packs()) == 1
    for path in home.packs():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(home.vault_dir.stat().st_mode) == 0o700


def test_keys_readable_by_others_are_refused(home: Home) -> None:
    v, conn = home.vault()
    v.seal_many([Artifact("contact:o1", "recipient_contact", "o1", CONTACT)], now=NOW)
    conn.close()
    os.chmod(home.keys_dir / "kek-v1.key", 0o644)
    v, conn = home.vault()
    with pytest.raises(VaultError, match="accessible by other users"):
        v.open("contact:o1")
    conn.close()


def test_no_plaintext_anywhere_under_home(home: Home) -> None:
    v, conn = home.vault()
    photo = blob(b"SECRET-PHOTO-BYTES")
    quarantined = b'{"order_id": "o9", "recipient_name": "Xanthippe Oyelaran-Brook"}'
    v.seal_many(
        [
            Artifact("contact:o1", "recipient_contact", "o1", CONTACT),
            Artifact("p1", "photo", "o1", photo),
            Artifact("s1", "signature", "o1", blob(b"SIGNATURE-STROKES")),
            Artifact("quarantine:f:2", "quarantined_record", None, quarantined),
        ],
        now=NOW,
    )
    conn.execute("CHECKPOINT")
    conn.close()
    markers = [b"Zebulon Quattrocchi", b"+447700900123", b"zq@x.io", b"SECRET-PHOTO-BYTES", b"SIGNATURE-STROKES"]
    markers += [b"Xanthippe", photo[8:200]]
    files = [p for p in home.root.rglob("*") if p.is_file()]
    assert home.warehouse in files and len(home.packs()) == 1
    for path in files:
        data = path.read_bytes()
        for marker in markers:
            assert marker not in data, f"{marker!r} found in {path}"


def test_reseal_replaces_with_a_fresh_key_and_destroys_the_old(vault: Vault, home: Home) -> None:
    vault.seal_many(
        [Artifact("contact:o1", "recipient_contact", "o1", b"v1"), Artifact("p1", "photo", "o1", blob(b"old"))],
        now=NOW,
    )
    old = dict(
        (r[0], r[1:])
        for r in vault.conn.execute("SELECT artifact_id, wrapped_key, object_path FROM vault_artifacts").fetchall()
    )
    (pack,) = home.packs()
    old_offset, old_length = range_of(vault, "p1")
    old_ciphertext = pack.read_bytes()[old_offset : old_offset + old_length]
    later = NOW + dt.timedelta(days=1)
    vault.seal_many(
        [Artifact("contact:o1", "recipient_contact", "o1", b"v2"), Artifact("p1", "photo", "o1", blob(b"new"))],
        now=later,
    )
    assert vault.open("contact:o1") == b"v2" and vault.open("p1") == blob(b"new")
    new = dict(
        (r[0], r[1:])
        for r in vault.conn.execute("SELECT artifact_id, wrapped_key, object_path FROM vault_artifacts").fetchall()
    )
    assert new.keys() == old.keys()
    assert all(new[k][0] != old[k][0] for k in new)
    assert home.packs() == [pack]  # the same Vault keeps appending to its pack
    data = pack.read_bytes()
    assert data[old_offset : old_offset + old_length] == bytes(old_length)  # the old range is zeroed
    assert old_ciphertext not in data and range_of(vault, "p1")[0] == old_offset + old_length
    assert vault.conn.execute("SELECT DISTINCT created_at FROM vault_artifacts").fetchall() == [(later,)]


def test_repeated_id_in_one_call_keeps_the_last(vault: Vault) -> None:
    sealed = vault.seal_many(
        [
            Artifact("contact:o1", "recipient_contact", "o1", b"a"),
            Artifact("contact:o1", "recipient_contact", "o1", b"b"),
        ],
        now=NOW,
    )
    assert sealed == 1 and vault.open("contact:o1") == b"b"


def test_failed_seal_leaves_nothing_behind(vault: Vault, home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    vault.seal_many([Artifact("p0", "photo", "o0", blob(b"keep"))], now=NOW)
    before, packs_before = rows(vault.conn), home.snapshot()
    monkeypatch.setattr("lastmile.vault.BATCH_ROWS", 2)
    items = [Artifact("p0", "photo", "o0", blob(b"replace")), Artifact("p1", "photo", "o1", blob(b"a"))]
    items += [Artifact("p2", "photo", "o2", blob(b"b")), Artifact("x", "selfie", "o3", b"?")]
    with pytest.raises(ValueError, match="unknown kind 'selfie'"):
        vault.seal_many(items, now=NOW)
    assert rows(vault.conn) == before and home.snapshot() == packs_before  # cut back to its old length
    assert vault.open("p0") == blob(b"keep")


def test_seal_inside_the_callers_transaction(vault: Vault) -> None:
    with transaction(vault.conn):
        vault.seal_many([Artifact("contact:o1", "recipient_contact", "o1", b"v1")], now=NOW)
    assert vault.open("contact:o1") == b"v1"
    with pytest.raises(RuntimeError), transaction(vault.conn):
        vault.seal_many([Artifact("contact:o2", "recipient_contact", "o2", b"v1")], now=NOW)
        raise RuntimeError("caller fails")
    assert not vault.exists("contact:o2")


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        (Artifact("x", "selfie", "o1", b"?"), ValueError, "unknown kind 'selfie'"),
        (Artifact("", "photo", "o1", b"?"), ValueError, "non-empty string"),
        (Artifact(7, "photo", "o1", b"?"), ValueError, "non-empty string"),  # type: ignore[arg-type]
        (Artifact("x", "photo", "o1", "text"), TypeError, "plaintext must be bytes"),  # type: ignore[arg-type]
        (Artifact("x", "photo", "o1", None), TypeError, "plaintext must be bytes"),  # type: ignore[arg-type]
    ],
)
def test_a_bad_artifact_among_good_ones_is_named_and_nothing_is_sealed(
    vault: Vault, bad: Artifact, error: type[Exception], message: str
) -> None:
    good = [Artifact(f"contact:o{i}", "recipient_contact", f"o{i}", b"v") for i in range(3)]
    with pytest.raises(error, match=message):
        vault.seal_many([*good[:2], bad, good[2]], now=NOW)
    assert not any(vault.exists(a.artifact_id) for a in good)


def test_encrypted_ahead_then_stored_in_part(vault: Vault, home: Home) -> None:
    items = [Artifact("p1", "photo", "o1", blob(b"one")), Artifact("contact:o2", "recipient_contact", "o2", b"c2")]
    items += [Artifact("p3", "signature", "o3", blob(b"three")), Artifact("p1", "photo", "o1", blob(b"again"))]
    encrypted = vault.encrypt(items)
    assert len(encrypted) == 4 and not home.packs()  # nothing stored by encrypting
    # no run of the plaintext is left in the clear (32 bytes: a 3-byte marker turns up in random bytes by chance)
    assert blob(b"one")[8:40] not in b"".join(encrypted.ciphertexts)
    assert vault.seal_encrypted(encrypted.take([0, 2, 3]), now=NOW) == 2  # p1 twice: the last one wins
    assert vault.open("p1") == blob(b"again") and vault.open("p3") == blob(b"three")
    assert not vault.exists("contact:o2")
    assert vault.seal_encrypted(encrypted.take([1]), now=NOW) == 1
    assert vault.open("contact:o2") == b"c2"
    with pytest.raises(ValueError, match="unknown kind 'selfie'"):
        vault.encrypt([items[0], Artifact("x", "selfie", "o1", b"?")])


def test_an_encrypted_batch_bound_to_one_id_does_not_open_under_another(vault: Vault) -> None:
    encrypted = vault.encrypt([Artifact("contact:o1", "recipient_contact", "o1", b"secret")])
    encrypted.ids[0] = "contact:o2"  # a row moved to another artifact before it is stored
    vault.seal_encrypted(encrypted, now=NOW)
    with pytest.raises(VaultError):
        vault.open("contact:o2")


def test_naive_now_is_rejected(vault: Vault) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        vault.seal_many([], now=dt.datetime(2025, 1, 1))


# -- environment -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"LASTMILE_KEK": "not base64!!"}, "LASTMILE_KEK: not valid base64"),
        ({"LASTMILE_KEK": base64.b64encode(b"short").decode()}, "LASTMILE_KEK: decodes to 5 bytes"),
        ({"LASTMILE_KEK": key_b64(), "LASTMILE_KEK_VERSION": "zero"}, "LASTMILE_KEK_VERSION"),
        ({"LASTMILE_KEK": key_b64(), "LASTMILE_KEK_VERSION": "0"}, "LASTMILE_KEK_VERSION"),
        ({"LASTMILE_KEK_VERSION": "2"}, "LASTMILE_KEK_VERSION is set but LASTMILE_KEK is not"),
        ({"LASTMILE_HASH_KEY": base64.b64encode(os.urandom(16)).decode()}, "LASTMILE_HASH_KEY: decodes to 16"),
    ],
)
def test_bad_key_environment_is_one_line_naming_the_variable(tmp_path: Path, env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named) as info:
        open_keyring(tmp_path / "keys", env)
    assert isinstance(info.value, LastmileError)
    one_line(info.value)
    assert not (tmp_path / "keys").exists()


def test_keyring_creates_nothing_until_first_use(tmp_path: Path) -> None:
    keys = open_keyring(tmp_path / "keys", {})
    assert not (tmp_path / "keys").exists()
    assert keys.current_version() == 1
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == ["hash.key", "kek-v1.key"]


# -- pack files, destroy, crashes ------------------------------------------------------------------------


def test_many_blobs_across_packs(vault: Vault, home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("lastmile.vault.PACK_LIMIT", 20_000)
    monkeypatch.setattr("lastmile.vault.BATCH_ROWS", 5)
    items = [Artifact(f"p{i}", "photo", f"o{i}", blob(b"p%d" % i, 3000 + 7 * i)) for i in range(25)]
    items.append(Artifact("big", "photo", "o", blob(b"big", 50_000)))  # larger than a pack: a pack of its own
    items += [Artifact(f"contact:o{i}", "recipient_contact", f"o{i}", b"c%d" % i) for i in range(5)]
    assert vault.seal_many(items[:10], now=NOW) + vault.seal_many(items[10:], now=NOW) == len(items)
    assert all(vault.open(a.artifact_id) == a.plaintext for a in items)

    packs = home.packs()
    assert len(packs) >= 3
    ranges = vault.conn.execute(
        "SELECT object_path, object_offset, object_length FROM vault_artifacts "
        "WHERE object_path IS NOT NULL ORDER BY object_path, object_offset"
    ).fetchall()
    for pack in packs:  # each pack: the header, then its ciphertexts back to back, nothing else
        mine = [(o, n) for p, o, n in ranges if home.vault_dir / p == pack]
        data = pack.read_bytes()
        assert data.startswith(PACK_HEADER) and mine[0][0] == len(PACK_HEADER)
        assert all(o + n == next_o for (o, n), (next_o, _) in itertools.pairwise(mine))
        assert mine[-1][0] + mine[-1][1] == len(data)
        assert len(data) <= 20_000 or len(mine) == 1


def test_destroy_shreds_and_leaves_a_tombstone(vault: Vault, home: Home) -> None:
    photo = blob(b"PHOTO-TO-DESTROY")
    vault.seal_many([Artifact("p1", "photo", "o1", photo), Artifact("p2", "photo", "o2", blob(b"keep me"))], now=NOW)
    offset, length = range_of(vault, "p1")
    (pack,) = home.packs()
    ciphertext = pack.read_bytes()[offset : offset + length]
    purge_time = NOW + dt.timedelta(days=31)

    vault.destroy("p1", now=purge_time, run_id="run-42")
    with pytest.raises(VaultError, match=r"'p1' was purged at 2025-04-14 09:26:00\+00:00 by run run-42") as info:
        vault.open("p1")
    one_line(info.value)
    assert vault.exists("p1") and vault.open("p2") == blob(b"keep me")
    assert vault.conn.execute(
        "SELECT wrapped_key, nonce, ciphertext, purged_by_run, object_offset FROM vault_artifacts "
        "WHERE artifact_id = 'p1'"
    ).fetchall() == [(None, None, None, "run-42", offset)]
    assert pack.read_bytes()[offset : offset + length] == bytes(length)

    # Destroying again (a purge interrupted after its commit) keeps the first run and zeroes again.
    vault.destroy("p1", now=purge_time + dt.timedelta(days=1), run_id="run-43")
    with pytest.raises(VaultError, match="by run run-42"):
        vault.open("p1")
    with pytest.raises(VaultError, match="'nope' is not in the vault"):
        vault.destroy("nope", now=purge_time, run_id="run-43")
    with pytest.raises(ValueError, match="timezone-aware"):
        vault.destroy("p2", now=dt.datetime(2025, 1, 1), run_id="run-43")

    vault.conn.execute("CHECKPOINT")
    vault.conn.close()
    files = [p for p in home.root.rglob("*") if p.is_file()]
    assert home.warehouse in files and pack in files
    for path in files:
        data = path.read_bytes()
        for marker in (b"PHOTO-TO-DESTROY", photo[8:200], ciphertext, ciphertext[:64], ciphertext[-16:]):
            assert marker not in data, f"{marker[:20]!r}... found in {path}"


def test_destroy_many_across_packs_and_kinds(vault: Vault, home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("lastmile.vault.PACK_LIMIT", 10_000)
    items = [Artifact(f"p{i}", "signature", "o", blob(b"s%d" % i)) for i in range(6)]
    items.append(Artifact("contact:o", "recipient_contact", "o", CONTACT))
    vault.seal_many(items, now=NOW)
    assert len(home.packs()) == 6
    sizes = {p: p.stat().st_size for p in home.packs()}
    assert vault.destroy_many(["p0", "p3", "contact:o", "unknown", "p3"], now=NOW, run_id="r") == 3
    for artifact_id in ("p0", "p3", "contact:o"):
        with pytest.raises(VaultError, match=r"purged .* by run r"):
            vault.open(artifact_id)
    assert all(vault.open(f"p{i}") == blob(b"s%d" % i) for i in (1, 2, 4, 5))
    assert {p: p.stat().st_size for p in home.packs()} == sizes  # zeroed in place, nothing moved
    assert vault.destroy_many([], now=NOW, run_id="r") == 0


def test_reseal_after_destroy_works(vault: Vault) -> None:
    vault.seal_many([Artifact("p1", "photo", "o1", blob(b"one"))], now=NOW)
    vault.destroy("p1", now=NOW, run_id="r")
    vault.seal_many([Artifact("p1", "photo", "o1", blob(b"again"))], now=NOW)
    assert vault.open("p1") == blob(b"again")


def test_replace_inside_callers_transaction_shreds_only_after_commit(vault: Vault, home: Home) -> None:
    vault.seal_many([Artifact("p1", "photo", "o1", blob(b"v1"))], now=NOW)
    old = range_of(vault, "p1")
    (pack,) = home.packs()
    with pytest.raises(RuntimeError), transaction(vault.conn):
        vault.seal_many([Artifact("p1", "photo", "o1", blob(b"v2"))], now=NOW)
        raise RuntimeError("caller fails")
    assert vault.shred_pending() == 0  # the row still names the old range
    assert vault.open("p1") == blob(b"v1") and range_of(vault, "p1") == old

    with transaction(vault.conn):
        vault.seal_many([Artifact("p1", "photo", "o1", blob(b"v3"))], now=NOW)
        assert pack.read_bytes()[old[0] : old[0] + old[1]] != bytes(old[1])  # not before the commit
    assert vault.shred_pending() == 1
    assert pack.read_bytes()[old[0] : old[0] + old[1]] == bytes(old[1])
    assert vault.open("p1") == blob(b"v3")

    with transaction(vault.conn):
        vault.destroy("p1", now=NOW, run_id="r")
    vault.seal_many([Artifact("contact:o1", "recipient_contact", "o1", CONTACT)], now=NOW)  # own: shreds
    offset, length = range_of(vault, "p1")
    assert pack.read_bytes()[offset : offset + length] == bytes(length)


def test_failure_while_writing_a_pack_commits_nothing(
    vault: Vault, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault.seal_many([Artifact("p0", "photo", "o0", blob(b"keep"))], now=NOW)
    before, packs_before = rows(vault.conn), home.snapshot()
    import lastmile.vault as vault_module

    real_write = vault_module._pwrite_all
    calls: list[int] = []

    def failing_write(fd: int, chunks: list[bytes], offset: int) -> None:
        calls.append(offset)
        # from the third batch on (I/O threads may append at once): write part of it, then fail (disk full)
        if len(calls) >= 3:
            real_write(fd, chunks[:1], offset)
            raise OSError(28, "No space left on device")
        real_write(fd, chunks, offset)

    monkeypatch.setattr(vault_module, "_pwrite_all", failing_write)
    monkeypatch.setattr(vault_module, "BATCH_ROWS", 2)
    items = [Artifact("p0", "photo", "o0", blob(b"replaced"))]
    items += [Artifact(f"p{i}", "photo", f"o{i}", blob(b"new%d" % i)) for i in range(1, 8)]
    with pytest.raises(OSError, match="No space left"):
        vault.seal_many(items, now=NOW)
    assert rows(vault.conn) == before and home.snapshot() == packs_before  # rows unchanged, pack cut back
    assert vault.open("p0") == blob(b"keep")

    monkeypatch.setattr(vault_module, "_pwrite_all", real_write)
    assert vault.seal_many(items, now=NOW) == len(items)
    assert all(vault.open(a.artifact_id) == a.plaintext for a in items)


CRASHING_SEAL = """
import datetime as dt, os, sys
from lastmile.warehouse import connect
from lastmile.vault.keyring import open_keyring
import lastmile.vault as v
home = sys.argv[1]
real = v._pwrite_all
calls = []
def crash(fd, chunks, offset):
    calls.append(1)
    real(fd, chunks[: len(chunks) // 2], offset)
    if len(calls) >= 3:  # several I/O threads may append at once: never rely on seeing exactly 3
        os._exit(9)  # killed mid-write: no rollback, no cleanup
    real(fd, chunks, offset)
v._pwrite_all = crash
v.BATCH_ROWS = 3
v.PACK_LIMIT = 40_000
vault = v.Vault(connect(home + "/warehouse.duckdb"), home + "/vault", open_keyring(home + "/keys", {}))
items = [v.Artifact(f"k{i}", "photo", "o", bytes([i]) * 6000) for i in range(20)]
vault.seal_many(items, now=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
"""


def test_process_killed_mid_seal_leaves_no_row_pointing_at_garbage(vault: Vault, home: Home) -> None:
    import subprocess
    import sys

    vault.seal_many([Artifact("p0", "photo", "o0", blob(b"keep"))], now=NOW)
    before = rows(vault.conn)
    vault.conn.close()
    done = subprocess.run([sys.executable, "-c", CRASHING_SEAL, str(home.root)], capture_output=True, check=False)
    assert done.returncode == 9, done.stderr.decode()

    again, conn = home.vault()
    assert rows(conn) == before and again.open("p0") == blob(b"keep")
    assert len(home.packs()) >= 2  # the dead process's pack: ciphertext whose keys were never committed
    items = [Artifact(f"k{i}", "photo", "o", bytes([i]) * 6000) for i in range(20)]
    assert again.seal_many(items, now=NOW) == 20
    assert all(again.open(a.artifact_id) == a.plaintext for a in items)
    conn.close()


def test_legacy_one_file_objects_still_open_and_destroy(home: Home) -> None:
    """A warehouse sealed before pack files (ciphertext_sha256 column, one file per blob) is migrated."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from lastmile.vault import artifact_aad

    v, conn = home.vault()
    v.seal_many([Artifact("contact:o1", "recipient_contact", "o1", CONTACT)], now=NOW)
    conn.execute("ALTER TABLE vault_artifacts DROP COLUMN object_offset")
    conn.execute("ALTER TABLE vault_artifacts DROP COLUMN object_length")
    conn.execute("ALTER TABLE vault_artifacts ADD COLUMN ciphertext_sha256 VARCHAR")
    key, nonce, aad = os.urandom(32), os.urandom(12), artifact_aad("p1", "photo")
    ciphertext = AESGCM(key).encrypt(nonce, blob(b"legacy"), aad)
    version, wrapped = v.keys.wrap(key, aad)
    (home.vault_dir / "objects" / "ab").mkdir(parents=True)
    (home.vault_dir / "objects" / "ab" / "ab12.bin").write_bytes(ciphertext)
    conn.execute(
        "INSERT INTO vault_artifacts (artifact_id, artifact_kind, order_id, kek_version, wrapped_key, nonce, "
        "object_path, plaintext_size, ciphertext_sha256, created_at) VALUES ('p1', 'photo', 'o1', ?, ?, ?, "
        "'objects/ab/ab12.bin', ?, 'x', ?)",
        [version, wrapped, nonce, len(blob(b"legacy")), NOW],
    )
    conn.close()

    v, conn = home.vault()
    columns = {r[0] for r in conn.execute("DESCRIBE vault_artifacts").fetchall()}
    assert {"object_offset", "object_length"} <= columns and "ciphertext_sha256" not in columns
    assert v.open("p1") == blob(b"legacy") and v.open("contact:o1") == CONTACT
    v.destroy("p1", now=NOW, run_id="r")
    assert not (home.vault_dir / "objects" / "ab" / "ab12.bin").exists()
    with pytest.raises(VaultError, match="purged"):
        v.open("p1")
    conn.close()


# -- removing purged ciphertext from packs: holes, and zeros where holes are unsupported ---------------


def _data_extents(path: Path, start: int, end: int) -> list[tuple[int, int]]:
    """The allocated (data) segments of [start, end) of a file, by SEEK_DATA / SEEK_HOLE."""
    out = []
    fd = os.open(path, os.O_RDONLY)
    try:
        at = start
        while at < end:
            try:
                data = os.lseek(fd, at, os.SEEK_DATA)
            except OSError:  # ENXIO: no data after `at`
                break
            if data >= end:
                break
            hole = os.lseek(fd, data, os.SEEK_HOLE)
            out.append((data, min(hole, end)))
            at = hole
    finally:
        os.close(fd)
    return out


def test_destroyed_blobs_are_punched_out_of_the_pack(vault: Vault, home: Home) -> None:
    from lastmile.vault import holes

    if not holes.punching_supported(home.root):
        pytest.skip("this file system does not punch holes (the zeroing fallback is tested below)")
    size = 300_000
    items = [Artifact(f"p{i}", "photo", "o", blob(b"P%d-" % i, size)) for i in range(4)]
    vault.seal_many(items, now=NOW)
    (pack,) = home.packs()
    blocks_before = pack.stat().st_blocks
    size_before = pack.stat().st_size
    ranges = {a: range_of(vault, a) for a in ("p0", "p1", "p2", "p3")}
    assert vault.destroy_many(["p1", "p2"], now=NOW, run_id="r") == 2
    data = pack.read_bytes()
    assert pack.stat().st_size == size_before  # FALLOC_FL_KEEP_SIZE: no other range moves
    for gone in ("p1", "p2"):
        offset, length = ranges[gone]
        assert data[offset : offset + length] == bytes(length)  # the range reads back as zeros...
    lo = ranges["p1"][0]
    hi = ranges["p2"][0] + ranges["p2"][1]
    block = os.statvfs(pack).f_bsize
    inner = ((lo + block - 1) // block * block, hi // block * block)
    assert _data_extents(pack, *inner) == []  # ...because its whole blocks are a hole: no data on disk
    assert pack.stat().st_blocks * 512 <= blocks_before * 512 - (inner[1] - inner[0])
    assert vault.open("p0") == items[0].plaintext and vault.open("p3") == items[3].plaintext  # neighbours intact


def test_where_holes_are_unsupported_the_range_is_overwritten_with_zeros(
    vault: Vault, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lastmile.vault import holes

    calls: list[tuple[int, int]] = []

    def unsupported(fd: int, offset: int, length: int) -> None:
        calls.append((offset, length))
        raise OSError(95, "Operation not supported")  # EOPNOTSUPP, as ext3 or FAT answer fallocate

    size = 200_000
    items = [Artifact(f"p{i}", "photo", "o", blob(b"Z%d-" % i, size)) for i in range(3)]
    vault.seal_many(items, now=NOW)
    (pack,) = home.packs()
    blocks_before = pack.stat().st_blocks
    offset, length = range_of(vault, "p1")
    monkeypatch.setattr(holes, "punch_hole", unsupported)
    assert vault.destroy_many(["p1"], now=NOW, run_id="r") == 1
    assert calls == [(offset, length)]  # tried once, then zeros written
    assert pack.read_bytes()[offset : offset + length] == bytes(length)
    assert pack.stat().st_blocks == blocks_before  # overwritten in place: the blocks stay allocated
    assert vault.open("p0") == items[0].plaintext and vault.open("p2") == items[2].plaintext

    def failing(fd: int, offset: int, length: int) -> None:
        raise OSError(5, "Input/output error")  # any other error is not a reason to fall back

    monkeypatch.setattr(holes, "punch_hole", failing)
    with pytest.raises(OSError, match="Input/output error"):
        vault.destroy_many(["p2"], now=NOW, run_id="r")


def test_ranges_cleared_without_freeing_read_as_zeros_and_are_freed_by_a_second_clearing(
    vault: Vault, home: Home
) -> None:
    """`clear_ranges_of(free_space=False)` (a retention run's clearing): the ranges read as zeros at once and
    the neighbours open; where the file system has unwritten extents their blocks stay allocated until the
    same ranges are cleared with `free_space=True`, which punches them out."""
    from lastmile.vault import holes

    if not holes.punching_supported(home.root):
        pytest.skip("this file system does not punch holes (the zeroing fallback is tested below)")
    size = 300_000
    items = [Artifact(f"p{i}", "photo", "o", blob(b"Z%d-" % i, size)) for i in range(4)]
    vault.seal_many(items, now=NOW)
    (pack,) = home.packs()
    (rel,) = {str(r[0]) for r in vault.conn.execute("SELECT object_path FROM vault_artifacts").fetchall()}
    ranges = {a: range_of(vault, a) for a in ("p1", "p2")}
    blocks_before = pack.stat().st_blocks
    assert vault.destroy_many(["p1", "p2"], now=NOW, run_id="r", clear_ranges=False) == 2
    vault.clear_ranges_of([(rel, *ranges[a]) for a in ("p1", "p2")], free_space=False)
    data = pack.read_bytes()
    for offset, length in ranges.values():
        assert data[offset : offset + length] == bytes(length)
    assert vault.open("p0") == items[0].plaintext and vault.open("p3") == items[3].plaintext
    freed = (ranges["p2"][0] + ranges["p2"][1] - ranges["p1"][0]) // 4096 * 4096 - 4096
    if holes.zero_range_supported(home.root):
        assert pack.stat().st_blocks >= blocks_before  # read as zeros, the blocks still allocated
    vault.clear_ranges_of([(rel, *ranges[a]) for a in ("p1", "p2")])
    assert pack.stat().st_blocks * 512 <= blocks_before * 512 - freed  # now freed
    data = pack.read_bytes()
    for offset, length in ranges.values():
        assert data[offset : offset + length] == bytes(length)
    assert vault.open("p0") == items[0].plaintext and vault.open("p3") == items[3].plaintext


def test_adjacent_spans_are_merged_before_punching() -> None:
    from lastmile.vault.holes import merge_spans

    assert merge_spans([(30, 10), (0, 10), (10, 10), (50, 0), (45, 10), (40, 3)]) == [(0, 20), (30, 13), (45, 10)]
    assert merge_spans([(0, 10), (5, 10)]) == [(0, 15)]  # overlapping
    assert merge_spans([]) == []


def test_destroy_many_takes_an_arrow_column(vault: Vault) -> None:
    import pyarrow as pa

    vault.seal_many([Artifact(f"contact:o{i}", "recipient_contact", f"o{i}", CONTACT) for i in range(5)], now=NOW)
    ids = pa.chunked_array([["contact:o1", "contact:o3"], ["contact:o3", "nope"]])
    assert vault.destroy_many(ids, now=NOW, run_id="r") == 2
    assert vault.open("contact:o0") == CONTACT
    with pytest.raises(VaultError, match="purged"):
        vault.open("contact:o3")


def test_ranges_cleared_by_the_caller_and_packs_cleared_in_parallel(
    vault: Vault, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`destroy_many(clear_ranges=False)` leaves the ranges to the caller, who clears them with
    `clear_ranges_of` (as a retention run does from its intent); ranges in several packs are all cleared."""
    import lastmile.vault as vault_module

    monkeypatch.setattr(vault_module, "PACK_LIMIT", 450_000)  # two 200 kB blobs per pack: three packs
    items = [Artifact(f"p{i}", "photo", "o", blob(b"Q%d-" % i, 200_000)) for i in range(6)]
    vault.seal_many(items, now=NOW)
    assert len(home.packs()) == 3
    ranges = {a.artifact_id: range_of(vault, a.artifact_id) for a in items}
    paths = {
        a: str(p) for a, p in vault.conn.execute("SELECT artifact_id, object_path FROM vault_artifacts").fetchall()
    }
    doomed = ["p0", "p2", "p3", "p5"]
    assert vault.destroy_many(doomed, now=NOW, run_id="r", clear_ranges=False) == 4
    for a in doomed:  # key gone, ciphertext still there until the caller clears it
        offset, length = ranges[a]
        assert (home.vault_dir / paths[a]).read_bytes()[offset : offset + length] != bytes(length)
    vault.clear_ranges_of([(paths[a], *ranges[a]) for a in doomed])
    for a in doomed:
        offset, length = ranges[a]
        assert (home.vault_dir / paths[a]).read_bytes()[offset : offset + length] == bytes(length)
    assert vault.open("p1") == items[1].plaintext and vault.open("p4") == items[4].plaintext
