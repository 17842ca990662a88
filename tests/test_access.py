"""Roles from LASTMILE_HOME/access.yaml: who may open proofs and trace orders; malformed files name the line."""

from pathlib import Path

import pytest

from lastmile.access import AccessDenied, AccessFileError, access_path, load_access, parse_access
from lastmile.actor import current_actor

GOOD = """\
# who may do what
auditor:
  - alice
compliance_officer: [bob, alice]
ops_viewer:
  - carol
"""


def write(root: Path, text: str, mode: int = 0o644) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = access_path(root)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_roles_and_permissions(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    access = load_access(tmp_path)
    assert access.present
    assert access.roles_of("alice") == {"auditor", "compliance_officer"}
    assert access.roles_of("bob") == {"compliance_officer"}
    assert access.roles_of("carol") == {"ops_viewer"}
    assert access.roles_of("mallory") == frozenset()
    assert access.allows("alice", "proof.open") and access.allows("bob", "proof.open")
    assert not access.allows("carol", "proof.open")
    assert all(access.allows(who, "audit.trace") for who in ("alice", "bob", "carol"))
    assert not access.allows("mallory", "audit.trace")
    assert access.require("bob", "proof.open") == {"compliance_officer"}


def test_refusals_say_why(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    access = load_access(tmp_path)
    assert access.refusal("carol", "proof.open") == (
        f"carol is ops_viewer in {path}; proof.open needs auditor or compliance_officer"
    )
    assert access.refusal("mallory", "proof.open") == (
        f"mallory holds no role in {path}; proof.open needs auditor or compliance_officer"
    )
    with pytest.raises(AccessDenied, match="carol is ops_viewer"):
        access.require("carol", "proof.open")


def test_no_access_file_refuses_everyone_with_a_hint(tmp_path: Path) -> None:
    access = load_access(tmp_path)
    assert not access.present
    reason = access.refusal("alice", "proof.open")
    assert reason == (
        f"no access file {tmp_path / 'access.yaml'}: nobody may proof.open until one names them; "
        "create it with e.g. `auditor: [alice]`"
    )
    assert not access.allows("alice", "audit.trace")
    assert not (tmp_path / "access.yaml").exists()  # nothing is granted or created implicitly


def test_an_empty_file_grants_nothing(tmp_path: Path) -> None:
    write(tmp_path, "# nobody yet\nauditor:\n")
    access = load_access(tmp_path)
    assert access.present and not access.allows("alice", "audit.trace")


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("auditor:\n  - alice\nauditors:\n  - bob\n", 3, "unknown role 'auditors'"),
        ("auditor: alice\n", 1, "role 'auditor' must list names"),
        ("auditor:\n  - alice\n  - [bob]\n", 3, "each entry must be a non-empty name"),
        ("auditor:\n  - alice\n  - ''\n", 3, "each entry must be a non-empty name"),
        ("auditor:\n  - 42\n", 2, "each entry must be a non-empty name"),
        ("auditor: [alice]\nops_viewer: [carol]\nauditor: [bob]\n", 3, "role 'auditor' appears twice"),
        ("auditor: [alice\nops_viewer: [carol]\n", 2, "not valid YAML"),
        ("- alice\n- bob\n", 1, "expected a mapping of roles"),
        ("auditor:\n  - alice\n\tops_viewer: []\n", 3, "not valid YAML"),
    ],
)
def test_a_malformed_file_is_one_line_naming_the_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(AccessFileError) as info:
        load_access(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{path}, line {line}: "), message
    assert fragment in message
    assert "\n" not in message


def test_a_file_others_may_write_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, mode=0o666)
    with pytest.raises(AccessFileError, match=r"may be written by other users \(mode 0666\); run: chmod 644"):
        load_access(tmp_path)
    path.chmod(0o640)
    assert load_access(tmp_path).allows("alice", "proof.open")


def test_names_match_exactly(tmp_path: Path) -> None:
    write(tmp_path, "auditor: [Alice]\n")
    access = load_access(tmp_path)
    assert access.allows("Alice", "proof.open") and not access.allows("alice", "proof.open")
    with pytest.raises(AccessFileError, match="line 1: role 'auditor': name ' bob' has surrounding spaces"):
        parse_access("auditor: [' bob']\n", tmp_path / "access.yaml")


def test_the_actor_comes_from_lastmile_actor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LASTMILE_ACTOR", "svc-audit")
    assert current_actor() == "svc-audit"
    assert current_actor({"LASTMILE_ACTOR": "  "}) not in ("", "  ")
