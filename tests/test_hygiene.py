"""Tests touch nothing outside their own temporary folders.

A test that copies a file to a fixed place (a folder under /tmp, the home folder) passes only on the
machine where that place exists, and leaves files behind everywhere else. This scans the test sources
(and their helper modules) for such places: absolute paths under the temporary or home folders as string
literals, and the calls that name those folders. A test's files belong under `tmp_path` or
`tmp_path_factory`.
"""

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
# Spelled from parts so that a plain text search for such paths does not flag this list itself.
FORBIDDEN_PREFIXES = tuple("/" + p for p in ("tmp", "var/tmp", "dev/shm", "root", "home/"))
FORBIDDEN_CALLS = {
    ("tempfile", "gettempdir"),
    ("tempfile", "mkdtemp"),
    ("tempfile", "mkstemp"),
    ("tempfile", "NamedTemporaryFile"),
    ("tempfile", "TemporaryDirectory"),
    ("Path", "home"),
    ("path", "expanduser"),
    ("Path", "expanduser"),
}


def outside_paths(source: str) -> list[tuple[int, str]]:
    """(line, what) for every string literal or call in `source` that names a place outside tmp_path."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.strip()
            home_relative = text == "~" or text.startswith("~/")
            if home_relative or any(text == p.rstrip("/") or text.startswith(p) for p in FORBIDDEN_PREFIXES):
                found.append((node.lineno, repr(node.value)))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
            if (owner_name, node.func.attr) in FORBIDDEN_CALLS:
                found.append((node.lineno, f"{owner_name}.{node.func.attr}()"))
    return found


def test_the_scan_finds_what_it_looks_for() -> None:
    tmp = "/" + "tmp"  # spelled apart so that this file does not name the place it forbids
    source = (
        'import shutil, tempfile\nfrom pathlib import Path\n'
        f'shutil.copy("a", "{tmp}/rt/shot.png")\n'
        f'shutil.copy("a", Path("{tmp}") / "shot.png")\n'
        'x = tempfile.gettempdir()\n'
        'y = Path.home() / "out"\n'
        'z = "~/report.html"\n'
        'ok = "tmp_path is fine; so is /api/tmp in a URL"\n'
    )  # fmt: skip
    assert sorted(line for line, _ in outside_paths(source)) == [3, 4, 5, 6, 7]


@pytest.mark.parametrize("path", sorted(p for p in TESTS.glob("*.py") if p.name != Path(__file__).name), ids=str)
def test_no_test_names_a_place_outside_its_temporary_folders(path: Path) -> None:
    found = outside_paths(path.read_text(encoding="utf-8"))
    assert not found, f"{path.name} writes outside tmp_path: " + ", ".join(f"line {n}: {w}" for n, w in found)
