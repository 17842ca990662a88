"""KEK rotation, rewrap without decrypting, retire refusals; through the functions and the CLI."""

import datetime as dt

import pytest
from click.testing import CliRunner

from lastmile.vault import Artifact
from pipelines.cli import cli
from retention.keys import KeyManagementError, retire, rewrap, rotate, status

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def test_rotate_rewrap_retire(vault, warehouse, home, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    vault.seal_many(
        [Artifact("P1", "photo", "O1", b"old photo"), Artifact("contact:O1", "recipient_contact", "O1", b"{}")], now=NOW
    )
    assert vault.keys.current_version() == 1
    v2 = rotate(vault, now=NOW)
    assert v2 == 2 and vault.keys.current_version() == 2
    vault.seal_many([Artifact("P2", "photo", "O2", b"new photo")], now=NOW)
    versions = dict(warehouse.execute("SELECT artifact_id, kek_version FROM vault_artifacts").fetchall())
    assert versions == {"P1": 1, "contact:O1": 1, "P2": 2}
    assert vault.open("P1") == b"old photo" and vault.open("P2") == b"new photo"  # rotated, not rewrapped
    with pytest.raises(KeyManagementError, match="still wraps 2 live data key"):
        retire(vault, 1, now=NOW, by="t")
    with pytest.raises(KeyManagementError, match="current key"):
        retire(vault, 2, now=NOW, by="t")
    ciphertext = warehouse.execute("SELECT ciphertext FROM vault_artifacts WHERE artifact_id = 'contact:O1'").fetchone()
    packs = {p: p.read_bytes() for p in (home.vault_dir / "packs").iterdir()}
    assert rewrap(vault) == 2
    assert set(dict(warehouse.execute("SELECT artifact_id, kek_version FROM vault_artifacts").fetchall()).values()) == {
        2
    }
    assert (
        warehouse.execute("SELECT ciphertext FROM vault_artifacts WHERE artifact_id = 'contact:O1'").fetchone()
        == ciphertext
    )
    assert {p: p.read_bytes() for p in (home.vault_dir / "packs").iterdir()} == packs  # no ciphertext touched
    retire(vault, 1, now=NOW, by="t")
    assert not (home.keys_dir / "kek-v1.key").exists()
    assert vault.open("P1") == b"old photo" and vault.open("contact:O1") == b"{}"
    states = {s.version: s.state for s in status(vault)}
    assert states == {1: "destroyed", 2: "current"}
    with pytest.raises(KeyManagementError, match="already retired"):
        retire(vault, 1, now=NOW, by="t")
    with pytest.raises(KeyManagementError, match="not known"):
        retire(vault, 7, now=NOW, by="t")


def test_env_key_cannot_be_rotated(home, warehouse, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import base64
    import os

    from lastmile.vault import Vault
    from lastmile.vault.keyring import open_keyring

    vault = Vault(
        warehouse,
        home.vault_dir,
        open_keyring(home.keys_dir, {"LASTMILE_KEK": base64.b64encode(os.urandom(32)).decode()}),
    )
    with pytest.raises(KeyManagementError, match="LASTMILE_KEK"):
        rotate(vault, now=NOW)


def test_keys_cli(home) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    home_args = ["--home", str(home.root)]
    result = runner.invoke(cli, [*home_args, "keys", "rotate"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "New KEK version 2" in result.output
    result = runner.invoke(cli, [*home_args, "keys", "status"], env={"COLUMNS": "200"})
    assert "current" in result.output and "intake" in result.output
    result = runner.invoke(cli, [*home_args, "keys", "rewrap"])
    assert "Rewrapped 0 data key(s) to KEK version 2" in result.output
    result = runner.invoke(cli, [*home_args, "keys", "retire", "1"])
    assert result.exit_code == 0 and "retired" in result.output
    result = runner.invoke(cli, [*home_args, "keys", "retire", "2"])
    assert result.exit_code == 1 and "lastmile: error: KEK version 2 is the current key" in result.output
    for verb in ("status", "rotate", "rewrap", "retire"):
        assert runner.invoke(cli, ["keys", verb, "--help"]).exit_code == 0
