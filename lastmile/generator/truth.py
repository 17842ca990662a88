"""Ground truth: the contract's check definitions (CONTRACT §4) evaluated over the data as loaded.

This is a small, independent reference evaluation in polars, used to list every check the generated
landing folder trips (injected faults and anything the generator's own randomness trips alike).
Times are epoch seconds (UTC); partitions are network-timezone dates.
"""

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any

import polars as pl

from lastmile.codes import (
    ATTEMPT_STATUSES,
    CODE_STATUSES,
    DELIVERY,
    EXCEPTION_CODES,
    IN_FLIGHT_STATUSES,
    REQUIRED_PROOFS,
    TERMINAL_STATUSES,
)
from lastmile.generator.network import EARTH_RADIUS_M

STALLED_STATUSES = IN_FLIGHT_STATUSES
ADDRESS_CODES = ("address_not_found", "address_mismatch")
DAY = 86_400


@dataclass(frozen=True)
class Thresholds:
    """CONTRACT §4 defaults."""

    latency_s: float = 15 * 60
    clock_skew_s: float = 5 * 60
    proof_window_s: float = 30 * 60
    distance_m: float = 250.0
    stalled_s: float = 12 * 3600
    unresolved_days: int = 7  # windows in days are calendar days in the network timezone (see plus_days)
    repeat_min_events: int = 3
    repeat_min_orders: int = 2
    repeat_window_days: int = 28
    hotspot_window_days: int = 7
    hotspot_z: float = 3.0
    hotspot_min_failures: int = 5


_PHONE_STRIP = re.compile(r"[ .\-()]")
_PHONE_OK = re.compile(r"\+[1-9][0-9]{7,14}")
_NON_WORD = re.compile(r"[^0-9a-z ]")
_SPACES = re.compile(r"\s+")


def phone_possible(phone: str | None) -> bool:
    return phone is not None and _PHONE_OK.fullmatch(_PHONE_STRIP.sub("", phone)) is not None


def email_possible(email: str | None) -> bool:
    if email is None or email.count("@") != 1:
        return False
    local, domain = email.split("@")
    return bool(local) and "." in domain[1:-1]


def contact_reachable(phone: str | None, email: str | None) -> bool:
    return phone_possible(phone) or email_possible(email)


def address_key(postcode: str, address_line: str) -> str:
    line = _NON_WORD.sub("", address_line.lower())
    return f"{postcode.strip().lower()}|{_SPACES.sub(' ', line).strip()}"


def plus_days(ts: int, n: int, timezone: str) -> int:
    """ts + n calendar days in `timezone` (epoch seconds), the wall-clock time kept across a DST change.

    Read as the warehouse reads it (DuckDB/ICU): a wall time that falls in a spring-forward gap, or is
    ambiguous in an autumn fall-back, takes the standard-time offset.
    """
    zone = _zone(timezone)
    wall = dt.datetime.fromtimestamp(ts, zone).replace(tzinfo=None) + dt.timedelta(days=n)
    candidates = [wall.replace(tzinfo=zone, fold=f) for f in (0, 1)]
    if candidates[0].utcoffset() != candidates[1].utcoffset():
        standard = [c for c in candidates if not c.dst()]
        if standard:
            return int(standard[0].timestamp())
    return int(candidates[0].timestamp())


def _haversine(lat1: pl.Expr, lon1: pl.Expr, lat2: pl.Expr, lon2: pl.Expr) -> pl.Expr:
    p1, p2 = lat1.radians(), lat2.radians()
    dp, dl = p2 - p1, (lon2 - lon1).radians()
    a = (dp / 2).sin().pow(2) + p1.cos() * p2.cos() * (dl / 2).sin().pow(2)
    return 2 * EARTH_RADIUS_M * a.sqrt().arcsin()


def _local_date(col: str, tz: str) -> pl.Expr:
    return pl.from_epoch(pl.col(col), time_unit="s").dt.replace_time_zone("UTC").dt.convert_time_zone(tz).dt.date()


def _rows(
    df: pl.DataFrame, check_id: str, entity_kind: str, entity: str, order: str | None, part: str
) -> list[dict[str, Any]]:
    cols = [pl.col(entity).alias("entity_id"), (pl.col(order) if order else pl.lit(None, pl.String)).alias("order_id")]
    out = df.select([*cols, pl.col(part).alias("partition_date")])
    return [
        {
            "type": "check",
            "check_id": check_id,
            "entity_kind": entity_kind,
            "entity_id": r["entity_id"],
            "order_id": r["order_id"],
            "partition_date": r["partition_date"].isoformat(),
        }
        for r in out.iter_rows(named=True)
    ]


