"""The whole path through the `lastmile` command: generate, ingest, check; then a scan of every file
under LASTMILE_HOME for personal data and image bytes in plaintext."""

import csv
from pathlib import Path

from click.testing import CliRunner

from pipelines.cli import cli


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), prog_name="lastmile")


def secrets_of(landing: Path) -> set[bytes]:
    """Every contact value in the landing orders, and a slice from the middle of every image."""
    found: set[bytes] = set()
    for path in (landing / "orders").glob("*.csv"):
        with path.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                for column in ("recipient_name", "recipient_phone", "recipient_email"):
                    value = (row.get(column) or "").strip()
                    if len(value) >= 8:
                        found.add(value.encode())
    found |= message_secrets_of(landing)
    for path in (landing / "blobs").rglob("*"):
        if path.is_file() and path.stat().st_size >= 200:
            data = path.read_bytes()
            middle = len(data) // 2
            found.add(data[middle : middle + 48])
    return found


def message_secrets_of(landing: Path) -> set[bytes]:
    """Every message body and every address of a message or consent record (CONTRACT §8), as written."""
    import polars as pl

    found: set[bytes] = set()
    for folder, columns in (("messages", ("address", "body")), ("consents", ("address",))):
        for path in sorted((landing / folder).rglob("*")):
            readers = {".csv": pl.read_csv, ".jsonl": pl.read_ndjson, ".parquet": pl.read_parquet}
            if path.suffix not in readers:
                continue
            frame = (
                readers[path.suffix](path, infer_schema_length=0)
                if path.suffix == ".csv"
                else readers[path.suffix](path)
            )
            for column in columns:
                for value in frame.get_column(column).cast(pl.String).drop_nulls().to_list():
                    if len(value.strip()) >= 8:
                        found.add(value.encode())
    return found


def test_no_plaintext_personal_data_or_image_bytes_under_home(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    landing = tmp_path / "landing"
    monkeypatch.setenv("LASTMILE_HOME", str(home))
    generated = run("generate", str(landing), "--days", "4", "--orders-per-day", "40", "--seed", "11")
    assert generated.exit_code == 0, generated.output
    ingested = run("ingest", str(landing))
    assert ingested.exit_code == 0, ingested.output
    checked = run("check")
    assert checked.exit_code in (0, 1), checked.output
    assert "event.orphan" in checked.output

    secrets = secrets_of(landing)
    assert len(secrets) > 100  # names, phones, e-mails and image slices
    assert len(message_secrets_of(landing)) > 50  # message bodies, message and consent addresses (CONTRACT §8)
    scanned = 0
    for path in home.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        scanned += 1
        leaked = [s for s in secrets if s in data]
        assert not leaked, f"{path} holds plaintext: {leaked[:3]!r}"
    assert scanned > 5
