"""`lastmile audit verify`, `lastmile audit trace ORDER_ID`, `lastmile proofs open PROOF_ID`.

verify and trace run the audit jobs of pipelines/defs/audit in-process (recorded in the Dagster instance of
LASTMILE_HOME). `proofs open` runs in this process only, on purpose: the person asking is the one checked
against the access file and logged, and the decrypted proof never passes through Dagster's run storage.
"""

import json
import os
from pathlib import Path
from typing import Any

import click
import dagster as dg

from lastmile.errors import LastmileError
from lastmile.settings import Home, Settings
from pipelines.cli import (
    PID_TAG,
    QUIET_LOGGERS,
    _lastmile_cause,
    _run_job,
    cli,
    demo_steps,
    out,
    prepare_home,
    release_dead_runs,
)


def _home(ctx: click.Context) -> Home:
    home = ctx.obj
    assert isinstance(home, Home)
    return home


def _failure(exc: BaseException) -> dg.Failure | None:
    """The dg.Failure an op raised, behind Dagster's wrapping."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, dg.Failure):
            return current
        todo.extend([getattr(current, "user_exception", None), current.__cause__, current.__context__])
    return None


def run_verify(home: Home) -> dict[str, Any]:
    """Run audit_verify_job; returns ok, entries, checkpoints, finding, first_bad_seq."""
    from pipelines.definitions import defs as load_definitions

    job = load_definitions().resolve_job_def("audit_verify_job")
    with dg.DagsterInstance.get() as instance:
        release_dead_runs(instance)
        try:
            result = job.execute_in_process(
                instance=instance, run_config=QUIET_LOGGERS, tags={PID_TAG: str(os.getpid())}
            )
        except Exception as exc:
            failure = _failure(exc)
            if failure is None:
                cause = _lastmile_cause(exc)
                if cause is not None:
                    raise cause from None
                raise
            meta = {k: getattr(v, "value", v) for k, v in failure.metadata.items()}
            return {"ok": False, **meta}
    data = result.output_for_node("audit_verify")
    assert isinstance(data, dict)
    return {**data, "first_bad_seq": None}


def run_trace_job(home: Home, order_id: str, fmt: str, out_file: Path | None) -> dict[str, Any]:
    from pipelines.definitions import defs as load_definitions

    job = load_definitions().resolve_job_def("audit_trace_job")
    config = {"order_id": order_id, "format": fmt, "out": str(out_file) if out_file else ""}
    with dg.DagsterInstance.get() as instance:
        result = _run_job(job, instance, run_config={**QUIET_LOGGERS, "ops": {"audit_trace": {"config": config}}})
    data = result.output_for_node("audit_trace")
    assert isinstance(data, dict)
    return data


@click.group()
def audit() -> None:
    """The tamper-evident audit trail: verify it, and trace one order's whole story."""


@audit.command()
@click.pass_context
def verify(ctx: click.Context) -> None:
    """Check the audit trail for tampering.

    Recomputes every entry's hash and the chain, the Merkle root at every signed checkpoint, and every
    checkpoint signature. Prints one line: the log is intact (with counts), or the first entry or
    checkpoint that fails. Exit status 0 when intact, 1 when not.
    """
    home = _home(ctx)
    prepare_home(home)
    report = run_verify(home)
    if report["ok"]:
        out.print(report["finding"], soft_wrap=True)
        return
    first = report.get("first_bad_seq")
    where = f"first failing entry {first}" if first is not None else "no entry named: a checkpoint fails"
    out.print(
        f"audit trail NOT intact: {report['finding']} ({where}; {report['entries']} entries, "
        f"{report['checkpoints']} checkpoints)",
        soft_wrap=True,
        markup=False,
    )
    ctx.exit(1)


@audit.command()
@click.argument("order_id")
@click.option("--format", "fmt", type=click.Choice(["html", "json"]), default="html", show_default=True,
              help="html: a self-contained page that prints well; json: the same facts as data.")  # fmt: skip
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output file. Default: LASTMILE_HOME/reports/trace-<order>.html for html, standard output "
              "for json.")  # fmt: skip
