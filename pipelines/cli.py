"""The `lastmile` command: every verb works on LASTMILE_HOME and runs the same Dagster definitions in-process.

Errors a user can cause (a missing landing folder, a bad setting, a bad option, a locked warehouse) are
printed as one line, `lastmile: error: <message>`, with exit status 2 for usage errors and 1 otherwise.
"""

import datetime as dt
import json
import logging
import os
import shutil
import sys
import warnings
import zoneinfo
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click
import dagster as dg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lastmile.errors import LastmileError
from lastmile.settings import HOME_ENV, Home, Settings, load_settings

DAGSTER_HEADER = "# Dagster instance of this LASTMILE_HOME, written by `lastmile`"
DAGSTER_YAML = """\
{header} from its settings (rewritten when they change;
# remove this first line to keep a dagster.yaml of your own, e.g. the PostgreSQL instance of docs/scale.md).
# Every asset that writes the warehouse uses the pool "warehouse": warehouse_pool_limit ops at once
# ({limit} here: {why}).
concurrency:
  pools:
    default_limit: {limit}
    granularity: op
telemetry:
  enabled: false
"""


def dagster_yaml(settings: Settings) -> str:
    why = "one writer to an embedded DuckDB file" if settings.warehouse == "duckdb" else "DuckLake, many writers"
    return DAGSTER_YAML.format(header=DAGSTER_HEADER, limit=settings.pool_limit, why=why)


# Later domains extend `lastmile demo` by appending a step here (from their module in pipelines.commands):
# each step gets the home and settings after ingest and checks have run, does its work in-process through
# the Dagster definitions, and prints what it made (e.g. the path of a report).
DemoStep = Callable[[Home, Settings], None]
demo_steps: list[DemoStep] = []

DEMO_DAYS = 14
DEMO_ORDERS_PER_DAY = 400
DEMO_SEED = 7
DEMO_MARKER = ".lastmile-demo.json"
DEFAULT_START = dt.date(2026, 10, 5)
PUBLISHED = ("orders", "events", "proofs", "messages")
# Dagster logs a failing run in full; the command prints one line instead (the run keeps the details).
QUIET_LOGGERS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


# --------------------------------------------------------------------------------------------- errors


def _fail(message: str, code: int) -> int:
    first = message.strip().splitlines()[0] if message.strip() else "failed"
    click.echo(f"lastmile: error: {first}", err=True)
    return code


def _lastmile_cause(exc: BaseException) -> LastmileError | None:
    """The LastmileError behind a Dagster failure (step or resource errors wrap the user's exception)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, LastmileError):
            return current
        todo.extend([getattr(current, "user_exception", None), current.__cause__, current.__context__])
    return None


class LastmileGroup(click.Group):
    """A click group whose errors are one line on stderr, never a traceback for a user mistake."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(args, prog_name or "lastmile", complete_var, standalone_mode=False, **extra)
            code = result if isinstance(result, int) else 0
        except click.UsageError as exc:
            code = _fail(exc.format_message(), 2)
        except click.Abort:
            code = _fail("interrupted", 1)
        except click.ClickException as exc:
            code = _fail(exc.format_message(), exc.exit_code)
        except LastmileError as exc:
            code = _fail(str(exc), 1)
        except dg.DagsterError as exc:
            cause = _lastmile_cause(exc)
            if cause is None:
                raise
            code = _fail(str(cause), 1)
        if standalone_mode:
            sys.exit(code)
        return code


# ----------------------------------------------------------------------------------------------- home


def prepare_home(home: Home) -> Settings:
    """Point this process at `home` (LASTMILE_HOME, DAGSTER_HOME), create its folders, read its settings."""
    os.environ[HOME_ENV] = str(home.root)
    os.environ["DAGSTER_HOME"] = str(home.dagster_home)
    settings = load_settings(home.root)
    home.ensure()
    log_to_home(home)
    path = home.dagster_home / "dagster.yaml"
    text = dagster_yaml(settings)
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if current is None or (current != text and current.startswith(DAGSTER_HEADER)):
        path.write_text(text, encoding="utf-8")
    return settings


