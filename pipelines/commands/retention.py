"""`lastmile retention plan|run|verify`, `lastmile holds add|release|list`, `lastmile keys
status|rotate|rewrap|retire`, `lastmile report retention`, and the retention step of `lastmile demo`.

`retention plan` and `retention run` execute the Dagster jobs retention_plan_job / retention_job in-process
(the same definitions `dagster dev` shows). Holds, keys and verify are single audited actions on the
warehouse and keyring, done directly.
"""

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import dagster as dg
import duckdb
from rich.table import Table

from lastmile.actor import current_actor
from lastmile.errors import LastmileError
from lastmile.settings import Home, Settings
from pipelines.cli import QUIET_LOGGERS, _run_job, cli, demo_steps, err, out, prepare_home, progress_display
from pipelines.commands.report import report


def _home(ctx: click.Context) -> Home:
    home = ctx.obj
    assert isinstance(home, Home)
    return home


def _now() -> dt.datetime:
    from pipelines.defs.resources import utc_now

    return utc_now()


@contextmanager
def _vault(home: Home, settings: Settings) -> Iterator[tuple[duckdb.DuckDBPyConnection, Any]]:
    from lastmile.warehouse import open_warehouse
    from pipelines.defs.resources import LastmileResource

    conn = open_warehouse(home, settings)
    try:
        yield conn, LastmileResource._open_vault(home, conn)
    finally:
        conn.close()


def _parse_as_of(value: str | None, settings: Settings) -> dt.datetime:
    from pipelines.defs.quality.checks import parse_as_of

    return parse_as_of(value or "", settings.network_timezone) or _now()


def _execute(home: Home, job_name: str, as_of: dt.datetime, label: str) -> dg.ExecuteInProcessResult:
    from pipelines.definitions import defs as load_definitions
    from pipelines.defs.ingest.sensors import COMMAND_TAG
    from pipelines.defs.resources import reporting_progress

    job = load_definitions().resolve_job_def(job_name)
    config = {"config": {"as_of": as_of.isoformat()}}
    ops = {op: config for op in job.graph.node_dict}
    tags = {COMMAND_TAG: "retention"}
    with dg.DagsterInstance.get() as instance, progress_display(label) as bar, reporting_progress(bar):
        return _run_job(job, instance, run_config={**QUIET_LOGGERS, "ops": ops}, tags=tags, raise_on_error=False)


def _raise_step_errors(result: dg.ExecuteInProcessResult) -> None:
    from pipelines.cli import _step_errors

    errors = _step_errors(result)
    if errors:
        raise LastmileError(f"retention run {result.run_id} failed: {errors[0]}")


