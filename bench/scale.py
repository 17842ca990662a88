"""Scale benchmark: the embedded DuckDB file against DuckLake on PostgreSQL, with one worker and with two.

The landing folder of bench/ingest.py (about 1,000,000 events at the defaults, partner feeds included) goes
through `lastmile ingest` and then `lastmile check`, each a subprocess exactly as users run them:

  (a) embedded   the default warehouse, one DuckDB file in LASTMILE_HOME (the baseline of the ratios)
  (b) ducklake-1 LASTMILE_WAREHOUSE=ducklake on a throwaway PostgreSQL catalog, one worker
  (c) ducklake-2 the same with two workers at once on one home and one catalog: the landing split into two
                 halves by day (files without a day go to both; ingest must take them once), one
                 `lastmile ingest` per half, then one `lastmile check --date D1 --to D2` per worker over
                 half of the days (the first with --partitions-only; the second runs the window checks)

Each scenario prints its ingest and check seconds and its ratio against (a), and whether its tables hold
the same rows as (a)'s (each run as it ends, then the medians). First, the catalog's commit latency: the
median of N one-row commits to a DuckLake table (with a Parquet file each, and with the row inlined in the
catalog), beside the same commit to the embedded file and a bare one-row PostgreSQL commit (the floors).

A scenario the checkout cannot run yet (no `warehouse` setting) prints "not run" and why; the rest run.

    python -m bench.scale [--days 14] [--orders-per-day 11000] [--seed 1] [--repeat 1] [--commits 200]
                          [--regenerate] [--only a,b,c] [--work bench/out/scale]

The PostgreSQL cluster is started from Debian's server binaries (`make postgres` installs them) in a
temporary folder and stopped at the end; homes and lake files go to bench/out/scale/.
"""

import argparse
import contextlib
import datetime as dt
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.ingest import OUT, _landing
from tests import pg_kit  # the same server helper as the tests (tests/pg_kit.py depends on nothing of lastmile)

WORK = OUT / "scale"
LASTMILE = [sys.executable, "-m", "pipelines.cli"]
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
LABELS = {"a": "(a) embedded DuckDB file", "b": "(b) DuckLake, one worker", "c": "(c) DuckLake, two workers"}
COMPARED = ("orders", "events", "proofs", "messages", "partner_events", "quarantine", "dq_findings")


class NotRun(Exception):
    """A scenario that cannot run in this checkout (or failed): the reason, one line."""


@dataclass
class Outcome:
    name: str
    ingest_s: float = 0.0
    check_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    commits: int = 0  # DuckLake snapshots the timed commands made (each one catalog commit)
    not_run: str = ""

    @property
    def seconds(self) -> float:
        return self.ingest_s + self.check_s


# ------------------------------------------------------------------------------------------ running lastmile


def _env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without any LASTMILE_* or DAGSTER_HOME, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LASTMILE_") and k != "DAGSTER_HOME"}
    return {**env, "COLUMNS": "100", **extra}


