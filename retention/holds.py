"""Legal holds: an order, a reason and who placed it; active until released. Every hold placed or
released is an audit entry (who, when, why)."""

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from lastmile.audit import AuditTrail
from lastmile.errors import LastmileError
from lastmile.warehouse import apply_schema_file, begin, commit, rollback
from retention.store import ensure_schema


class HoldError(LastmileError):
    """A hold request that cannot be carried out (unknown order or hold, already released, no reason)."""


@dataclass(frozen=True)
class Hold:
    hold_id: str
    order_id: str
    reason: str
    placed_by: str
    placed_at: dt.datetime
    released_by: str | None
    released_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.released_at is None


_COLUMNS = "hold_id, order_id, reason, placed_by, placed_at, released_by, released_at"


def _order_known(conn: duckdb.DuckDBPyConnection, order_id: str) -> bool:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM order_revisions WHERE order_id = $o)"
        " + (SELECT count(*) FROM vault_artifacts WHERE order_id = $o)"
        " + (SELECT count(*) FROM intake_events WHERE order_id = $o)",
        {"o": order_id},
    ).fetchone()
    return bool(row and row[0])


def add_hold(
    conn: duckdb.DuckDBPyConnection,
    audit_dir: Path,
    order_id: str,
    reason: str,
    *,
    actor: str,
    now: dt.datetime,
    allow_unknown: bool = False,
) -> Hold:
    """Place a hold on every artifact of `order_id`; returns it (hold ids are H-1, H-2, ...)."""
    ensure_schema(conn)
    order_id, reason = order_id.strip(), reason.strip()
    if not order_id:
        raise HoldError("a hold needs an order id")
    if not reason:
        raise HoldError("a hold needs a reason (--reason TEXT)")
    apply_schema_file(conn, "lastmile.vault", "schema.sql")
    if not allow_unknown and not _order_known(conn, order_id):
        raise HoldError(f"order {order_id!r} is not in the warehouse (use --allow-unknown to hold it anyway)")
    trail = AuditTrail(conn, audit_dir)
    begin(conn)
    try:
        (n,) = conn.execute(
            "SELECT coalesce(max(TRY_CAST(substr(hold_id, 3) AS BIGINT)), 0) + 1 FROM legal_holds"
        ).fetchone() or (1,)
        hold = Hold(f"H-{n}", order_id, reason, actor, now, None, None)
        conn.execute(
            f"INSERT INTO legal_holds ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, NULL)",
            [hold.hold_id, order_id, reason, actor, now],
        )
        trail.append(actor, "hold.place", f"order:{order_id}", {"hold_id": hold.hold_id, "reason": reason}, at=now)
        commit(conn)
    except BaseException:
        rollback(conn)
        raise
    trail.checkpoint(at=now)
    return hold


def release_hold(
    conn: duckdb.DuckDBPyConnection, audit_dir: Path, hold_id: str, *, actor: str, now: dt.datetime
) -> Hold:
    """Release an active hold; its order's artifacts are purged by the next run once due."""
    ensure_schema(conn)
    holds = [h for h in list_holds(conn, include_released=True) if h.hold_id == hold_id.strip()]
    if not holds:
        raise HoldError(f"hold {hold_id!r} does not exist (see `lastmile holds list`)")
    hold = holds[0]
    if not hold.active:
        raise HoldError(f"hold {hold.hold_id} was already released by {hold.released_by} at {hold.released_at}")
    trail = AuditTrail(conn, audit_dir)
    begin(conn)
    try:
        conn.execute(
            "UPDATE legal_holds SET released_by = ?, released_at = ? WHERE hold_id = ?", [actor, now, hold.hold_id]
        )
        trail.append(
            actor, "hold.release", f"order:{hold.order_id}", {"hold_id": hold.hold_id, "reason": hold.reason}, at=now
        )
        commit(conn)
    except BaseException:
        rollback(conn)
        raise
    trail.checkpoint(at=now)
    return Hold(hold.hold_id, hold.order_id, hold.reason, hold.placed_by, hold.placed_at, actor, now)


def list_holds(conn: duckdb.DuckDBPyConnection, *, include_released: bool = False) -> list[Hold]:
    ensure_schema(conn)
    where = "" if include_released else " WHERE released_at IS NULL"
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM legal_holds{where} ORDER BY TRY_CAST(substr(hold_id, 3) AS BIGINT), hold_id"
    ).fetchall()
    return [Hold(*r) for r in rows]
