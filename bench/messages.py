"""The eight message checks of CONTRACT §8 over 10,000,000 messages and 2,000,000 consent records.

A synthetic warehouse is built set-based with DuckDB (bench/sql/messages_build.sql: 2.5M orders, 5M events,
2.5M proofs, 10M messages, 2M consents; every one of the eight checks has failing messages), then in the same
run:

  lastmile   quality_checks.run_checks for the eight message.* checks over every partition (findings
             written, history recorded), as `lastmile check` runs them          target: <= 10 s
  baseline   the same rules as one hand-written DuckDB query per check, counting failures only
             (bench/sql/messages_baseline.sql)

and prints both times (wall clock, and the process's CPU time, which says more on a busy machine), their
ratio, and whether both found the same number of failures for each rule.

    python -m bench.messages [--orders 2500000] [--consents 2000000]
"""

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

DAYS = 28


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=2_500_000, help="orders (4 messages each)")
    parser.add_argument("--consents", type=int, default=2_000_000, help="consent records")
    args = parser.parse_args()

    from lastmile.settings import Settings
    from lastmile.warehouse import connect, run_sql, sql_text, statements
    from quality_checks import CHECKS, data_dates, run_checks

    settings = Settings()
    with tempfile.TemporaryDirectory(prefix="lastmile-bench-messages-") as tmp:
        conn = connect(Path(tmp) / "warehouse.duckdb", settings.network_timezone)
        started = time.perf_counter()
        spread = DAYS * 86400 / args.orders
        run_sql(conn, "bench", "sql/messages_build.sql", {
            "orders": args.orders, "spread": spread, "consents": args.consents,
            "consent_spread": 40 * 86400 / args.consents, "addresses": max(1, args.orders // 5),
        })  # fmt: skip
        conn.execute("CHECKPOINT")
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
                  for t in ("messages", "consents", "events", "orders")}  # fmt: skip
        print(f"built in {time.perf_counter() - started:.1f} s: " + ", ".join(f"{n:,} {t}" for t, n in counts.items()))
        as_of = conn.execute("SELECT max(recorded_at) FROM events").fetchone()[0]  # type: ignore[index]
        ids = [c.check_id for c in CHECKS if c.check_id.startswith("message.")]
        days = data_dates(conn)

        ours = ours_cpu = 0.0
        our_counts = []
        for check_id in ids:
            started, cpu = time.perf_counter(), time.process_time()
            (r,) = run_checks(conn, settings, run_id="bench", now=dt.datetime.now(dt.UTC), dates=days, as_of=as_of,
                              checks=[check_id])  # fmt: skip
            took = time.perf_counter() - started
            ours += took
            ours_cpu += time.process_time() - cpu
            our_counts.append(r.failed)
            print(f"  {r.check_id:28s} evaluated {r.evaluated:>12,} failed {r.failed:>9,}  {took:6.2f} s")

        base = base_cpu = 0.0
        baseline_counts = []
        for stmt in statements(sql_text("bench", "sql/messages_baseline.sql")):
            started, cpu = time.perf_counter(), time.process_time()
            row = conn.execute(stmt, {"as_of": as_of} if "$as_of" in stmt else None).fetchone()
            took = time.perf_counter() - started
            base += took
            base_cpu += time.process_time() - cpu
            baseline_counts.append((row[0] if row else None, round(took, 2)))
        conn.close()
    print(f"baseline (failing count, seconds) per rule, one hand-written query each: {baseline_counts}")
    agree = [c for c, _ in baseline_counts] == our_counts
    print(f"failing counts {'agree' if agree else 'DIFFER'} between lastmile and the hand-written queries")
    print(f"eight message checks: lastmile {ours:.2f} s (target <= 10 s), hand-written DuckDB {base:.2f} s, "
          f"ratio {ours / base:.2f}x; CPU time {ours_cpu:.1f} s vs {base_cpu:.1f} s, "
          f"ratio {ours_cpu / base_cpu:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
