"""Data-quality check benchmark over about 10,000,000 events.

The warehouse is built once from a generated network that was ingested once (bench/out/work/home, made
by `python -m bench.ingest`): its orders, events, proofs and conflicts are copied --copies times, each
copy shifted by 14 days with its ids suffixed, so 10 copies of the ~1M-event network make ~10M events
over 140 days. Then, each in its own process:

  all checks     every CONTRACT §4 check over every partition plus the window checks (time, peak memory)
  day 1 / day N  the per-partition checks of one early and one late day (a daily run must not grow with
                 history: ratio day N / day 1, target within 1.3x)
  suite vs DuckDB the events suite over the same days through quality_checks.run_suite (its rules as
                 DuckDB SQL generated from the suite, with GE's result shape and the check history) and as
                 one hand-written DuckDB query

    python -m bench.checks [--copies 10] [--ge-days 14]
"""

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench import cache

OUT = Path(__file__).parent / "out"
SOURCE = OUT / "work" / "home" / "warehouse.duckdb"
SPAN_DAYS = 14


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def build(copies: int) -> Path:
    import duckdb

    from lastmile.warehouse import apply_schema, run_sql

    target = OUT / f"checks-x{copies}.duckdb"
    if cache.current(target, cache.INGESTED):
        return target
    cache.discard(target)
    if not cache.current(SOURCE, cache.INGESTED):
        sys.exit(f"no network ingested by today's code at {SOURCE}: run `python -m bench.ingest` first")
    started = time.perf_counter()
    tmp = target.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    shutil.copyfile(SOURCE, tmp)
    conn = duckdb.connect(str(tmp))
    run_sql(conn, "bench", "sql/replicate.sql", {"copies": copies, "span_days": SPAN_DAYS})
    apply_schema(conn)
    events = conn.execute("SELECT count(*) FROM events").fetchone()[0]  # type: ignore[index]
    conn.execute("CHECKPOINT")
    conn.close()
    tmp.rename(target)
    cache.stamp(target, cache.INGESTED)
    print(f"built {target.name}: {events:,} events in {time.perf_counter() - started:.1f} s")
    return target


def _connect(db: str):  # type: ignore[no-untyped-def]
    from lastmile.warehouse import connect

    return connect(db, "UTC")


def all_checks(db: str) -> dict[str, float]:
    from lastmile.settings import Settings
    from quality_checks import run_checks

    conn = _connect(db)
    now = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    started = time.perf_counter()
    results = run_checks(conn, Settings(), run_id="bench-all", now=now)
    seconds = time.perf_counter() - started
    events = conn.execute("SELECT count(*) FROM events").fetchone()[0]  # type: ignore[index]
    return {"seconds": seconds, "events": events, "failed": sum(r.failed for r in results),
            "checks": len(results)}  # fmt: skip


def one_day(db: str, which: str, copies: str) -> dict[str, float]:
    from lastmile.settings import Settings
    from quality_checks import CHECKS, data_dates, run_checks

    conn = _connect(db)
    dates = data_dates(conn)
    # the same day of the network in the first copy and in the last one (history grows in between)
    first = dates[1]
    last_copy = first + dt.timedelta(days=SPAN_DAYS * (int(copies) - 1))
    day = first if which == "first" else last_copy
    ids = [c.check_id for c in CHECKS if c.scope == "partition"]
    now = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    best = float("inf")
    for i in range(3):
        started = time.perf_counter()
        run_checks(conn, Settings(), run_id=f"bench-day-{which}-{i}", now=now, dates=[day], checks=ids)
        best = min(best, time.perf_counter() - started)
    rows = conn.execute("SELECT count(*) FROM events WHERE partition_date = ?", [day]).fetchone()[0]  # type: ignore[index]
    return {"seconds": best, "day_index": dates.index(day) + 1, "events": rows}


def ge_vs_duckdb(db: str, days: int) -> dict[str, float]:
    from lastmile.codes import STATUSES
    from lastmile.warehouse import run_sql
    from quality_checks import data_dates
    from quality_checks.expectations import load_suite, run_suite, suite_path

    conn = _connect(db)
    chosen = data_dates(conn)[1 : 1 + days]
    started = time.perf_counter()
    run_sql(conn, "bench", "sql/ge_rules.sql",
            {"statuses": list(STATUSES), "start": chosen[0], "end": chosen[-1]}).fetchall()  # fmt: skip
    duck = time.perf_counter() - started
    suite = load_suite(suite_path("events"))
    started = time.perf_counter()
    run_suite(conn, suite, chosen, run_id="bench-ge", now=dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    ge = time.perf_counter() - started
    rows = conn.execute(
        "SELECT count(*) FROM events WHERE partition_date BETWEEN ? AND ?", [chosen[0], chosen[-1]]
    ).fetchone()[0]  # type: ignore[index]
    return {"duckdb_seconds": duck, "ge_seconds": ge, "events": rows, "days": len(chosen)}


def _child(kind: str, db: str, arg: str) -> None:
    if kind == "all":
        figures = all_checks(db)
    elif kind.startswith("day"):
        figures = one_day(db, arg, kind.removeprefix("day"))
    else:
        figures = ge_vs_duckdb(db, int(arg))
    figures["peak_rss_mib"] = _peak_rss_mib()
    print(json.dumps(figures))


def _run(*args: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-m", "bench.checks", "--child", *args], check=True,
                         capture_output=True, text=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--ge-days", type=int, default=14)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    db = str(build(args.copies))
    every = _run("all", db, "-")
    print(
        f"all checks over {every['events']:,.0f} events: {every['seconds']:.2f} s, peak {every['peak_rss_mib']:.0f} MiB"
        f"  ({every['checks']:.0f} checks, {every['failed']:,.0f} findings; target < 20 s, < 3072 MiB)"
    )
    first, last = _run(f"day{args.copies}", db, "first"), _run(f"day{args.copies}", db, "last")
    print(
        f"one day's partition checks: day {first['day_index']:.0f} ({first['events']:,.0f} events) "
        f"{first['seconds']:.3f} s, day {last['day_index']:.0f} ({last['events']:,.0f} events) {last['seconds']:.3f} s"
        f"  ratio {last['seconds'] / first['seconds']:.2f}x (target <= 1.3x)"
    )
    ge = _run("ge", db, str(args.ge_days))
    print(
        f"events suite over {ge['days']:.0f} days ({ge['events']:,.0f} events): "
        f"run_suite (SQL path) {ge['ge_seconds']:.2f} s, hand-written DuckDB query {ge['duckdb_seconds']:.3f} s, "
        f"ratio {ge['ge_seconds'] / ge['duckdb_seconds']:.1f}x; peak {ge['peak_rss_mib']:.0f} MiB"
    )


if __name__ == "__main__":
    main()