def print_plan(home: Home, settings: Settings) -> None:
    from lastmile.warehouse import open_warehouse

    conn = open_warehouse(home, settings, read_only=True)
    try:
        rows = conn.execute(
            "SELECT action, artifact_kind, count(*) FROM retention_plan GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        meta = conn.execute("SELECT any_value(as_of), any_value(policy_version) FROM retention_plan").fetchone()
        held = conn.execute(
            "SELECT p.artifact_id, p.artifact_kind, p.order_id, p.hold_id, h.reason, p.due_at FROM retention_plan p"
            " JOIN legal_holds h USING (hold_id) WHERE p.action = 'held' ORDER BY p.due_at LIMIT 20"
        ).fetchall()
        overdue = conn.execute(
            "SELECT artifact_id, artifact_kind, order_id, due_at, as_of - due_at FROM retention_plan"
            " WHERE action = 'purged' ORDER BY due_at, artifact_id LIMIT 20"
        ).fetchall()
        (n_overdue,) = conn.execute("SELECT count(*) FROM retention_plan WHERE action = 'purged'").fetchone() or (0,)
    finally:
        conn.close()
    as_of, version = meta if meta else (None, None)
    table = Table(title=f"Retention plan as of {as_of} (policy {version})", title_justify="left")
    table.add_column("action")
    table.add_column("artifact kind")
    table.add_column("artifacts", justify="right")
    for action, kind, n in rows:
        label = "purge" if action == "purged" else action
        table.add_row(label, kind, f"{int(n):,}")
    out.print(table)
    if held:
        t = Table(title="Held (due, under legal hold)", title_justify="left")
        for col in ("artifact", "kind", "order", "hold", "reason", "due"):
            t.add_column(col)
        for a, k, o, h, r, d in held:
            t.add_row(a, k, o or "-", h, r, str(d))
        out.print(t)
    if overdue:
        t = Table(
            title=f"Overdue: past retention and still present ({n_overdue:,}; the run purges them)",
            title_justify="left",
        )
        for col in ("artifact", "kind", "order", "due", "overdue by"):
            t.add_column(col)
        for a, k, o, d, late in overdue:
            t.add_row(a, k, o or "-", str(d), str(late))
        out.print(t)
    out.print("Full plan: table retention_plan")


AS_OF_OPTION = click.option(
    "--as-of",
    "as_of",
    default=None,
    metavar="TS",
    help="Retention time (ISO 8601; no offset = network timezone). Default: now.",
)


@click.group()
def retention() -> None:
    """Retention runs (CONTRACT §6): plan, run, verify a purge certificate."""


@retention.command("plan")
@AS_OF_OPTION
@click.pass_context
def plan_cmd(ctx: click.Context, as_of: str | None) -> None:
    """Show what a retention run at TS would do: counts per kind and action, held artifacts with their
    hold reason, and overdue artifacts. Changes nothing but the retention_plan table."""
    home = _home(ctx)
    settings = prepare_home(home)
    when = _parse_as_of(as_of, settings)
    result = _execute(home, "retention_plan_job", when, f"Planning retention as of {when.isoformat()}")
    _raise_step_errors(result)
    print_plan(home, settings)


@retention.command("run")
@AS_OF_OPTION
@click.pass_context
def run_cmd(ctx: click.Context, as_of: str | None) -> None:
    """Carry out a retention run at TS: purge (crypto-shred) every artifact past retention and not held,
    write one retention_ledger row per artifact considered, and issue a signed purge certificate.
    A run that died part-way is completed first. Exit status 1 if anything is still overdue afterwards."""
    home = _home(ctx)
    settings = prepare_home(home)
    when = _parse_as_of(as_of, settings)
    result = _execute(home, "retention_job", when, f"Retention run as of {when.isoformat()}")
    mats = result.asset_materializations_for_node("retention_ledger")
    if not mats:
        _raise_step_errors(result)
        raise LastmileError(f"retention run {result.run_id} did not complete")
    meta: dict[str, Any] = {k: getattr(v, "value", v) for k, v in mats[-1].metadata.items()}
    for earlier in meta.get("completed_earlier_runs") or []:
        out.print(f"Completed the unfinished retention run {earlier} first.")
    table = Table(title=f"Retention run {meta['run_id']} as of {meta['as_of']}", title_justify="left")
    table.add_column("action")
    table.add_column("artifact kind")
    table.add_column("artifacts", justify="right")
    for action, kinds in sorted((meta.get("by_action_and_kind") or {}).items()):
        for kind, n in sorted(kinds.items()):
            table.add_row(action, kind, f"{int(n):,}")
    out.print(table)
    out.print(f"Purged {meta['purged']:,}, held {meta['held']:,}, retained {meta['retained']:,}.")
    out.print(f"KEKs destroyed: {meta.get('keks_destroyed') or 'none'}")
    if meta.get("space_reclaimed_runs"):
        out.print(
            f"Pack space freed: {int(meta.get('space_reclaimed_bytes') or 0):,} bytes of purged blobs "
            f"(runs {', '.join(meta['space_reclaimed_runs'])})",
            soft_wrap=True,
        )
    out.print(f"Certificate: {meta['certificate']}", soft_wrap=True)
    out.print(f"Ledger: table retention_ledger (run_id = '{meta['run_id']}')", soft_wrap=True)
    checks = result.get_asset_check_evaluations()
    if any(not c.passed for c in checks):
        err.print("[red]retention.overdue failed: artifacts past retention are still present[/]")
        ctx.exit(1)


@retention.command("verify")
@click.argument("certificate", type=click.Path(path_type=Path))
@click.option(
    "--public-key",
    "public_key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Ed25519 public key (PEM). Default: LASTMILE_HOME/audit/signing-key.pub.",
)
@click.pass_context
def verify_cmd(ctx: click.Context, certificate: Path, public_key: Path | None) -> None:
    """Verify a purge certificate: its signature, its Merkle root and counts against retention_ledger,
    and that every artifact it lists as purged is unrecoverable. Exit status 1 if any check fails."""
    from retention.purge import verify_certificate

    home = _home(ctx)
    settings = prepare_home(home)
    key_path = public_key or home.audit_dir / "signing-key.pub"
    if not key_path.is_file():
        raise LastmileError(f"public key {key_path} not found (give one with --public-key)")
    with _vault(home, settings) as (conn, vault):
        result = verify_certificate(conn, home.vault_dir, vault.keys, certificate, key_path.read_bytes())
    table = Table(title=f"Certificate {certificate} (run {result.run_id})", title_justify="left")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for name, ok, detail in result.checks:
        table.add_row(name, "[green]ok[/]" if ok else "[red]FAILED[/]", detail)
    out.print(table)
    if not result.ok:
        raise LastmileError(
            f"certificate {certificate} does not verify: " + ", ".join(n for n, ok, _ in result.checks if not ok)
        )
    out.print("[green]Certificate verified.[/]")


@click.group()
def holds() -> None:
    """Legal holds: an order's artifacts are never purged while a hold on it is active."""


@holds.command("add")
@click.argument("order_id")
@click.option("--reason", required=True, help="Why (case, matter, request); recorded with who placed it.")
@click.option("--allow-unknown", is_flag=True, help="Hold an order id the warehouse does not know (yet).")
@click.pass_context
def holds_add(ctx: click.Context, order_id: str, reason: str, allow_unknown: bool) -> None:
    """Place a legal hold on ORDER_ID (every artifact of the order). Audited."""
    from retention.holds import add_hold

    home = _home(ctx)
    settings = prepare_home(home)
    with _vault(home, settings) as (conn, _):
        hold = add_hold(
            conn, home.audit_dir, order_id, reason, actor=current_actor(), now=_now(), allow_unknown=allow_unknown
        )
    out.print(f"Hold {hold.hold_id} placed on order {hold.order_id} by {hold.placed_by}: {hold.reason}")


@holds.command("release")
@click.argument("hold_id")
@click.pass_context
def holds_release(ctx: click.Context, hold_id: str) -> None:
    """Release hold HOLD_ID; the next retention run purges what is due. Audited."""
    from retention.holds import release_hold

    home = _home(ctx)
    settings = prepare_home(home)
    with _vault(home, settings) as (conn, _):
        hold = release_hold(conn, home.audit_dir, hold_id, actor=current_actor(), now=_now())
    out.print(f"Hold {hold.hold_id} on order {hold.order_id} released by {hold.released_by}.")


@holds.command("list")
@click.option("--all", "include_released", is_flag=True, help="Include released holds.")
@click.pass_context
def holds_list(ctx: click.Context, include_released: bool) -> None:
    """List active legal holds (with --all, released ones too)."""
    from retention.holds import list_holds

    home = _home(ctx)
    settings = prepare_home(home)
    with _vault(home, settings) as (conn, _):
        rows = list_holds(conn, include_released=include_released)
    table = Table(title="Legal holds", title_justify="left")
    for col in ("hold", "order", "reason", "placed by", "placed at", "released"):
        table.add_column(col, overflow="fold")
    for h in rows:
        released = f"{h.released_at:%Y-%m-%d %H:%M} by {h.released_by}" if h.released_at else "active"
        table.add_row(h.hold_id, h.order_id, h.reason, h.placed_by, f"{h.placed_at:%Y-%m-%d %H:%M}", released)
    out.print(table)
    if not rows:
        out.print("No holds.")


@click.group()
def keys() -> None:
    """Key-encryption keys (KEKs): status, rotate, rewrap, retire."""


def print_key_status(home: Home, settings: Settings) -> None:
    from retention.keys import status

    with _vault(home, settings) as (_, vault):
        rows = status(vault)
    table = Table(title="Key-encryption keys", title_justify="left")
    for col in ("version", "line", "expiry day", "state", "live data keys", "purged", "source"):
        table.add_column(col, justify="right" if col in ("version", "live data keys", "purged") else "left")
    for s in rows:
        table.add_row(str(s.version), s.line, str(s.period or "-"), s.state, f"{s.live:,}", f"{s.purged:,}", s.source)
    out.print(table)


@keys.command("status")
@click.pass_context
def keys_status(ctx: click.Context) -> None:
    """Every KEK version: intake or expiry line, state, how many data keys it wraps."""
    home = _home(ctx)
    print_key_status(home, prepare_home(home))


@keys.command("rotate")
@click.pass_context
def keys_rotate(ctx: click.Context) -> None:
    """Make a new intake KEK version; artifacts sealed from now on are wrapped by it. Audited."""
    from lastmile.audit import AuditTrail
    from retention.keys import rotate

    home = _home(ctx)
    settings = prepare_home(home)
    now = _now()
    with _vault(home, settings) as (conn, vault):
        version = rotate(vault, now=now)
        trail = AuditTrail(conn, home.audit_dir)
        trail.append(current_actor(), "key.rotate", f"kek:{version}", {"version": version}, at=now)
        trail.checkpoint(at=now)
    out.print(
        f"New KEK version {version}: new artifacts are wrapped by it. Older versions still decrypt; "
        "`lastmile keys rewrap` moves their data keys."
    )


@keys.command("rewrap")
@click.pass_context
def keys_rewrap(ctx: click.Context) -> None:
    """Move every data key under an older intake KEK to the newest one (no artifact is decrypted). Audited."""
    from lastmile.audit import AuditTrail
    from retention.keys import rewrap

    home = _home(ctx)
    settings = prepare_home(home)
    now = _now()
    with _vault(home, settings) as (conn, vault), progress_display("Rewrapping data keys"):
        n = rewrap(vault)
        current = vault.keys.current_version()
        trail = AuditTrail(conn, home.audit_dir)
        trail.append(current_actor(), "key.rewrap", f"kek:{current}", {"data_keys": n, "to_version": current}, at=now)
        trail.checkpoint(at=now)
    out.print(f"Rewrapped {n:,} data key(s) to KEK version {current}.")


@keys.command("retire")
@click.argument("version", type=int)
@click.pass_context
def keys_retire(ctx: click.Context, version: int) -> None:
    """Destroy KEK VERSION; refused while any live data key still uses it. Audited."""
    from lastmile.audit import AuditTrail
    from retention.keys import retire

    home = _home(ctx)
    settings = prepare_home(home)
    now = _now()
    actor = current_actor()
    with _vault(home, settings) as (conn, vault):
        retire(vault, version, now=now, by=actor)
        trail = AuditTrail(conn, home.audit_dir)
        trail.append(actor, "key.retire", f"kek:{version}", {"version": version}, at=now)
        trail.checkpoint(at=now)
    out.print(f"KEK version {version} retired and its key file destroyed.")


@report.command("retention")
@click.option("--run", "run_id", required=True, metavar="RUN_ID", help="Retention run id (see retention_runs).")
@click.pass_context
def report_retention(ctx: click.Context, run_id: str) -> None:
    """Write the retention run report (self-contained HTML) into LASTMILE_HOME/reports/retention."""
    from reports.retention_report import write_retention_report

    home = _home(ctx)
    settings = prepare_home(home)
    with _vault(home, settings) as (conn, vault):
        path = write_retention_report(conn, vault, home, settings, run_id, now=_now())
    out.print(f"Retention report: {path}", soft_wrap=True)


def demo_retention(home: Home, settings: Settings) -> None:
    """Demo step: a retention run as of 120 days after the sample's first day (photos and id checks of the
    first weeks are due; signatures and contact data are retained), then its report."""
    from lastmile.warehouse import open_warehouse
    from pipelines.cli import DEFAULT_START

    as_of = dt.datetime.combine(DEFAULT_START + dt.timedelta(days=120), dt.time(2, 0), tzinfo=settings.tz)
    result = _execute(home, "retention_job", as_of, f"Retention run as of {as_of.isoformat()}")
    mats = result.asset_materializations_for_node("retention_ledger")
    if not mats:
        _raise_step_errors(result)
        return
    meta = {k: getattr(v, "value", v) for k, v in mats[-1].metadata.items()}
    from reports.retention_report import write_retention_report

    conn = open_warehouse(home, settings)
    try:
        from pipelines.defs.resources import LastmileResource

        path = write_retention_report(
            conn, LastmileResource._open_vault(home, conn), home, settings, str(meta["run_id"]), now=_now()
        )
    finally:
        conn.close()
    out.print(
        f"Retention run {meta['run_id']}: purged {meta['purged']:,}, held {meta['held']:,}, "
        f"retained {meta['retained']:,}",
        soft_wrap=True,
    )
    out.print(f"Retention report: {path}", soft_wrap=True)


cli.add_command(retention)
cli.add_command(holds)
cli.add_command(keys)
demo_steps.append(demo_retention)
