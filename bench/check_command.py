"""`lastmile check` as users run it, against the same contract rules as bare hand-written DuckDB queries.

A fresh network (about 1,000,000 events at the defaults) is generated and ingested once with the command
itself (`lastmile generate` + `lastmile ingest`, into bench/out/check-cmd-*/home; kept for later runs).
Then, each in its own process and on its own copy of that home:

  floor    every contract rule as a hand-written DuckDB query, run bare over every partition (the check
           SQL files of quality_checks/sql, each wrapped in a count of failing rows, plus
           bench/sql/suite_rules.sql for the six expectation suites): the sum of their times
  command  `lastmile check` in a subprocess (Dagster runs, history, findings, audit trail, summary);
           the expectation suites' own time is read from the metadata of their asset checks

Prints both ratios: command / floor (target <= 5x) and suites / command (target <= 25%).

    python -m bench.check_command [--days 14] [--orders-per-day 11000] [--seed 1] [--repeat 2]
                                  [--without-partner-feeds]
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench import cache

OUT = Path(__file__).parent / "out"
LASTMILE = [sys.executable, "-m", "pipelines.cli"]


def _lastmile(home: Path, *args: str) -> float:
    """Run the command; its wall time. Its output is kept beside the home (and must not hold warnings)."""
    started = time.perf_counter()
    done = subprocess.run([*LASTMILE, "--home", str(home), *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "80"})  # fmt: skip
    seconds = time.perf_counter() - started
    (home.parent / f"{home.name}-{args[0]}.out").write_text(done.stdout + done.stderr, encoding="utf-8")
    if done.returncode not in (0, 1):  # 1: an error-severity check failed, which generated data does
        sys.exit(f"lastmile {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def prepare(days: int, per_day: int, seed: int, *, without_partners: bool = False) -> Path:
    work = OUT / (f"check-cmd-d{days}-o{per_day}-s{seed}" + ("-nopartners" if without_partners else ""))
    home = work / "home"
    if cache.current(work, cache.INGESTED):
        return work
    cache.discard(work)
    work.mkdir(parents=True)
    seconds = _lastmile(home, "generate", str(work / "landing"), "--days", str(days), "--orders-per-day",
                        str(per_day), "--seed", str(seed))  # fmt: skip
    print(f"lastmile generate: {seconds:.1f} s")
    if without_partners:  # held back beside the landing: not ingested
        (work / "landing" / "partners").rename(work / "partners-held-back")
    print(f"lastmile ingest:   {_lastmile(home, 'ingest', str(work / 'landing')):.1f} s")
    cache.stamp(work, cache.INGESTED)
    return work


def _fresh_home(work: Path, name: str) -> Path:
    target = work / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(work / "home", target, ignore=shutil.ignore_patterns("logs", "reports"))
    return target


def floor(home: str) -> dict[str, float]:
    from lastmile.codes import PROOF_KINDS, SERVICE_TYPES, STATUSES
    from lastmile.settings import load_settings
    from lastmile.warehouse import connect, run_sql, sql_text
    from quality_checks import CHECKS
    from quality_checks.runner import PKG, data_dates, default_as_of, ensure_schema

    settings = load_settings(Path(home), environ={})
    conn = connect(Path(home) / "warehouse.duckdb", settings.network_timezone)
    ensure_schema(conn)  # the macros the rule queries call
    days = data_dates(conn)
    as_of = default_as_of(conn)
    total = 0.0
    failing = 0
    for check in CHECKS:
        params = dict(check.params(settings))
        params.update(start=days[0], end=days[-1], as_of=as_of)
        query = "SELECT count_if(failed) FROM (" + sql_text(PKG, check.sql_file).strip().rstrip(";") + ")"
        from lastmile.warehouse import PARAM

        used = {k: params[k] for k in dict.fromkeys(PARAM.findall(query))}
        started = time.perf_counter()
        failing += int(conn.execute(query, used or None).fetchone()[0] or 0)  # type: ignore[index]
        total += time.perf_counter() - started
    started = time.perf_counter()
    run_sql(
        conn,
        "bench",
        "sql/suite_rules.sql",
        {"statuses": list(STATUSES), "service_types": list(SERVICE_TYPES), "proof_kinds": list(PROOF_KINDS)},
    )
    suites = time.perf_counter() - started  # fmt: skip
    events = conn.execute("SELECT count(*) FROM events").fetchone()[0]  # type: ignore[index]
    return {"seconds": total + suites, "checks_seconds": total, "suites_seconds": suites, "rules": len(CHECKS) + 6,
            "failing": failing, "events": events, "days": len(days)}  # fmt: skip


def command(home: Path) -> dict[str, float]:
    import dagster as dg

    seconds = _lastmile(home, "check")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    suites = checks = 0.0
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        for run in instance.get_runs():
            for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
                evaluation = record.dagster_event.event_specific_data  # type: ignore[union-attr]
                entry = evaluation.metadata.get("seconds")  # type: ignore[union-attr]
                value = float(getattr(entry, "value", 0.0) or 0.0)
                if evaluation.check_name.startswith("expectations__"):  # type: ignore[union-attr]
                    suites += value
                else:
                    checks += value
    output = (home.parent / f"{home.name}-check.out").read_text(encoding="utf-8")
    return {"seconds": seconds, "suites_seconds": suites, "checks_seconds": checks, "peak_rss_mib": peak,
            "warnings_printed": sum(1 for line in output.splitlines() if "Warning" in line)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--orders-per-day", type=int, default=11000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each, alternating; the best is kept")
    parser.add_argument(
        "--without-partner-feeds",
        action="store_true",
        help="hold the landing's partner feeds back from the ingest (their ingest is slow, issue 11)",
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, home = args.child
        print(json.dumps(floor(home) if kind == "floor" else command(Path(home))))
        return
    work = prepare(args.days, args.orders_per_day, args.seed, without_partners=args.without_partner_feeds)
    best: dict[str, dict[str, float]] = {}
    for _ in range(args.repeat):
        for kind in ("floor", "command"):
            home = _fresh_home(work, f"run-{kind}")
            done = subprocess.run([sys.executable, "-m", "bench.check_command", "--child", kind, str(home)],
                                  check=True, capture_output=True, text=True)  # fmt: skip
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            if kind not in best or figures["seconds"] < best[kind]["seconds"]:
                best[kind] = figures
    f, c = best["floor"], best["command"]
    print(f"network: {f['events']:,.0f} events over {f['days']:.0f} days ({work})")
    print(
        f"floor, {f['rules']:.0f} contract rules as bare DuckDB queries: {f['seconds']:.2f} s "
        f"(checks {f['checks_seconds']:.2f} s, suite rules {f['suites_seconds']:.2f} s)"
    )
    print(
        f"lastmile check (subprocess): {c['seconds']:.2f} s, peak {c['peak_rss_mib']:.0f} MiB "
        f"(suites {c['suites_seconds']:.2f} s, checks {c['checks_seconds']:.2f} s inside it; "
        f"warning lines printed: {c['warnings_printed']:.0f})"
    )
    print(f"ratio command / floor: {c['seconds'] / f['seconds']:.2f}x (target <= 5x)")
    print(f"suites share of the command: {c['suites_seconds'] / c['seconds']:.0%} (target <= 25%)")


if __name__ == "__main__":
    main()