def evaluate(
    orders: pl.DataFrame,
    events: pl.DataFrame,
    proofs: pl.DataFrame,
    *,
    conflicted_event_ids: list[str],
    as_of: int,
    timezone: str,
    th: Thresholds | None = None,
) -> list[dict[str, Any]]:
    """Every check finding of CONTRACT §4 (partner checks aside) on the loaded tables.

    orders: order_id, created_at, service_type, zone_id, lat, lon, address_key, reachable, order_type,
        original_order_id
    events: event_id, order_id, status, code, occ, rec, courier_id, lat, lon
    proofs: proof_id, order_id, kind, captured, valid
    """
    th = th or Thresholds()
    found: list[dict[str, Any]] = []
    ev = events.with_columns(_local_date("occ", timezone).alias("part"))
    od = orders.with_columns(_local_date("created_at", timezone).alias("part"))
    as_of_date = dt.datetime.fromtimestamp(as_of, dt.UTC).astimezone(_zone(timezone)).date()

    # per-event checks
    found += _rows(
        ev.filter((pl.col("rec") - pl.col("occ")) > th.latency_s),
        "event.latency",
        "event",
        "event_id",
        "order_id",
        "part",
    )
    found += _rows(
        ev.filter((pl.col("occ") - pl.col("rec")) > th.clock_skew_s),
        "event.clock_skew",
        "event",
        "event_id",
        "order_id",
        "part",
    )
    orphan = ev.join(od.select("order_id"), on="order_id", how="anti")
    found += _rows(orphan, "event.orphan", "event", "event_id", "order_id", "part")
    needs = pl.col("status").is_in(CODE_STATUSES)
    bad_code = (
        pl.when(needs)
        .then(pl.col("code").is_null() | ~pl.col("code").is_in(EXCEPTION_CODES))
        .otherwise(pl.col("code").is_not_null())
    )
    found += _rows(ev.filter(bad_code), "event.exception_code_invalid", "event", "event_id", "order_id", "part")
    found += _rows(
        ev.filter(pl.col("event_id").is_in(conflicted_event_ids)),
        "event.conflict",
        "event",
        "event_id",
        "order_id",
        "part",
    )
    first_term = (
        ev.filter(pl.col("status").is_in(TERMINAL_STATUSES))
        .group_by("order_id")
        .agg(pl.col("occ").min().alias("t_term"))
    )
    after = ev.join(first_term, on="order_id").filter(pl.col("occ") > pl.col("t_term"))
    found += _rows(after, "event.after_terminal", "event", "event_id", "order_id", "part")

    # event.sequence_gap
    att = ev.filter(pl.col("status").is_in(ATTEMPT_STATUSES)).sort("order_id", "occ", "event_id")
    att = att.with_columns(pl.col("occ").shift(1).over("order_id").alias("prev_occ"))
    ofd = (
        ev.filter(pl.col("status") == "out_for_delivery")
        .select("order_id", pl.col("occ").alias("ofd_occ"))
        .sort("ofd_occ")
    )
    att = att.sort("occ").join_asof(
        ofd, left_on="occ", right_on="ofd_occ", by="order_id", strategy="backward", check_sortedness=False
    )
    gap = att.filter(
        pl.col("ofd_occ").is_null() | (pl.col("prev_occ").is_not_null() & (pl.col("ofd_occ") <= pl.col("prev_occ")))
    )
    found += _rows(gap, "event.sequence_gap", "event", "event_id", "order_id", "part")

    # address.distance_mismatch
    geo = (
        ev.filter(pl.col("status").is_in(ATTEMPT_STATUSES) & pl.col("lat").is_not_null())
        .join(
            od.filter(pl.col("lat").is_not_null()).select(
                "order_id", "zone_id", pl.col("lat").alias("alat"), pl.col("lon").alias("alon")
            ),
            on="order_id",
        )
        .with_columns(
            (_haversine(pl.col("lat"), pl.col("lon"), pl.col("alat"), pl.col("alon")) > th.distance_m).alias("far")
        )
    )
    found += _rows(geo.filter(pl.col("far")), "address.distance_mismatch", "event", "event_id", "order_id", "part")

    # per-order checks
    found += _rows(od.filter(pl.col("lat").is_null()), "address.ungeocoded", "order", "order_id", "order_id", "part")
    found += _rows(
        od.filter(~pl.col("reachable")), "order.contact_unreachable", "order", "order_id", "order_id", "part"
    )

    # proof.missing / proof.invalid
    first_del = ev.filter(pl.col("status") == "delivered").group_by("order_id").agg(pl.col("occ").min().alias("t_del"))
    first_del = first_del.join(
        od.filter(pl.col("order_type") == DELIVERY).select("order_id", "service_type"), on="order_id"
    )
    req = pl.DataFrame(
        [(st, kind) for st, kinds in REQUIRED_PROOFS.items() for kind in kinds],
        schema=["service_type", "kind"],
        orient="row",
    )
    need = first_del.join(req, on="service_type")
    have = (
        need.join(proofs.select("order_id", "kind", "captured"), on=["order_id", "kind"])
        .filter((pl.col("captured") - pl.col("t_del")).abs() <= th.proof_window_s)
        .select("order_id", "kind")
        .unique()
    )
    missing = need.join(have, on=["order_id", "kind"], how="anti").select("order_id", "t_del").unique()
    missing = missing.with_columns(_local_date("t_del", timezone).alias("part"))
    found += _rows(missing, "proof.missing", "order", "order_id", "order_id", "part")
    pr = proofs.with_columns(_local_date("captured", timezone).alias("part"))
    found += _rows(pr.filter(~pl.col("valid")), "proof.invalid", "proof", "proof_id", "order_id", "part")

    # window checks at as_of
    upto = ev.filter(pl.col("occ") <= as_of)
    latest = upto.group_by("order_id").agg(pl.col("status").sort_by("occ", "event_id").last(), pl.col("occ").max())
    stalled = latest.filter(pl.col("status").is_in(STALLED_STATUSES) & ((as_of - pl.col("occ")) > th.stalled_s))
    found += _window(stalled["order_id"].to_list(), "event.stalled", "order", as_of_date, with_order=True)

    exc = (
        ev.filter(pl.col("status").is_in(("delivery_attempted", "exception")))
        .group_by("order_id")
        .agg(pl.col("occ").min().alias("t_exc"))
    )
    exc = exc.filter(pl.col("t_exc") <= plus_days(as_of, -th.unresolved_days, timezone))
    exc = exc.with_columns(
        pl.col("t_exc")
        .map_elements(lambda t: plus_days(t, th.unresolved_days, timezone), return_dtype=pl.Int64)
        .alias("t_close")
    )
    terms = ev.filter(pl.col("status").is_in(TERMINAL_STATUSES)).select("order_id", pl.col("occ").alias("t_term"))
    resolved = (
        exc.join(terms, on="order_id")
        .filter((pl.col("t_term") > pl.col("t_exc")) & (pl.col("t_term") <= pl.col("t_close")))
        .select("order_id")
        .unique()
    )
    unresolved = exc.join(resolved, on="order_id", how="anti")
    found += _window(unresolved["order_id"].to_list(), "exception.unresolved", "order", as_of_date, with_order=True)

    rep = (
        ev.filter(
            pl.col("code").is_in(ADDRESS_CODES)
            & (pl.col("occ") > plus_days(as_of, -th.repeat_window_days, timezone))
            & (pl.col("occ") <= as_of)
        )
        .join(od.select("order_id", "address_key"), on="order_id")
        .group_by("address_key")
        .agg(pl.len().alias("n"), pl.col("order_id").n_unique().alias("orders"))
        .filter((pl.col("n") >= th.repeat_min_events) & (pl.col("orders") >= th.repeat_min_orders))
    )
    found += _window(rep["address_key"].to_list(), "address.repeat_failure", "address", as_of_date, with_order=False)

    win = geo.filter((pl.col("occ") > plus_days(as_of, -th.hotspot_window_days, timezone)) & (pl.col("occ") <= as_of))
    n_all = win.height
    if n_all:
        p = float(win["far"].sum()) / n_all
        if 0 < p < 1:
            for dim, prefix in (("zone_id", "zone"), ("courier_id", "courier")):
                grp = (
                    win.filter(pl.col(dim).is_not_null())
                    .group_by(dim)
                    .agg(pl.len().alias("n"), pl.col("far").sum().alias("f"))
                )
                hits = []
                for key, n_raw, f_raw in grp.iter_rows():
                    n, f = int(n_raw), int(f_raw)
                    z = (f / n - p) / math.sqrt(p * (1 - p) / n)
                    if z > th.hotspot_z and f >= th.hotspot_min_failures:
                        hits.append(f"{prefix}:{key}")
                found += _window(hits, "address.hotspot", prefix, as_of_date, with_order=False)
    return found


def _window(ids: list[str], check_id: str, kind: str, day: dt.date, *, with_order: bool) -> list[dict[str, Any]]:
    return [
        {
            "type": "check",
            "check_id": check_id,
            "entity_kind": kind,
            "entity_id": i,
            "order_id": i if with_order else None,
            "partition_date": day.isoformat(),
        }
        for i in ids
    ]


def _zone(timezone: str) -> dt.tzinfo:
    import zoneinfo

    return zoneinfo.ZoneInfo(timezone)
