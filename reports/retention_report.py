"""The retention run report: one self-contained HTML page for a compliance officer (policy in force,
purged, held with reasons and hold age, retained, overdue, certificate fingerprint and verification,
key status). Rendered with jinja2 (autoescape on); no script, no network."""

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import jinja2

from lastmile.errors import LastmileError
from lastmile.settings import Home, Settings
from lastmile.vault import Vault
from lastmile.vault.keyring import LocalKeyring
from retention.certificate import CertificateError
from retention.keys import status as key_status
from retention.plan import build_plan
from retention.policy import load_policy, policy_path
from retention.purge import certificate_fingerprint, verify_certificate
from retention.store import ensure_schema, q

LIST_LIMIT = 500


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        undefined=jinja2.StrictUndefined,
    )


def retention_report_data(
    conn: duckdb.DuckDBPyConnection, vault: Vault, home: Home, settings: Settings, run_id: str, *, now: dt.datetime
) -> dict[str, Any]:
    ensure_schema(conn)
    run = q(conn, "run_row", run_id=run_id).fetchone()
    if run is None:
        raise LastmileError(f"retention run {run_id!r} not found (see table retention_runs)")
    cols = [
        "run_id",
        "as_of",
        "policy_version",
        "policy_hash",
        "policy_source",
        "actor",
        "started_at",
        "finished_at",
        "status",
        "purged",
        "held",
        "retained",
        "merkle_root",
        "certificate_path",
        "certificate_sha256",
        "keks_destroyed",
    ]
    info = dict(zip(cols, run, strict=True))
    counts: dict[str, dict[str, int]] = {}
    for action, kind, n in q(conn, "run_counts", run_id=run_id).fetchall():
        counts.setdefault(str(action), {})[str(kind)] = int(n)
    kinds = sorted({k for c in counts.values() for k in c})
    purged = conn.execute(
        "SELECT artifact_id, artifact_kind, order_id, due_at, reason FROM retention_ledger"
        " WHERE run_id = ? AND action = 'purged' ORDER BY due_at, artifact_id LIMIT ?",
        [run_id, LIST_LIMIT],
    ).fetchall()
    held = conn.execute(
        "SELECT l.artifact_id, l.artifact_kind, l.order_id, l.hold_id, h.reason, h.placed_by, h.placed_at,"
        " h.released_at, l.due_at FROM retention_ledger l LEFT JOIN legal_holds h USING (hold_id)"
        " WHERE l.run_id = ? AND l.action = 'held' ORDER BY h.placed_at, l.artifact_id LIMIT ?",
        [run_id, LIST_LIMIT],
    ).fetchall()
    held_rows = [
        {
            "artifact_id": a,
            "kind": k,
            "order_id": o,
            "hold_id": h,
            "reason": r,
            "placed_by": by,
            "placed_at": at,
            "released_at": rel,
            "due_at": due,
            "age_days": ((rel or now) - at).days if at else None,
        }
        for a, k, o, h, r, by, at, rel, due in held
    ]
    retained = conn.execute(
        "SELECT artifact_kind, count(*), min(due_at) FROM retention_ledger WHERE run_id = ? AND action = 'retained'"
        " GROUP BY 1 ORDER BY 1",
        [run_id],
    ).fetchall()
    policy_error = None
    overdue: list[Any] = []
    overdue_total = 0
    try:
        policy = load_policy(policy_path(settings.retention_policy_file, home.root))
        build_plan(conn, policy, settings, now)
        overdue = conn.execute(
            "SELECT artifact_id, artifact_kind, order_id, due_at FROM _retention_plan WHERE action = 'purged'"
            " ORDER BY due_at, artifact_id LIMIT ?",
            [LIST_LIMIT],
        ).fetchall()
        (overdue_total,) = conn.execute("SELECT count(*) FROM _retention_plan WHERE action = 'purged'").fetchone() or (
            0,
        )
        policy_days = policy.retention_days
        policy_now = policy
    except LastmileError as exc:
        policy_error = str(exc)
        policy_days = {}
        policy_now = None
    cert_path = Path(str(info["certificate_path"])) if info["certificate_path"] else None
    fingerprint = None
    verification: list[tuple[str, bool, str]] = []
    verified = False
    if cert_path is not None and cert_path.is_file():
        fingerprint = certificate_fingerprint(cert_path)
        pub = home.audit_dir / "signing-key.pub"
        try:
            assert isinstance(vault.keys, LocalKeyring)
            result = verify_certificate(conn, home.vault_dir, vault.keys, cert_path, pub.read_bytes())
            verification, verified = result.checks, result.ok
        except (CertificateError, OSError, LastmileError) as exc:
            verification = [("certificate", False, str(exc))]
    return {
        "run": info,
        "counts": counts,
        "kinds": kinds,
        "purged": purged,
        "purged_total": counts.get("purged", {}),
        "held": held_rows,
        "retained": retained,
        "overdue": overdue,
        "overdue_total": overdue_total,
        "policy": policy_now,
        "policy_days": policy_days,
        "policy_error": policy_error,
        "policy_matches_run": bool(policy_now and policy_now.hash == info["policy_hash"]),
        "fingerprint": fingerprint,
        "verification": verification,
        "verified": verified,
        "keys": key_status(vault),
        "now": now,
        "limit": LIST_LIMIT,
        "timezone": settings.network_timezone,
    }


def render_retention_report(data: dict[str, Any]) -> str:
    return _env().get_template("retention.html.j2").render(**data)


def write_retention_report(
    conn: duckdb.DuckDBPyConnection, vault: Vault, home: Home, settings: Settings, run_id: str, *, now: dt.datetime
) -> Path:
    html = render_retention_report(retention_report_data(conn, vault, home, settings, run_id, now=now))
    path = home.reports_dir / "retention" / f"{run_id}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
