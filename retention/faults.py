"""Crash injection for tests: `LASTMILE_RETENTION_CRASH_AT=<point>` makes the process exit at once
(os._exit, no cleanup, like a kill) when a retention run reaches that point. Points: after_intent,
after_key_destroy, after_blob_delete, after_kek_mark, mid_certificate, mid_reclaim (space being freed after
the run finished)."""

import os

CRASH_ENV = "LASTMILE_RETENTION_CRASH_AT"
CRASH_EXIT = 86


def crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os._exit(CRASH_EXIT)


def crash_requested(name: str) -> bool:
    return os.environ.get(CRASH_ENV) == name
