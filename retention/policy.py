"""The retention policy: a versioned YAML file (retention/policy.yaml by default, or the setting
`retention_policy_file`). A malformed policy is refused with the line at fault."""

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from lastmile.errors import LastmileError

KINDS = ("signature", "photo", "id_check", "recipient_contact", "quarantined_record")
# Optional kinds beyond the contract's five: a partner feed file kept encrypted (lastmile.partners), counted
# from its ingest like a quarantined record, and kept as long as one unless the policy names it.
OPTIONAL = {"partner_payload": "quarantined_record"}
# Kinds of CONTRACT §8 (lastmile.messages) with their contract defaults, used when a policy file predating them
# does not name them: a message body (the order's clock) and a consent record's address (its own `at`).
DEFAULT_DAYS = {"message_body": 90, "consent_record": 2190}
SHIPPED = "policy.yaml"


class PolicyError(LastmileError):
    """The retention policy file is malformed; the message names the file and line."""


@dataclass(frozen=True)
class Policy:
    version: str
    retention_days: dict[str, int]
    sha256: str  # hex digest of the file's bytes
    source: str

    @property
    def hash(self) -> str:
        return f"sha256:{self.sha256}"

    def params(self) -> dict[str, int]:
        """The policy as SQL parameters ($days_signature, ...)."""
        return {f"days_{kind}": days for kind, days in self.retention_days.items()}


def shipped_policy_path() -> Path:
    return Path(str(resources.files("retention").joinpath(SHIPPED)))


def policy_path(setting: str, home_root: Path | None = None) -> Path:
    """The policy file named by the setting (relative to LASTMILE_HOME), or the shipped one."""
    if not setting:
        return shipped_policy_path()
    path = Path(setting).expanduser()
    if not path.is_absolute() and home_root is not None:
        path = home_root / path
    return path


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def parse_policy(text: str, source: str, digest: str) -> Policy:
    where = source
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise PolicyError(f"retention policy {where}{line}: {problem}") from None
    if not isinstance(root, yaml.MappingNode):
        line = f" line {_line(root)}" if root is not None else ""
        raise PolicyError(f"retention policy {where}{line}: expected a mapping with version and retention_days")
    version: str | None = None
    days: dict[str, int] = {}
    days_node: yaml.Node | None = None
    seen: set[str] = set()
    for key_node, value_node in root.value:
        key = key_node.value
        if key in seen:
            raise PolicyError(f"retention policy {where} line {_line(key_node)}: {key!r} appears twice")
        seen.add(key)
        if key == "version":
            if not isinstance(value_node, yaml.ScalarNode) or not str(value_node.value).strip():
                raise PolicyError(
                    f"retention policy {where} line {_line(value_node)}: version must be a non-empty value"
                )
            version = str(value_node.value).strip()
        elif key == "retention_days":
            days_node = value_node
            if not isinstance(value_node, yaml.MappingNode):
                raise PolicyError(
                    f"retention policy {where} line {_line(value_node)}: retention_days must map each kind to days"
                )
            for kind_node, n_node in value_node.value:
                kind = kind_node.value
                if kind not in KINDS and kind not in OPTIONAL and kind not in DEFAULT_DAYS:
                    raise PolicyError(
                        f"retention policy {where} line {_line(kind_node)}: unknown artifact kind {kind!r} "
                        f"(known: {', '.join([*KINDS, *OPTIONAL, *DEFAULT_DAYS])})"
                    )
                if kind in days:
                    raise PolicyError(f"retention policy {where} line {_line(kind_node)}: {kind!r} appears twice")
                value: Any = yaml.safe_load(yaml.serialize(n_node)) if isinstance(n_node, yaml.ScalarNode) else None
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise PolicyError(
                        f"retention policy {where} line {_line(n_node)}: {kind} must be a whole number of days "
                        f"(0 or more), not {getattr(n_node, 'value', '?')!r}"
                    )
                days[kind] = value
        else:
            raise PolicyError(
                f"retention policy {where} line {_line(key_node)}: unknown key {key!r} "
                "(expected version, retention_days)"
            )
    if version is None:
        raise PolicyError(f"retention policy {where} line {_line(root)}: version is missing")
    if days_node is None:
        raise PolicyError(f"retention policy {where} line {_line(root)}: retention_days is missing")
    missing = [k for k in KINDS if k not in days]
    if missing:
        raise PolicyError(
            f"retention policy {where} line {_line(days_node)}: retention_days lacks {', '.join(missing)}"
        )
    resolved = {k: days[k] for k in KINDS}
    resolved.update({k: days.get(k, days[like]) for k, like in OPTIONAL.items()})
    resolved.update({k: days.get(k, default) for k, default in DEFAULT_DAYS.items()})
    return Policy(version, resolved, digest, source)


def load_policy(path: Path) -> Policy:
    """Read and validate a policy file; `PolicyError` (one line naming the line at fault) if malformed."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"retention policy {path}: cannot be read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError(f"retention policy {path}: not UTF-8 text") from None
    return parse_policy(text, str(path), hashlib.sha256(raw).hexdigest())
