"""KPI and weekly-report benchmark: one week's KPIs (with its 8-week trend) and its report over a large warehouse.

The warehouse is, in order of preference: --warehouse PATH; bench/out/checks-x10.duckdb (about 10,000,000
events, built by `python -m bench.checks`); else a network generated here with --days/--orders-per-day/--seed
and ingested (generating 10M events takes ~15 min, so the default generated size is small). The warehouse
is copied first, so the source is never changed.

Timed, in one process, against a baseline measured in the same run (one DuckDB scan-and-group of every
event by order, the floor of any per-order KPI):

  kpis     compute_kpis for the week and the 7 before it (what the kpi_weekly asset does)
  report   build_kpi_report for the week (HTML + CSV)

Targets: kpis + report under 30 s, report under 5 MiB.

    python -m bench.kpi [--warehouse PATH] [--week YYYY-Www] [--days 14 --orders-per-day 2000 --seed 1]
"""

import argparse
import datetime as dt
import shutil
import sys
import time
from pathlib import Path

from bench import cache

OUT = Path(__file__).parent / "out"
DEFAULT_SOURCE = OUT / "checks-x10.duckdb"
NOW = dt.datetime(2027, 1, 4, 6, 0, tzinfo=dt.UTC)
MIB = 1024 * 1024


def generated(days: int, orders_per_day: int, seed: int) -> Path:
    """Generate and ingest a network once (cached under bench/out); returns its warehouse."""
    from lastmile.generator import generate
    from lastmile.ingest import ingest_landing, publish_partitions
    from lastmile.settings import Home, Settings
    from lastmile.vault import Vault
    from lastmile.vault.keyring import open_keyring
    from lastmile.warehouse import connect

    home = Home(OUT / f"kpi-home-d{days}-o{orders_per_day}-s{seed}")
    if cache.current(home.root, cache.INGESTED):
        return home.warehouse
    cache.discard(home.root)
    landing = OUT / f"kpi-landing-d{days}-o{orders_per_day}-s{seed}"
    started = time.perf_counter()
    if not cache.current(landing, cache.GENERATOR):
        cache.discard(landing)
        generate(landing, days=days, orders_per_day=orders_per_day, seed=seed)
        cache.stamp(landing, cache.GENERATOR)
    home.ensure()
    conn = connect(home.warehouse, "UTC")
    vault = Vault(conn, home.vault_dir, open_keyring(home.keys_dir, environ={}))
    result = ingest_landing(conn, landing, vault=vault, settings=Settings(), run_id="bench", now=NOW)
    span = result.touched_range()
    if span:
        for table in ("orders", "events", "proofs"):
            publish_partitions(conn, table, span[0], span[1], now=NOW)
    conn.close()
    cache.stamp(home.root, cache.INGESTED)
    print(f"generated and ingested {landing.name} in {time.perf_counter() - started:.0f} s")
    return home.warehouse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", type=Path, default=None)
    parser.add_argument("--week", default=None, help="ISO week; default the latest complete week with data")
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--orders-per-day", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from lastmile.settings import Settings
    from lastmile.warehouse import connect
    from quality_checks import run_checks
    from reports.kpi import compute_kpis, iso_week_label, latest_report_week, parse_iso_week, trend_weeks
    from reports.kpi_report import build_kpi_report

    source = args.warehouse or (DEFAULT_SOURCE if cache.current(DEFAULT_SOURCE, cache.INGESTED) else None)
    if source is None:
        source = generated(args.days, args.orders_per_day, args.seed)
    if not source.exists():
        sys.exit(f"no warehouse at {source}")
    work = OUT / "kpi-bench"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    db = work / "warehouse.duckdb"
    shutil.copyfile(source, db)
    settings = Settings()
    conn = connect(db, settings.network_timezone)
    events, orders = conn.execute("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM orders)").fetchone()  # type: ignore[misc]
    week = parse_iso_week(args.week) if args.week else latest_report_week(conn, settings)
    if week is None:
        sys.exit("the warehouse holds no data")
    days = [week + dt.timedelta(days=i) for i in range(7)]
    checked = conn.execute(
        "SELECT count(*) FROM dq_check_runs WHERE check_id = 'proof.missing' AND partition_date BETWEEN ? AND ?",
        [days[0], days[-1]],
    ).fetchone()
    if not checked or not checked[0]:  # proof compliance reads the proof.missing findings (not timed)
        started = time.perf_counter()
        run_checks(conn, settings, run_id="bench-kpi", now=NOW, checks=["proof.missing"])
        print(f"(ran proof.missing first: {time.perf_counter() - started:.1f} s, not timed below)")

    started = time.perf_counter()
    conn.execute("SELECT count(*) FROM (SELECT order_id, min(occurred_at) FROM events GROUP BY order_id)").fetchone()
    baseline = time.perf_counter() - started

    started = time.perf_counter()
    run = compute_kpis(conn, settings, trend_weeks(week))
    kpi_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = build_kpi_report(conn, settings, work / "reports", week, now=NOW, actor="bench", audit_dir=work / "audit")
    report_seconds = time.perf_counter() - started
    conn.close()

    total = kpi_seconds + report_seconds
    size = result.html_bytes
    print(f"warehouse: {source} ({events:,} events, {orders:,} orders)")
    print(f"week:      {iso_week_label(week)} (trend weeks computed: {len(run.weeks)}, kpi_weekly rows: {run.rows:,})")
    print(f"baseline:  {baseline:6.2f} s  scan-and-group of every event by order")
    print(f"kpis:      {kpi_seconds:6.2f} s  ({kpi_seconds / baseline:.1f}x baseline)")
    print(f"report:    {report_seconds:6.2f} s  ({report_seconds / baseline:.1f}x baseline)")
    print(f"total:     {total:6.2f} s  target < 30 s: {'ok' if total < 30 else 'MISSED'}")
    print(f"report:    {result.html_path}  {size:,} bytes = {size / MIB:.2f} MiB  target < 5 MiB: "
          f"{'ok' if size < 5 * MIB else 'MISSED'}")  # fmt: skip


if __name__ == "__main__":
    main()
