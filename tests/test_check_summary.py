"""`lastmile check` as a user sees it in an 80-column terminal or a pipe: a readable summary, no library noise."""

import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from lastmile.warehouse import connect
from quality_checks.expectations import _quiet
from tests.cli_kit import build_home


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    root = build_home(tmp_path_factory.mktemp("summary"), check=False)
    home = root / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LASTMILE_") and k != "DAGSTER_HOME"}
    env.update(COLUMNS="80", LASTMILE_HOME=str(home), PYTHONWARNINGS="default")
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "check"], capture_output=True, text=True, env=env,
                          cwd=Path(__file__).parent.parent)  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    return home, done


def test_summary_fits_80_columns_and_names_each_failing_checks_offenders(checked) -> None:  # type: ignore[no-untyped-def]
    home, done = checked
    lines = done.stdout.splitlines()
    assert lines and all(len(line) <= 80 for line in lines), max(lines, key=len)
    conn = connect(home / "warehouse.duckdb", read_only=True)
    try:
        latest = dict(conn.execute(
            "SELECT check_id, min(entity_id) FROM dq_findings WHERE (check_id, partition_date) IN "
            "(SELECT check_id, max(partition_date) FROM dq_findings GROUP BY check_id) GROUP BY check_id"
        ).fetchall())  # fmt: skip
    finally:
        conn.close()
    assert len(latest) >= 5, "the generated network should fail several checks"
    offenders = {line.split(":", 1)[0].strip(): line for line in lines if line.startswith("  ")}
    for check_id, entity in latest.items():
        assert check_id in offenders, check_id
        shown = offenders[check_id].split(": ", 1)[1]
        # the worst offender (latest partition, then id) opens the line, cut with an ellipsis if it is long
        assert entity.startswith(shown.rstrip("…").split(", ")[0]), (check_id, entity, shown)
    # one line per check in the table: no wrapped cells
    table_rows = [line for line in lines if line.startswith("│")]
    assert len(table_rows) == len({line.split("│")[1].strip() for line in table_rows})


def test_the_command_prints_no_library_warnings(checked) -> None:  # type: ignore[no-untyped-def]
    home, done = checked
    for text in (done.stdout, done.stderr):
        assert "Warning" not in text and "warnings.warn" not in text and "great_expectations" not in text, text
    assert (home / "logs" / "lastmile.log").is_file()


def test_warnings_inside_great_expectations_go_to_the_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="quality_checks.expectations"), _quiet():
        warnings.warn("This pattern is interpreted as a regular expression, and has match groups.", UserWarning,
                      stacklevel=1)  # fmt: skip
        warnings.warn("old API", DeprecationWarning, stacklevel=1)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "has match groups" in messages[0]