def start_lastmile(home: Path, args: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        return subprocess.Popen([*LASTMILE, "--home", str(home), *args], stdout=out, stderr=subprocess.STDOUT, env=env)


def finish(proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    """Wait for a `lastmile` process; exit status 1 from `check` (an error-severity check failed, which
    generated data does) is a normal outcome, anything else makes the scenario "not run"."""
    code = proc.wait()
    if code not in (0, 1) or (code == 1 and not what.startswith("check")):
        lines = log.read_text(errors="replace").strip().splitlines() or ["(no output)"]
        raise NotRun(f"lastmile {what} exited {code}: {lines[-1][:200]} (see {log})")


def lastmile(home: Path, args: Sequence[str], env: dict[str, str], log: Path) -> float:
    """Run one `lastmile` command; its wall time in seconds."""
    started = time.perf_counter()
    finish(start_lastmile(home, args, env, log), " ".join(args), log)
    return time.perf_counter() - started


def in_parallel(jobs: Sequence[Sequence[tuple[Path, Sequence[str], dict[str, str], Path]]]) -> float:
    """Run each worker's commands in sequence, the workers at once; wall time until the last one ends."""
    started = time.perf_counter()
    queues = [list(job) for job in jobs]
    running: list[tuple[subprocess.Popen[bytes], str, Path, list[Any]] | None] = [None] * len(queues)
    try:
        while any(queues) or any(running):
            for i, queue in enumerate(queues):
                if running[i] is None and queue:
                    home, args, env, log = queue.pop(0)
                    running[i] = (start_lastmile(home, args, env, log), " ".join(args), log, queue)
            for i, slot in enumerate(running):
                if slot is not None and slot[0].poll() is not None:
                    finish(slot[0], slot[1], slot[2])
                    running[i] = None
            time.sleep(0.05)
    finally:
        for slot in running:
            if slot is not None and slot[0].poll() is None:
                slot[0].kill()
                slot[0].wait()
    return time.perf_counter() - started


# ------------------------------------------------------------------------------------------------ reading


def _count_tables(conn: Any) -> dict[str, int]:
    present = {row[0] for row in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    counts: dict[str, int] = {}
    for table in COMPARED:
        if table in present:
            counts[table] = int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    return counts


def counts_embedded(home: Path) -> dict[str, int]:
    import duckdb

    with contextlib.closing(duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)) as conn:
        return _count_tables(conn)


def counts_ducklake(catalog: str, data_path: Path) -> dict[str, int]:
    with contextlib.closing(pg_kit.open_ducklake(catalog, data_path)) as conn:
        return _count_tables(conn)


def data_days(home: Path, env: dict[str, str]) -> list[dt.date]:
    """The days `lastmile check` would check (quality_checks.data_dates), to split between the workers."""
    from quality_checks.runner import data_dates

    if env.get("LASTMILE_WAREHOUSE") == "ducklake":
        conn = pg_kit.open_ducklake(env["LASTMILE_DUCKLAKE_CATALOG"], Path(env["LASTMILE_DUCKLAKE_DATA_PATH"]))
    else:
        import duckdb

        conn = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    with contextlib.closing(conn):
        return data_dates(conn)


# ----------------------------------------------------------------------------------------------- scenarios


def ducklake_supported() -> str:
    """Empty when this checkout's lastmile has the `warehouse: ducklake` setting, else why not."""
    from lastmile.settings import Settings

    if "warehouse" not in Settings.model_fields:
        return "this checkout has no `warehouse` setting yet (the DuckLake warehouse core is not in it)"
    return ""


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def prepare(home: Path, env: dict[str, str], work: Path) -> None:
    """Untimed: an empty warehouse with its schema, made by ingesting an empty landing folder, so every
    scenario starts from the same state. For two workers it is also needed: two processes attaching an
    empty DuckLake catalog at once both create its metadata tables, and one fails ("duplicate key value
    violates unique constraint pg_type_typname_nsp_index"); a deployment initialises the catalog once."""
    lastmile(home, ["ingest", str(fresh(work / "empty-landing"))], env, work / "prepare.log")


def scenario_embedded(landing: Path, server: pg_kit.PgServer, root: Path) -> Outcome:
    work = fresh(root / "a-embedded")
    home, env = work / "home", _env({})
    out = Outcome(LABELS["a"])
    prepare(home, env, work)
    out.ingest_s = lastmile(home, ["ingest", str(landing)], env, work / "ingest.log")
    out.check_s = lastmile(home, ["check"], env, work / "check.log")
    out.counts = counts_embedded(home)
    return out


def _ducklake_env(server: pg_kit.PgServer, work: Path, name: str, pool_limit: int) -> dict[str, str]:
    with contextlib.suppress(Exception):
        server.drop_database(name)
    return _env(
        {
            "LASTMILE_WAREHOUSE": "ducklake",
            "LASTMILE_DUCKLAKE_CATALOG": server.create_database(name),
            "LASTMILE_DUCKLAKE_DATA_PATH": str(work / "lake"),
            "LASTMILE_WAREHOUSE_POOL_LIMIT": str(pool_limit),
        }
    )


def catalog_commits(env: dict[str, str]) -> int:
    """How many snapshots (commits) the DuckLake catalog holds so far."""
    lake = pg_kit.open_ducklake(env["LASTMILE_DUCKLAKE_CATALOG"], Path(env["LASTMILE_DUCKLAKE_DATA_PATH"]))
    with contextlib.closing(lake):
        return int(lake.execute("SELECT count(*) FROM ducklake_snapshots('lake')").fetchone()[0])


def _ducklake_counts(env: dict[str, str]) -> dict[str, int]:
    counts = counts_ducklake(env["LASTMILE_DUCKLAKE_CATALOG"], Path(env["LASTMILE_DUCKLAKE_DATA_PATH"]))
    if not counts.get("events"):
        raise NotRun("the DuckLake catalog holds no events after the run: the command did not write to it")
    return counts


def scenario_ducklake_one(landing: Path, server: pg_kit.PgServer, root: Path) -> Outcome:
    out = Outcome(LABELS["b"])
    if why := ducklake_supported():
        raise NotRun(why)
    work = fresh(root / "b-ducklake-1")
    home, env = work / "home", _ducklake_env(server, work, "scale_b", 1)
    prepare(home, env, work)
    before = catalog_commits(env)
    out.ingest_s = lastmile(home, ["ingest", str(landing)], env, work / "ingest.log")
    out.check_s = lastmile(home, ["check"], env, work / "check.log")
    out.counts = _ducklake_counts(env)
    out.commits = catalog_commits(env) - before
    return out


def split_landing(landing: Path, target: Path, parts: int) -> list[Path]:
    """`parts` landing folders of hard links: a file whose path names a day goes to one part (days dealt
    out in contiguous blocks), a file that names no day (consents, manifest, blobs) goes to every part."""
    files = [p.relative_to(landing) for p in landing.rglob("*") if p.is_file()]
    days = sorted({m.group(0) for rel in files if rel.parts[0] != "blobs" for m in [DAY.search(str(rel))] if m})
    block = max(1, -(-len(days) // parts))
    owner = {day: min(i // block, parts - 1) for i, day in enumerate(days)}
    folders = [fresh(target / f"part-{i + 1}") for i in range(parts)]
    for rel in files:
        path = landing / rel
        match = DAY.search(str(rel))
        for i in [owner[match.group(0)]] if match and rel.parts[0] != "blobs" else range(parts):
            dest = folders[i] / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, dest)
            except OSError:
                shutil.copy2(path, dest)
    return folders


def scenario_ducklake_two(landing: Path, server: pg_kit.PgServer, root: Path) -> Outcome:
    out = Outcome(LABELS["c"])
    if why := ducklake_supported():
        raise NotRun(why)
    work = fresh(root / "c-ducklake-2")
    home, env = work / "home", _ducklake_env(server, work, "scale_c", 2)
    prepare(home, env, work)
    before = catalog_commits(env)
    halves = split_landing(landing, work / "landing", 2)
    out.ingest_s = in_parallel(
        [[(home, ["ingest", str(half)], env, work / f"ingest-{i + 1}.log")] for i, half in enumerate(halves)]
    )
    days = data_days(home, env)
    # Each worker checks one contiguous half of the days in one command; the second also runs the window
    # checks (once for the whole run, as one `lastmile check` would).
    mid = len(days) // 2
    shares = [days[:mid], days[mid:]]
    out.check_s = in_parallel(
        [
            [(home, ["check", "--date", share[0].isoformat(), "--to", share[-1].isoformat(),
                     *(["--partitions-only"] if w == 0 else [])], env, work / f"check-{w + 1}.log")]
            for w, share in enumerate(shares) if share
        ]
    )  # fmt: skip
    out.counts = _ducklake_counts(env)
    out.commits = catalog_commits(env) - before
    return out


SCENARIOS: dict[str, Callable[[Path, pg_kit.PgServer, Path], Outcome]] = {
    "a": scenario_embedded,
    "b": scenario_ducklake_one,
    "c": scenario_ducklake_two,
}


# ------------------------------------------------------------------------------------------ commit latency


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _timed(n: int, commit: Callable[[int], object]) -> list[float]:
    samples = []
    for i in range(n):
        started = time.perf_counter()
        commit(i)
        samples.append(time.perf_counter() - started)
    return samples


def commit_latency(server: pg_kit.PgServer, n: int, root: Path) -> dict[str, list[float]]:
    """Seconds of each of `n` one-row autocommitted INSERTs: DuckLake (a Parquet file and the catalog), DuckLake
    with the row inlined in the catalog (the catalog's commit alone), the embedded file, bare PostgreSQL."""
    import duckdb

    work = fresh(root / "commits")
    with contextlib.suppress(Exception):
        server.drop_database("scale_commits")
    catalog = server.create_database("scale_commits")
    samples: dict[str, list[float]] = {}
    with contextlib.closing(pg_kit.open_ducklake(catalog, work / "lake")) as lake:
        lake.execute("CREATE TABLE tiny (i BIGINT)")
        samples["ducklake"] = _timed(n, lambda i: lake.execute("INSERT INTO tiny VALUES ($i)", {"i": i}))
    with contextlib.closing(pg_kit.open_ducklake(catalog, work / "lake", inline_rows=10)) as lake:
        lake.execute("CREATE TABLE tiny_inlined (i BIGINT)")
        samples["catalog"] = _timed(n, lambda i: lake.execute("INSERT INTO tiny_inlined VALUES ($i)", {"i": i}))
    with contextlib.closing(duckdb.connect(str(work / "embedded.duckdb"))) as file:
        file.execute("CREATE TABLE tiny (i BIGINT)")
        samples["embedded"] = _timed(n, lambda i: file.execute("INSERT INTO tiny VALUES ($i)", {"i": i}))
    with contextlib.closing(server.connect("scale_commits")) as pg, pg.cursor() as cur:
        cur.execute("CREATE TABLE tiny (i BIGINT)")
        samples["postgres"] = _timed(n, lambda i: cur.execute("INSERT INTO tiny VALUES (%s)", (i,)))
    return samples


# ---------------------------------------------------------------------------------------------------- main


def _describe(out: Outcome, base: Outcome | None) -> str:
    if out.not_run:
        return f"{out.name:28} not run: {out.not_run}"
    line = f"{out.name:28} ingest {out.ingest_s:7.1f} s   check {out.check_s:7.1f} s   total {out.seconds:7.1f} s"
    if base is not None and not base.not_run and base is not out:
        line += (
            f"   ratio vs (a): ingest {out.ingest_s / base.ingest_s:.2f}x, check {out.check_s / base.check_s:.2f}x, "
            f"total {out.seconds / base.seconds:.2f}x"
        )
        differ = {
            t: (base.counts.get(t), out.counts.get(t)) for t in COMPARED if base.counts.get(t) != out.counts.get(t)
        }
        line += "   same rows as (a)" if not differ else f"   DIFFERENT rows from (a): {differ}"
    if out.commits:
        line += f"   {out.commits:,} catalog commits"
    return line


def _median_outcome(runs: list[Outcome]) -> Outcome:
    done = [r for r in runs if not r.not_run]
    if not done:
        return runs[-1]
    ordered = sorted(done, key=lambda r: r.seconds)
    middle = ordered[len(ordered) // 2]
    return Outcome(
        middle.name,
        statistics.median(r.ingest_s for r in done),
        statistics.median(r.check_s for r in done),
        middle.counts,
        middle.commits,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--orders-per-day", type=int, default=11000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each scenario, alternating; medians kept")
    parser.add_argument("--commits", type=int, default=200, help="one-row commits for the latency figures")
    parser.add_argument("--regenerate", action="store_true", help="generate the landing anew with today's generator")
    parser.add_argument("--only", default="a,b,c", help="scenarios to run (commit latency always runs)")
    parser.add_argument("--work", type=Path, default=WORK, help="folder for the homes and lake files")
    args = parser.parse_args()
    root = args.work.resolve()

    if args.regenerate:
        shutil.rmtree(OUT / f"landing-d{args.days}-o{args.orders_per_day}-s{args.seed}", ignore_errors=True)
    landing = _landing(args.days, args.orders_per_day, args.seed).resolve()
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    print(f"landing: {landing}", flush=True)
    with tempfile.TemporaryDirectory(prefix="lastmile-scale-pg-") as tmp, contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(pg_kit.running_server(Path(tmp) / "pg", traverse_upto=Path(tmp)))
        except pg_kit.PostgresMissing as exc:
            sys.exit(f"bench.scale: {exc}")
        print_latency(commit_latency(server, args.commits, root), args.commits)
        runs: dict[str, list[Outcome]] = {key: [] for key in chosen}
        for i in range(args.repeat):
            for key in chosen:
                try:
                    outcome = SCENARIOS[key](landing, server, root)
                except NotRun as exc:
                    outcome = Outcome(LABELS[key], not_run=str(exc))
                runs[key].append(outcome)
                base = runs["a"][i] if "a" in runs and len(runs["a"]) > i else None
                print(f"run {i + 1}: {_describe(outcome, base)}", flush=True)

    results = {key: _median_outcome(found) for key, found in runs.items()}
    print(f"medians of {args.repeat} run(s) of each scenario:")
    for key in chosen:
        print(_describe(results[key], results.get("a")))


def print_latency(latency: dict[str, list[float]], n: int) -> None:
    ms = {kind: _median_ms(found) for kind, found in latency.items()}
    p90 = {kind: statistics.quantiles(found, n=10)[-1] * 1000 for kind, found in latency.items()}
    print(f"commit latency, median (p90) of {n} one-row autocommitted INSERTs:")
    for kind, label in (
        ("ducklake", "DuckLake, Parquet file + catalog"),
        ("catalog", "DuckLake, row inlined: catalog only"),
        ("embedded", "embedded DuckDB file (floor)"),
        ("postgres", "bare PostgreSQL INSERT (floor)"),
    ):
        print(f"  {label:38} {ms[kind]:8.2f} ms ({p90[kind]:.2f} ms)")
    print(
        f"  ratios: DuckLake / embedded {ms['ducklake'] / ms['embedded']:.1f}x, catalog-only / bare PostgreSQL "
        f"{ms['catalog'] / ms['postgres']:.0f}x; one catalog connection commits at most ~{1000 / ms['catalog']:,.0f}"
        f" times/s (~{1000 / ms['ducklake']:,.0f}/s with a file each)",
        flush=True,
    )


if __name__ == "__main__":
    main()