@click.pass_context
def trace(ctx: click.Context, order_id: str, fmt: str, out_file: Path | None) -> None:
    """Write the whole story of ORDER_ID, in time order.

    The order and its revisions (address corrections shown), every event with its source, exception code
    and attribution, proofs and their retention state, legal holds, data-quality findings, quarantined rows,
    the final outcome, and the audit entries that touched it, each with its inclusion proof against the
    latest signed checkpoint. Needs a role in LASTMILE_HOME/access.yaml (auditor, compliance_officer or
    ops_viewer); every trace and every refusal is logged in the audit trail.
    """
    home = _home(ctx)
    prepare_home(home)
    data = run_trace_job(home, order_id, fmt, out_file.expanduser().resolve() if out_file else None)
    if data["path"] is None:
        click.echo(data["text"], nl=False)
    else:
        out.print(f"Trace of order {order_id} ({data['outcome']}) written to {data['path']}", soft_wrap=True,
                  markup=False)  # fmt: skip


@click.group()
def proofs() -> None:
    """Proof-of-delivery artifacts kept encrypted in the vault."""


@proofs.command(name="open")
@click.argument("proof_id")
@click.option("--reason", default=None, metavar="TEXT",
              help="Why the proof is opened (mandatory, e.g. the dispute reference); logged.")  # fmt: skip
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="File to write the decrypted proof to (mode 0600).")  # fmt: skip
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.pass_context
def open_(ctx: click.Context, proof_id: str, reason: str | None, out_file: Path, force: bool) -> None:
    """Decrypt one proof (signature, photo, ID check) into a file, for a dispute.

    Allowed for auditors and compliance officers named in LASTMILE_HOME/access.yaml; ops viewers are
    refused. Every opening and every refusal is an entry in the audit trail (who, which proof, the reason,
    the outcome). A purged proof answers with when and by which retention run it was purged.
    """
    import os

    from lastmile.access import load_access
    from lastmile.actor import current_actor
    from lastmile.audit.disclosure import open_proof
    from lastmile.vault import Vault
    from lastmile.vault.keyring import open_keyring
    from lastmile.warehouse import open_warehouse
    from pipelines.defs.resources import utc_now

    home = _home(ctx)
    settings = prepare_home(home)
    access = load_access(home.root)
    conn = open_warehouse(home, settings)
    try:
        vault = Vault(conn, home.vault_dir, open_keyring(home.keys_dir, environ=os.environ))
        opened = open_proof(
            conn,
            home,
            vault,
            proof_id,
            reason=reason,
            out=out_file.expanduser().absolute(),
            force=force,
            actor=current_actor(),
            access=access,
            at=utc_now(),
        )
    finally:
        conn.close()
    out.print(
        f"Proof {opened.proof_id} of order {opened.order_id}: {opened.size:,} bytes written to {opened.out} "
        f"(sha256 {opened.sha256}); logged as audit entry {opened.audit_seq}",
        soft_wrap=True,
        markup=False,
    )


cli.add_command(audit)
cli.add_command(proofs)


# ----------------------------------------------------------------------------------------------- demo

DEMO_ACCESS = """\
# LASTMILE_HOME/access.yaml: who may do what (docs/audit.md). Written by `lastmile demo` for the sample
# network, naming the user who ran it as auditor. Edit it: roles are auditor, compliance_officer, ops_viewer.
auditor:
  - {actor}
"""


def demo_audit(home: Home, settings: Settings) -> None:
    """Demo step: trace a re-attempted order, then verify the audit trail."""
    from lastmile.access import access_path
    from lastmile.actor import current_actor
    from lastmile.warehouse import open_warehouse, run_sql

    path = access_path(home.root)
    if not path.exists():
        path.write_text(DEMO_ACCESS.format(actor=json.dumps(current_actor())), encoding="utf-8")
        path.chmod(0o644)
        out.print(f"Access file:      {path} (written for the demo: you are an auditor)", soft_wrap=True)
    conn = open_warehouse(home, settings, read_only=True)
    try:
        row = run_sql(conn, "reports", "sql/trace_demo_order.sql").fetchone()
    finally:
        conn.close()
    if row is not None:
        try:
            data = run_trace_job(home, str(row[0]), "html", None)
            out.print(f"Audit trace:      {data['path']} (order {row[0]}: failed attempt, re-attempt, "
                      f"{data['outcome']})", soft_wrap=True, markup=False)  # fmt: skip
        except LastmileError as exc:
            out.print(f"Audit trace:      not written: {exc}", soft_wrap=True, markup=False)
    report = run_verify(home)
    out.print(f"Audit trail:      {report['finding']}", soft_wrap=True, markup=False)


demo_steps.append(demo_audit)
