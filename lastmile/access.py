"""Who may do what: roles from the access file LASTMILE_HOME/access.yaml.

    # LASTMILE_HOME/access.yaml
    auditor:
      - alice
    compliance_officer:
      - bob
    ops_viewer:
      - carol

The actor is `lastmile.actor.current_actor()` (LASTMILE_ACTOR, else the operating-system user), matched
exactly. A name may hold several roles. Safe by default: with no access file nobody holds a role, so
every role-gated action is refused with a one-line hint naming the file to create; nothing is ever
granted implicitly. A malformed file, or one that other users may write, is a one-line error naming the
line (or the mode), never a silent fallback.
"""

import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lastmile.errors import LastmileError

ACCESS_FILE = "access.yaml"
ROLES = ("auditor", "compliance_officer", "ops_viewer")

# permission -> the roles that hold it
PERMISSIONS: Mapping[str, frozenset[str]] = {
    "proof.open": frozenset({"auditor", "compliance_officer"}),
    "audit.trace": frozenset({"auditor", "compliance_officer", "ops_viewer"}),
}


class AccessFileError(LastmileError):
    """The access file is malformed or unsafe; the message names the file and the line."""


class AccessDenied(LastmileError):
    """The actor does not hold a role that grants the permission."""


@dataclass(frozen=True)
class Access:
    """The roles of every named actor, as read from the access file (`present` False when there is none)."""

    path: Path
    present: bool
    roles: Mapping[str, frozenset[str]] = field(default_factory=dict)  # actor -> roles

    def roles_of(self, actor: str) -> frozenset[str]:
        return self.roles.get(actor, frozenset())

    def allows(self, actor: str, permission: str) -> bool:
        return bool(self.roles_of(actor) & PERMISSIONS[permission])

    def refusal(self, actor: str, permission: str) -> str | None:
        """None when `actor` may do `permission`, else the one-line reason for refusing."""
        needed = " or ".join(sorted(PERMISSIONS[permission]))
        if not self.present:
            return (
                f"no access file {self.path}: nobody may {permission} until one names them; "
                f"create it with e.g. `{sorted(PERMISSIONS[permission])[0]}: [{actor}]`"
            )
        held = self.roles_of(actor)
        if self.allows(actor, permission):
            return None
        what = f"is {', '.join(sorted(held))}" if held else "holds no role"
        return f"{actor} {what} in {self.path}; {permission} needs {needed}"

    def require(self, actor: str, permission: str) -> frozenset[str]:
        """The actor's roles, or `AccessDenied` with the reason."""
        reason = self.refusal(actor, permission)
        if reason is not None:
            raise AccessDenied(reason)
        return self.roles_of(actor)


def access_path(home_root: Path) -> Path:
    return Path(home_root) / ACCESS_FILE


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def parse_access(text: str, path: Path) -> Access:
    """Parse the text of an access file; `AccessFileError` naming the line of the first problem."""

    def fail(line: int, message: str) -> AccessFileError:
        return AccessFileError(f"{path}, line {line}: {message}")

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise fail(line, f"not valid YAML ({exc.problem or exc.context})") from None
    except yaml.YAMLError as exc:
        raise AccessFileError(f"{path}: not valid YAML ({exc})") from None
    roles: dict[str, set[str]] = {}
    if root is None:
        return Access(path, True, {})
    if not isinstance(root, yaml.MappingNode):
        raise fail(_line(root), f"expected a mapping of roles ({', '.join(ROLES)}) to lists of names")
    seen: set[str] = set()
    for key, value in root.value:
        if not isinstance(key, yaml.ScalarNode) or key.value not in ROLES:
            shown = key.value if isinstance(key, yaml.ScalarNode) else "a non-text key"
            raise fail(_line(key), f"unknown role {shown!r}; roles are {', '.join(ROLES)}")
        role = str(key.value)
        if role in seen:
            raise fail(_line(key), f"role {role!r} appears twice")
        seen.add(role)
        if isinstance(value, yaml.ScalarNode) and value.tag == "tag:yaml.org,2002:null":
            continue  # `ops_viewer:` with nobody listed
        if not isinstance(value, yaml.SequenceNode):
            raise fail(_line(value), f"role {role!r} must list names (e.g. `{role}: [alice, bob]`)")
        for item in value.value:
            if not isinstance(item, yaml.ScalarNode) or item.tag != "tag:yaml.org,2002:str" or not item.value.strip():
                raise fail(_line(item), f"role {role!r}: each entry must be a non-empty name")
            if item.value != item.value.strip():
                raise fail(_line(item), f"role {role!r}: name {item.value!r} has surrounding spaces")
            roles.setdefault(item.value, set()).add(role)
    return Access(path, True, {actor: frozenset(r) for actor, r in roles.items()})


def load_access(home_root: Path) -> Access:
    """The access file of LASTMILE_HOME (an `Access` with `present=False` if there is none)."""
    path = access_path(home_root)
    try:
        info = path.stat()
    except FileNotFoundError:
        return Access(path, False, {})
    if not stat.S_ISREG(info.st_mode):
        raise AccessFileError(f"{path} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o022:
        raise AccessFileError(f"{path} may be written by other users (mode {mode:04o}); run: chmod 644 {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise AccessFileError(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise AccessFileError(f"cannot read {path}: {exc.strerror}") from None
    return parse_access(text, path)