LOG_FILE = Path("logs") / "lastmile.log"


def log_to_home(home: Home) -> Path:
    """Send library warnings and log records (Python `warnings`, Great Expectations, ...) to
    LASTMILE_HOME/logs/lastmile.log instead of the terminal, for the rest of this command: the command
    prints its own summary and one-line errors; the log keeps what the libraries said."""
    path = home.root / LOG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    logging.captureWarnings(True)

    def restore() -> None:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        handler.close()

    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.find_root().call_on_close(restore)
    return path


@contextmanager
def progress_display(label: str) -> Iterator[Any]:
    """A rich progress display on stderr; yields a callback (label, done, total) for long steps."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def report(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=total or None)

        yield report


# --------------------------------------------------------------------------------------------- ingest


def _metadata_values(materialization: dg.AssetMaterialization) -> dict[str, Any]:
    return {key: getattr(value, "value", value) for key, value in materialization.metadata.items()}


PID_TAG = "lastmile/pid"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def release_dead_runs(instance: dg.DagsterInstance) -> int:
    """A run of this command whose process died (killed, Ctrl-C'd hard, crashed) stays STARTED and keeps its
    slot of the `warehouse` pool, so every later run would wait for it forever: mark it failed and free
    its slots. Only runs the command started (tagged with their process id) whose process is gone are
    touched; the work itself is idempotent and is redone or completed by the next run."""
    released = 0
    for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        pid = run.tags.get(PID_TAG)
        if pid and pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            instance.report_run_failed(run)
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            released += 1
    return released


def _run_job(job: dg.JobDefinition, instance: dg.DagsterInstance, **kwargs: Any) -> dg.ExecuteInProcessResult:
    """Run a job of the definitions in this process, tagged with our process id (see release_dead_runs)."""
    release_dead_runs(instance)
    kwargs["tags"] = {**(kwargs.get("tags") or {}), PID_TAG: str(os.getpid())}
    try:
        return job.execute_in_process(instance=instance, **kwargs)
    except Exception as exc:
        cause = _lastmile_cause(exc)
        if cause is not None:
            raise cause from None
        raise


def run_ingest(home: Home, settings: Settings, landing: Path, *, command: str = "ingest") -> dict[str, Any]:
    """Run ingest_job over `landing`, then publish_job over the partitions it touched, in-process."""
    from lastmile.ingest import list_landing_files
    from pipelines.definitions import defs as load_definitions
    from pipelines.defs.ingest.sensors import COMMAND_TAG
    from pipelines.defs.resources import reporting_progress

    landing = landing.expanduser().resolve()
    list_landing_files(landing)  # a missing or unreadable landing folder is one clear error, before any run
    defs = load_definitions()
    tags = {COMMAND_TAG: command}
    with dg.DagsterInstance.get() as instance:
        with progress_display(f"Reading {landing}") as report, reporting_progress(report):
            intake = _run_job(
                defs.resolve_job_def("ingest_job"),
                instance,
                run_config={
                    **QUIET_LOGGERS,
                    "ops": {"landing_intake": {"config": {"landing": str(landing)}}},
                },
                tags=tags,
            )
        materializations = intake.asset_materializations_for_node("landing_intake")
        summary = _metadata_values(materializations[-1]) if materializations else {}
        summary["intake_run_id"] = intake.run_id
        summary["published"] = {}
        # Publish every partition read and not yet published: this run's, and any a killed run left behind.
        start = summary.get("unpublished_start", summary.get("touched_start"))
        end = summary.get("unpublished_end", summary.get("touched_end"))
        if isinstance(start, str) and isinstance(end, str):
            result = _publish(defs, instance, dt.date.fromisoformat(start), dt.date.fromisoformat(end), tags, summary)
            if result is not None:
                for table in PUBLISHED:
                    mats = result.asset_materializations_for_node(table)
                    if mats:
                        summary["published"][table] = _metadata_values(mats[-1])
    summary["table_rows"] = warehouse_counts(home, settings)
    return summary


def _publish(
    defs: dg.Definitions, instance: dg.DagsterInstance, start: dt.date, end: dt.date, tags: Mapping[str, str],
    summary: dict[str, Any],
) -> dg.ExecuteInProcessResult | None:  # fmt: skip
    """Run publish_job over start..end (clipped to the partitions that exist); None when nothing is left."""
    from pipelines.defs.ingest.partitions import partition_key_range, range_tags

    publish = defs.resolve_job_def("publish_job")
    partitions_def = publish.partitions_def
    assert isinstance(partitions_def, dg.DailyPartitionsDefinition)
    keys = partition_key_range(partitions_def, start, end)
    summary["publish_range"] = (keys.start, keys.end) if keys else None
    if keys is None:
        return None
    with progress_display(f"Publishing {keys.start} .. {keys.end}"):
        result = _run_job(publish, instance, run_config=QUIET_LOGGERS, tags={**tags, **range_tags(keys)})
    summary["publish_run_id"] = result.run_id
    return result


def complete_publishing(home: Home, settings: Settings, *, command: str) -> dict[str, Any]:
    """Publish the partitions a killed ingest or publish left read but unpublished (cheap when none are):
    `lastmile check` and `report kpi` call this before they read the published tables."""
    from lastmile.ingest import unpublished_partitions
    from lastmile.warehouse import open_warehouse
    from pipelines.definitions import defs as load_definitions
    from pipelines.defs.ingest.sensors import COMMAND_TAG

    summary: dict[str, Any] = {}
    if settings.warehouse == "duckdb" and not home.warehouse.exists():
        return summary
    conn = open_warehouse(home, settings)
    try:
        pending = unpublished_partitions(conn)
    finally:
        conn.close()
    days = set().union(*pending.values()) if pending else set()
    if days:
        with dg.DagsterInstance.get() as instance:
            _publish(load_definitions(), instance, min(days), max(days), {COMMAND_TAG: command}, summary)
    return summary


def warehouse_counts(home: Home, settings: Settings) -> dict[str, int]:
    from lastmile.warehouse import open_warehouse

    conn = open_warehouse(home, settings, read_only=True)
    try:
        counts: dict[str, int] = {}
        for table in (*PUBLISHED, "quarantine"):
            row = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
            counts[table] = int(row[0]) if row else 0
        return counts
    finally:
        conn.close()


def print_ingest_summary(summary: Mapping[str, Any]) -> None:
    files_read = int(summary.get("files_read") or 0)
    files_skipped = int(summary.get("files_skipped") or 0)
    if files_read == 0:
        out.print(f"Nothing new: {files_skipped} file(s) were already ingested; the warehouse is unchanged.")
    table = Table(title="Ingest", title_justify="left")
    table.add_column("measure")
    table.add_column("count", justify="right")
    for key in (
        "files_read",
        "files_skipped",
        "rows_read",
        "rows_loaded",
        "rows_duplicate",
        "rows_revised",
        "rows_quarantined",
    ):
        table.add_row(key.replace("_", " "), f"{int(summary.get(key) or 0):,}")
    out.print(table)

    reasons = summary.get("quarantined_by_reason") or {}
    if reasons:
        by_reason = Table(title="Quarantined rows by reason", title_justify="left")
        by_reason.add_column("reason")
        by_reason.add_column("rows", justify="right")
        for reason, count in sorted(reasons.items(), key=lambda item: (-int(item[1]), item[0])):
            by_reason.add_row(str(reason), f"{int(count):,}")
        out.print(by_reason)

    published: Mapping[str, Mapping[str, Any]] = summary.get("published") or {}
    counts: Mapping[str, int] = summary.get("table_rows") or {}
    landed = Table(title="Warehouse", title_justify="left")
    landed.add_column("table")
    landed.add_column("rows", justify="right")
    landed.add_column("republished this run", justify="right")
    for name in (*PUBLISHED, "quarantine"):
        info = published.get(name)
        note = (
            f"{int(info.get('rows') or 0):,} rows, {info.get('partition_start')}..{info.get('partition_end')}"
            if info
            else "-"
        )
        landed.add_row(name, f"{int(counts.get(name, 0)):,}", note)
    out.print(landed)
    start, end = summary.get("touched_start"), summary.get("touched_end")
    if isinstance(start, str) and summary.get("publish_range") is None:
        out.print(
            f"[yellow]Rows dated {start} .. {end} lie outside the daily partitions "
            "(setting partition_start_date, up to tomorrow) and were not published.[/]"
        )


# ------------------------------------------------------------------------------------------- generate


def parse_fault_rates(values: Sequence[str]) -> Any:
    if not values:
        return None
    rates: dict[str, float] = {}
    for value in values:
        name, sep, raw = value.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{value!r} is not NAME=RATE", param_hint="'--fault-rate'")
        try:
            rates[name.strip()] = float(raw)
        except ValueError:
            raise click.BadParameter(f"{value!r}: rate {raw!r} is not a number", param_hint="'--fault-rate'") from None
    from lastmile.generator import FaultRates

    try:
        return FaultRates.from_mapping(rates)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--fault-rate'") from None


def check_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"{value!r} is not a known IANA timezone", param_hint="'--timezone'") from None
    return value


def run_generate(
    out_dir: Path,
    *,
    days: int,
    orders_per_day: int,
    seed: int,
    start: dt.date,
    timezone: str,
    fault_rates: Any = None,
) -> Any:
    from lastmile.generator import generate

    with progress_display(f"Generating {out_dir}") as report:
        return generate(
            out_dir,
            days=days,
            orders_per_day=orders_per_day,
            seed=seed,
            start=start,
            timezone=timezone,
            fault_rates=fault_rates,
            progress=report,
        )


def print_generate_summary(summary: Any) -> None:
    out.print(f"Generated {summary.out}", soft_wrap=True)
    table = Table(title="Rows and files written", title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    for name in ("orders", "events", "proofs", "blobs"):
        table.add_row(name, f"{int(getattr(summary, name)):,}")
    out.print(table)
    faults: Mapping[str, int] = summary.faults or {}
    if faults:
        injected = Table(title="Injected faults (see ground_truth.jsonl)", title_justify="left")
        injected.add_column("fault")
        injected.add_column("count", justify="right")
        for name, count in sorted(faults.items()):
            injected.add_row(name, f"{int(count):,}")
        out.print(injected)
    out.print(f"as of {summary.as_of}")


# ------------------------------------------------------------------------------------------- commands


def _home(ctx: click.Context) -> Home:
    home = ctx.obj
    assert isinstance(home, Home)
    return home


@click.group(
    cls=LastmileGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--home",
    "home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="LASTMILE_HOME folder (warehouse, vault, keys, reports, Dagster instance, settings.yaml). "
    "Default: the LASTMILE_HOME environment variable, else ./lastmile-home.",
)
@click.pass_context
def cli(ctx: click.Context, home: Path | None) -> None:
    """lastmile: governance, compliance and analytics for last-mile delivery networks.

    Every verb works on LASTMILE_HOME and runs through the same Dagster definitions that
    `dagster dev` shows (DAGSTER_HOME=LASTMILE_HOME/dagster).
    """
    ctx.obj = Home.resolve(home)


@cli.command()
@click.argument("out_dir", metavar="OUT", type=click.Path(file_okay=False, path_type=Path))
@click.option("--days", type=click.IntRange(min=1), required=True, help="Number of days of orders.")
@click.option("--orders-per-day", type=click.IntRange(min=1), required=True, help="Orders created per day.")
@click.option("--seed", type=int, required=True, help="Random seed: the same seed writes the same files.")
@click.option(
    "--start",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=DEFAULT_START.isoformat(),
    show_default=True,
    help="First day (YYYY-MM-DD).",
)
@click.option(
    "--timezone",
    default=None,
    help="IANA timezone of the generated network. Default: the network_timezone setting.",
)
@click.option(
    "--fault-rate",
    "fault_rate",
    multiple=True,
    metavar="NAME=RATE",
    help="Override the rate of one injected fault (repeatable), e.g. --fault-rate event.orphan=0.02.",
)
@click.pass_context
def generate(
    ctx: click.Context,
    out_dir: Path,
    days: int,
    orders_per_day: int,
    seed: int,
    start: dt.datetime,
    timezone: str | None,
    fault_rate: tuple[str, ...],
) -> None:
    """Write a realistic sample landing folder OUT, with a ground-truth file of the faults injected."""
    rates = parse_fault_rates(fault_rate)
    if timezone is None:
        timezone = load_settings(_home(ctx).root).network_timezone
    summary = run_generate(
        out_dir.expanduser().resolve(),
        days=days,
        orders_per_day=orders_per_day,
        seed=seed,
        start=start.date(),
        timezone=check_timezone(timezone),
        fault_rates=rates,
    )
    print_generate_summary(summary)


@cli.command()
@click.argument("landing", type=click.Path(path_type=Path))
@click.pass_context
def ingest(ctx: click.Context, landing: Path) -> None:
    """Load the landing folder LANDING into the warehouse and publish the days it touched.

    Runs ingest_job, then publish_job over the touched daily partitions, recorded in the Dagster
    instance of LASTMILE_HOME. Ingesting the same folder twice changes nothing.
    """
    home = _home(ctx)
    settings = prepare_home(home)
    summary = run_ingest(home, settings, landing)
    print_ingest_summary(summary)


@cli.command()
@click.option("--as-of", "as_of", default=None, metavar="TS",
              help="Evaluation time for the window checks (ISO 8601; without an offset it is read in the "
              "network timezone). Default: the largest recorded_at in the warehouse.")  # fmt: skip
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Run the per-partition checks for this day only (YYYY-MM-DD). Default: every day with data.",
)
@click.option(
    "--to",
    "until",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="With --date: the per-partition checks for every day with data from --date to this day (inclusive).",
)
@click.option(
    "--partitions-only",
    is_flag=True,
    help="Skip the window checks: a worker checking its share of the days (run them once, elsewhere).",
)
@click.pass_context
def check(
    ctx: click.Context, as_of: str | None, day: dt.datetime | None, until: dt.datetime | None, partitions_only: bool
) -> None:
    """Run every data-quality check of the contract and print a summary per check.

    Findings land in dq_findings (a re-run replaces a partition's findings) and every run adds history
    rows to dq_check_runs. Exit status 0 when no `error` check failed, 1 otherwise, so it can gate a pipeline.
    """
    from pipelines.defs.quality.checks import parse_as_of

    home = _home(ctx)
    settings = prepare_home(home)
    when = parse_as_of(as_of or "", settings.network_timezone)
    if until is not None and day is None:
        raise click.UsageError("--to needs --date (the first day of the range)")
    if until is not None and day is not None and until < day:
        raise click.UsageError(f"--to {until:%Y-%m-%d} is before --date {day:%Y-%m-%d}")
    run_ids = run_quality(
        home, settings, as_of=when, day=day.date() if day else None, until=until.date() if until else None,
        window=not partitions_only,
    )  # fmt: skip
    if print_check_summary(home, settings, run_ids):
        ctx.exit(1)


@cli.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Generate two weeks of a mid-sized sample network, ingest it, and show where everything is.

    The sample goes to LASTMILE_HOME/landing-demo (generated once; kept if already there).
    Running demo again is safe: the second ingest finds nothing new.
    """
    home = _home(ctx)
    settings = prepare_home(home)
    landing = home.root / "landing-demo"
    params = {
        "days": DEMO_DAYS,
        "orders_per_day": DEMO_ORDERS_PER_DAY,
        "seed": DEMO_SEED,
        "start": DEFAULT_START.isoformat(),
        "timezone": settings.network_timezone,
    }
    marker = landing / DEMO_MARKER
    existing = json.loads(marker.read_text(encoding="utf-8")) if marker.is_file() else None
    if existing == params:
        out.print(f"Sample network already in {landing} (same parameters): not regenerated.")
    else:
        if landing.exists():
            shutil.rmtree(landing)
        summary = run_generate(
            landing,
            days=DEMO_DAYS,
            orders_per_day=DEMO_ORDERS_PER_DAY,
            seed=DEMO_SEED,
            start=DEFAULT_START,
            timezone=settings.network_timezone,
        )
        marker.write_text(json.dumps(params, indent=2) + "\n", encoding="utf-8")
        print_generate_summary(summary)
    print_ingest_summary(run_ingest(home, settings, landing, command="demo"))
    print_check_summary(home, settings, run_quality(home, settings, as_of=None, day=None, command="demo"))
    for step in demo_steps:
        step(home, settings)
    repo = Path(__file__).resolve().parent.parent
    lines = [
        "",
        f"Warehouse:        {home.warehouse}  (any DuckDB client can open it)"
        if settings.warehouse == "duckdb"
        else f"Warehouse:        DuckLake, catalog {settings.ducklake_catalog!r}  (docs/scale.md)",
        f"Settings:         {home.root / 'settings.yaml'}",
        f"Sample landing:   {landing}",
        f"Dagster instance: {home.dagster_home}",
        "Open the pipelines in Dagster's UI (assets, partitions, sensors, these runs):",
        f"  cd {repo} && LASTMILE_HOME={home.root} DAGSTER_HOME={home.dagster_home} dagster dev",
    ]
    for line in lines:
        out.print(line, soft_wrap=True)


# --------------------------------------------------------------------------------------------- checks


def _step_errors(result: dg.ExecuteInProcessResult) -> list[str]:
    """Step failures other than blocking checks that failed (those are findings, not errors)."""
    errors = []
    for event in result.all_events:
        if event.is_step_failure:
            error = getattr(event.event_specific_data, "error", None)
            if error is not None and error.cls_name != "DagsterAssetCheckFailedError":
                cause = error.cause if error.cause is not None else error
                errors.append(f"{event.step_key}: {cause.message.strip().splitlines()[0]}")
    return errors


def run_quality(
    home: Home, settings: Settings, *, as_of: dt.datetime | None, day: dt.date | None, command: str = "check",
    until: dt.date | None = None, window: bool = True,
) -> list[str]:  # fmt: skip
    """Run the per-partition checks over the days with data (or `day`, or the days with data from `day` to
    `until`) and, unless `window` is false, the window checks at as_of.

    Returns the Dagster run ids whose findings make up this check run.
    """
    from lastmile.warehouse import open_warehouse
    from pipelines.definitions import defs as load_definitions
    from pipelines.defs.ingest.partitions import daily_partitions, partition_key_range, range_tags
    from pipelines.defs.ingest.sensors import COMMAND_TAG
    from quality_checks import data_dates, ensure_schema

    complete_publishing(home, settings, command=command)
    conn = open_warehouse(home, settings)
    try:
        ensure_schema(conn)
        if day and until:
            dates = [d for d in data_dates(conn) if day <= d <= until]
        else:
            dates = [day] if day else data_dates(conn)
    finally:
        conn.close()
    defs = load_definitions()
    tags = {COMMAND_TAG: command}
    run_ids: list[str] = []
    with dg.DagsterInstance.get() as instance:
        if dates:
            job = defs.resolve_job_def("quality_partition_job")
            keys = partition_key_range(daily_partitions(settings), min(dates), max(dates))
            if keys is not None:
                # message.missing, a per-partition check, looks back from as_of
                as_of_ops = {
                    op: {"config": {"as_of": as_of.isoformat() if as_of else ""}} for op in job.graph.node_dict
                }
                with progress_display(f"Checking {keys.start} .. {keys.end}"):
                    result = _run_job(
                        job, instance, run_config={**QUIET_LOGGERS, "ops": as_of_ops},
                        tags={**tags, **range_tags(keys)}, raise_on_error=False,
                    )  # fmt: skip
                errors = _step_errors(result)
                if errors:
                    raise LastmileError(f"check run {result.run_id} failed: {errors[0]}")
                run_ids.append(result.run_id)
        if not window:
            return run_ids
        window_job = defs.resolve_job_def("quality_window_job")
        config = {"as_of": as_of.isoformat() if as_of else ""}
        ops = {op: {"config": config} for op in window_job.graph.node_dict}
        with progress_display("Checking windows ending at as_of"):
            result = _run_job(
                window_job, instance, run_config={**QUIET_LOGGERS, "ops": ops}, tags=tags, raise_on_error=False
            )
        errors = _step_errors(result)
        if errors:
            raise LastmileError(f"check run {result.run_id} failed: {errors[0]}")
        run_ids.append(result.run_id)
    return run_ids


def print_check_summary(home: Home, settings: Settings, run_ids: Sequence[str]) -> bool:
    """A table per check (evaluated, failed, rate, severity), then the worst offenders of each failing check
    one line each; True when an error check failed."""
    from lastmile.warehouse import open_warehouse
    from quality_checks import CHECKS
    from quality_checks.expectations import SUITE_TABLES, load_suite, suite_path

    suite_severity = {f"expectations.{t}": load_suite(suite_path(t)).severity for t in SUITE_TABLES}
    conn = open_warehouse(home, settings, read_only=True)
    try:
        runs = {
            check_id: (int(evaluated), int(failed))
            for check_id, evaluated, failed in conn.execute(
                "SELECT check_id, sum(evaluated), sum(failed) FROM dq_check_runs"
                " WHERE list_contains(?, run_id) GROUP BY check_id",
                [list(run_ids)],
            ).fetchall()
        }
        worst: dict[str, list[str]] = {}
        for check_id, entity_id in conn.execute(
            "SELECT check_id, entity_id FROM (SELECT check_id, entity_id, row_number() OVER"
            " (PARTITION BY check_id ORDER BY partition_date DESC, entity_id) AS n FROM dq_findings"
            " WHERE list_contains(?, run_id)) WHERE n <= 5 ORDER BY check_id, n",
            [list(run_ids)],
        ).fetchall():
            worst.setdefault(check_id, []).append(str(entity_id))
    finally:
        conn.close()
    table = Table(title="Data-quality checks", title_justify="left")
    table.add_column("check", no_wrap=True)
    table.add_column("sev")
    table.add_column("evaluated", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("rate", justify="right", no_wrap=True)
    error_failed = False
    failing: list[tuple[str, str]] = []
    severities = {c.check_id: c.severity for c in CHECKS}
    for check_id in [*severities, *sorted(set(runs) - set(severities))]:
        if check_id not in runs:
            continue
        severity = severities.get(check_id) or suite_severity.get(check_id, "error")
        evaluated, failed = runs[check_id]
        rate = f"{failed / evaluated:.2%}" if evaluated else "-"
        style = "red" if failed and severity == "error" else "yellow" if failed else ""
        error_failed |= bool(failed and severity == "error")
        if failed:
            failing.append((check_id, style))
        table.add_row(check_id, severity, f"{evaluated:,}", f"[{style}]{failed:,}[/]" if style else "0", rate)
    out.print(table)
    print_offenders(failing, worst)
    out.print("Findings: table dq_findings; history: dq_check_runs (run ids " + ", ".join(run_ids) + ")")
    return error_failed


def print_offenders(failing: Sequence[tuple[str, str]], worst: Mapping[str, Sequence[str]]) -> None:
    """Each failing check's first offenders on one line, cut with an ellipsis at the terminal's width
    (80 columns when output is not a terminal, or COLUMNS), so the summary stays readable anywhere."""
    if not failing:
        return
    from rich.text import Text

    out.print("Worst offenders (first per failing check; every finding is in dq_findings):")
    for check_id, style in failing:
        line = Text("  ")
        line.append(check_id, style=style or None)
        line.append(": " + ", ".join(worst.get(check_id, [])))
        line.truncate(out.width, overflow="ellipsis")
        out.print(line, no_wrap=True, overflow="ellipsis", crop=True)


def register_commands() -> None:
    """Import every module of pipelines.commands; each attaches its verbs to `cli`."""
    import importlib
    import pkgutil

    import pipelines.commands

    for module in sorted(m.name for m in pkgutil.iter_modules(pipelines.commands.__path__)):
        importlib.import_module(f"pipelines.commands.{module}")


def main() -> NoReturn:
    """Entry point of the `lastmile` command."""
    # Dagster marks some APIs this project relies on as beta/preview; users of the command need not see that.
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    cli.main(prog_name="lastmile")
    raise SystemExit(0)  # not reached: LastmileGroup.main exits


register_commands()

if __name__ == "__main__":
    main()
