"""Who is acting: the name recorded in the audit trail and checked against the access file."""

import getpass
import os
from collections.abc import Mapping

ACTOR_ENV = "LASTMILE_ACTOR"


def current_actor(environ: Mapping[str, str] | None = None) -> str:
    """`LASTMILE_ACTOR` if set (a service account, a CI job), else the operating-system user."""
    env = os.environ if environ is None else environ
    name = env.get(ACTOR_ENV, "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
