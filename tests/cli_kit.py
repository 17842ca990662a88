"""Running the `lastmile` command in-process, as users do, and reading its one-line errors."""

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pipelines.cli import cli


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), prog_name="lastmile")


def lm(home: Path, *args: str) -> Result:
    return run("--home", str(home), *args)


def one_line_error(result: Result, *fragments: str, code: int = 1) -> str:
    """Assert `result` failed with exit `code` and one `lastmile: error:` line holding every fragment."""
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("lastmile: error: "), lines[0]
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def use_home(root: Path, monkeypatch: pytest.MonkeyPatch, *, actor: str | None = None) -> Path:
    """Point LASTMILE_HOME and DAGSTER_HOME at `root` (monkeypatch restores them); no other LASTMILE_*."""
    for name in list(os.environ):
        if name.startswith("LASTMILE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LASTMILE_HOME", str(root))
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster"))
    if actor is not None:
        monkeypatch.setenv("LASTMILE_ACTOR", actor)
    return root


def copy_home(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, actor: str = "alice") -> Path:
    """This test's own copy of a home built once per module under `template/home`."""
    root = tmp_path / "home"
    shutil.copytree(template / "home", root)
    return use_home(root, monkeypatch, actor=actor)


def build_home(root: Path, *, check: bool) -> Path:
    """Generate a small network into root/landing and ingest it (and run the checks) into root/home."""
    saved = dict(os.environ)
    try:
        home = root / "home"
        os.environ["LASTMILE_HOME"] = str(home)
        os.environ["DAGSTER_HOME"] = str(home / "dagster")
        os.environ.pop("LASTMILE_ACTOR", None)
        generated = run("--home", str(home), "generate", str(root / "landing"), "--days", "2",
                        "--orders-per-day", "24", "--seed", "3")  # fmt: skip
        assert generated.exit_code == 0, generated.output
        ingested = run("--home", str(home), "ingest", str(root / "landing"))
        assert ingested.exit_code == 0, ingested.output
        if check:
            checked = run("--home", str(home), "check")
            assert checked.exit_code in (0, 1), checked.output
        return root
    finally:
        os.environ.clear()
        os.environ.update(saved)
