"""Crash injection for tests: `LASTMILE_CRASH_AT=<point>[:<n>]` makes the process exit at once (os._exit, no
cleanup, no rollback, like a kill) the n-th time (default: the first) it reaches `<point>`.

Points are named `<domain>.<moment>`: ingest.after_seal, ingest.after_file, ingest.before_checkpoint,
ingest.after_run, ingest.after_audit, publish.before_commit, publish.after_commit, check.after_record,
check.after_audit, kpi.after_compute, kpi.after_audit. Unset (the normal case), a point costs one dict lookup.
"""

import os
from collections import Counter

CRASH_ENV = "LASTMILE_CRASH_AT"
CRASH_EXIT = 87
_reached: Counter[str] = Counter()


def crash_point(name: str) -> None:
    """Exit the process here when LASTMILE_CRASH_AT names this point (and this is its n-th arrival)."""
    wanted = os.environ.get(CRASH_ENV)
    if not wanted:
        return
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    _reached[name] += 1
    if _reached[name] >= (int(nth) if nth.isdigit() else 1):
        os._exit(CRASH_EXIT)
