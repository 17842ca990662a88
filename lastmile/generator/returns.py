"""Return pickups in the sample network (CONTRACT §9): clean returns, their faults, and their ground truth.

A share of cleanly delivered orders (RETURN_RATE) gets a `return_pickup` order, created 6 h to 3 days
after the delivery, at the same address and contact. Its lifecycle: created → next day dispatched →
out_for_delivery → arrived → picked_up (a photo of the accepted parcel captured 10 s to 3 min after)
→ return_received at the depot the day after; 12% first fail (delivery_attempted, recipient_unavailable)
and are collected the next day with a fresh dispatch and out_for_delivery; 4% are cancelled by the
customer before the pickup. Return orders are named `RT<yymmdd><n>`, their events `rv-…` and proofs
`rp-…`, all drawn from their own random stream, so adding returns leaves every delivery unchanged.

Faults (FaultRates; the rate is the share of orders, at least one return each when above 0):
    return.acceptance_missing  0.002  no acceptance photo, or one captured 31-90 min from the pickup
    return.unlinked            0.002  original_order_id names no order, or names another return pickup
    return.before_delivery     0.002  the return is created before its original was delivered
    return.conflicting_update  0.002  the original order gets a delivered / out_for_delivery scan after
                                      the pickup
    return.pickup_overdue      0.002  nobody collects: no event after created, or two failed pickups
One return row without original_order_id is written per run when quarantine.missing_required is above
0 (quarantined `missing_required`), and `quarantine.unknown_order_type` rows are orders with order_type
`exchange` (core._bad_order).

`evaluate_returns` is the reference evaluation of the five §9 checks for the ground truth.
"""

import datetime as dt
import random
from typing import TYPE_CHECKING, Any

import polars as pl

from lastmile.codes import (
    DELIVERY,
    RETURN_ACCEPTANCE_KIND,
    RETURN_CONFLICTING_STATUSES,
    RETURN_PICKUP,
    RETURN_SETTLED_STATUSES,
)
from lastmile.generator.faults import RETURN_FAULT_DEFAULTS
from lastmile.generator.truth import _local_date, _rows, _window, _zone, plus_days

if TYPE_CHECKING:
    from lastmile.generator.core import Ctx, _Generator

RETURN_RATE = 0.03  # share of cleanly delivered orders that get a return pickup
RETURN_FAIL_RATE = 0.12
RETURN_CANCEL_RATE = 0.04
RETURN_FAULTS = tuple(RETURN_FAULT_DEFAULTS)
VARIANTS = dict.fromkeys(RETURN_FAULTS, 2)
ACCEPTANCE_WINDOW_S = 30 * 60
OVERDUE_DAYS = 3


class ReturnPickups:
    """Builds return pickups for each day's delivered orders; `_Generator` calls `day` once per day."""

    def __init__(self, gen: "_Generator") -> None:
        self.gen = gen
        self.rng = random.Random(f"{gen.seed}:returns")
        self.ev_counter = 0
        self.pf_counter = 0
        self.rt_counter = 0
        self.made: list[str] = []  # return order ids, for the return-of-a-return fault
        # day index -> faults to place on that day's delivered orders (variant cycles per kind)
        self.plan: dict[int, list[tuple[str, int]]] = {}
        n = gen.days * gen.opd
        for kind in RETURN_FAULTS:
            rate = gen.rates[kind]
            count = 0 if rate <= 0 else max(1, round(rate * n))
            hi = gen.days - 1
            if kind == "return.pickup_overdue":
                hi = max(0, gen.days - 6)  # created at least 3 days before as_of
            for k in range(count):
                self.plan.setdefault(self.rng.randint(0, hi), []).append((kind, k % VARIANTS[kind]))
        self.missing_original_written = gen.rates["quarantine.missing_required"] <= 0

    # ------------------------------------------------------------------ per day
    def day(self, d: int, day_orders: "list[Ctx]") -> None:
        rng = self.rng
        candidates = [c for c in day_orders if _cleanly_delivered(c)]
        faults = list(self.plan.pop(d, []))
        rng.shuffle(candidates)
        for ctx in candidates:
            if faults:
                fault, variant = faults.pop()
            elif rng.random() < RETURN_RATE:
                fault, variant = None, 0
            else:
                continue
            self._return(ctx, fault, variant)
        if not self.missing_original_written and candidates:
            self._missing_original(candidates[0])
            self.missing_original_written = True

    # ------------------------------------------------------------------ one return
    def _return(self, orig: "Ctx", fault: str | None, variant: int) -> None:
        gen, rng = self.gen, self.rng
        t_del = min(e.occ for e in orig.events if e.status == "delivered")
        if fault == "return.before_delivery":
            created = t_del - rng.randint(600, 3 * 3600)
        else:
            created = t_del + rng.randint(6 * 3600, 3 * 86400)
        original_id = orig.order["order_id"]
        if fault == "return.unlinked":
            original_id = self.made[-1] if variant == 1 and self.made else f"{original_id}X"
        day = gen.tf.local_date(created)
        self.rt_counter += 1
        o = {k: v for k, v in orig.order.items() if not k.startswith("_")}
        o.update(order_id=f"RT{day:%y%m%d}{self.rt_counter:05d}", created_at=created, window_start=None,
                 window_end=None, order_type=RETURN_PICKUP, original_order_id=original_id)  # fmt: skip
        self._add_order(o, created)
        self.made.append(o["order_id"])
        if fault is not None:
            gen._count(fault)
        events: list[Any] = []
        oid = o["order_id"]
        depot = gen.net.depots[o["depot_id"]]
        true_pos = orig.order["_true"]
        events.append(self._ev(oid, "created", created, "dispatch"))
        if fault is None and rng.random() < RETURN_CANCEL_RATE:
            events.append(self._ev(oid, "cancelled", created + rng.randint(600, 4 * 3600), "support"))
            self._route(events)
            return
        if fault == "return.pickup_overdue" and variant == 0:
            self._route(events)
            return
        day_i = (day - gen.start).days + 1
        fails = (
            2 if fault == "return.pickup_overdue" else (1 if fault is None and rng.random() < RETURN_FAIL_RATE else 0)
        )
        for k in range(fails + 1):
            courier = rng.choice(orig.zone.couriers)
            ds = gen.day_start(day_i + k)
            t_disp = ds + int(courier.shift_start_h * 3600) - rng.randint(600, 2400)
            events.append(self._ev(oid, "dispatched", t_disp, "dispatch", courier.courier_id))
            t_ofd = t_disp + rng.randint(600, 2100)
            events.append(self._ev(oid, "out_for_delivery", t_ofd, "driver_app", courier.courier_id,
                                   self._near(depot, 30)))  # fmt: skip
            t_arr = t_ofd + rng.randint(1200, 4 * 3600)
            pos = self._near(true_pos, 15)
            events.append(self._ev(oid, "arrived", t_arr, "driver_app", courier.courier_id, pos))
            t_out = t_arr + rng.randint(45, 400)
            if k < fails:
                events.append(self._ev(oid, "delivery_attempted", t_out, "driver_app", courier.courier_id,
                                       self._near(pos, 3), "recipient_unavailable"))  # fmt: skip
                continue
            events.append(self._ev(oid, "picked_up", t_out, "driver_app", courier.courier_id, self._near(pos, 3)))
            if fault != "return.pickup_overdue":
                self._after_pickup(orig, o, t_out, pos, depot, fault, variant, events)
        self._route(events)

    def _after_pickup(
        self, orig: "Ctx", o: dict[str, Any], t_pick: int, pos: tuple[float, float], depot: tuple[float, float],
        fault: str | None, variant: int, events: list[Any],
    ) -> None:  # fmt: skip
        gen, rng = self.gen, self.rng
        if fault == "return.acceptance_missing":
            if variant == 1:
                self._photo(o["order_id"], t_pick + rng.choice((-1, 1)) * rng.randint(31 * 60, 90 * 60), pos)
        else:
            self._photo(o["order_id"], t_pick + rng.randint(10, 180), pos)
        t_back = gen.day_start((gen.tf.local_date(t_pick) - gen.start).days + 1) + rng.randint(9 * 3600, 12 * 3600)
        events.append(self._ev(o["order_id"], "return_received", t_back, "dispatch", None, self._near(depot, 30)))
        if fault == "return.conflicting_update":
            status = "delivered" if variant == 0 else "out_for_delivery"
            t = t_pick + rng.randint(1, 6 * 3600)
            courier = rng.choice(orig.zone.couriers).courier_id
            events.append(self._ev(orig.order["order_id"], status, t, "driver_app", courier,
                                   self._near(orig.order["_true"], 15)))  # fmt: skip

    # ------------------------------------------------------------------ helpers
    def _add_order(self, o: dict[str, Any], created: int, kind: str = "ok",
                   qtag: tuple[str, str | None] | None = None) -> None:  # fmt: skip
        from lastmile.generator.core import Row

        gen = self.gen
        d = min(gen.days - 1, max(0, (gen.tf.local_date(created) - gen.start).days))
        style = self.rng.choice(("utc", "naive", "Z"))
        gen.order_buckets.setdefault(d, []).append(Row((0, gen._next_seq()), kind, o, qtag, style=style))
        if kind == "ok":
            gen._record_order(o)

    def _missing_original(self, orig: "Ctx") -> None:
        """A return pickup row without original_order_id: quarantined missing_required."""
        t_del = min(e.occ for e in orig.events if e.status == "delivered")
        created = t_del + self.rng.randint(3600, 86400)
        self.rt_counter += 1
        o = {k: v for k, v in orig.order.items() if not k.startswith("_")}
        oid = f"RT{self.gen.tf.local_date(created):%y%m%d}{self.rt_counter:05d}"
        o.update(order_id=oid, created_at=created, window_start=None, window_end=None, order_type=RETURN_PICKUP,
                 original_order_id=None)  # fmt: skip
        self._add_order(o, created, "bad", ("missing_required", oid))
        self.gen._count("quarantine.missing_required")

    def _near(self, point: tuple[float, float], sigma: float) -> tuple[float, float]:
        from lastmile.generator.network import offset

        d = min(abs(self.rng.gauss(0.0, sigma)), 4 * sigma)
        la, lo = offset(point[0], point[1], d, self.rng.uniform(0, 6.283185307179586))
        return round(la, 6), round(lo, 6)

    def _ev(self, order_id: str, status: str, t: int, source: str, courier: str | None = None,
            pos: tuple[float, float] | None = None, code: str | None = None) -> Any:  # fmt: skip
        from lastmile.generator.core import Ev

        self.ev_counter += 1
        day = self.gen.tf.local_date(t)
        return Ev(f"rv-{day:%y%m%d}-{self.ev_counter:07d}", order_id, status, code, t, t + self.rng.randint(2, 90),
                  courier, source, pos[0] if pos else None, pos[1] if pos else None)  # fmt: skip

    def _route(self, events: list[Any]) -> None:
        for e in events:
            self.gen._add_event(e)
            self.gen._load_event(e)

    def _photo(self, order_id: str, captured: int, pos: tuple[float, float]) -> None:
        gen, rng = self.gen, self.rng
        self.pf_counter += 1
        day = gen.tf.local_date(captured)
        pid = f"rp-{day:%y%m%d}-{self.pf_counter:07d}"
        idx = rng.randrange(len(gen.pools[RETURN_ACCEPTANCE_KIND]))
        data, sha = gen.pools[RETURN_ACCEPTANCE_KIND][idx], gen.pool_sha[RETURN_ACCEPTANCE_KIND][idx]
        blob_path = f"{day.isoformat()}/{pid}.jpg"
        folder = gen.out / "blobs" / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        gen.blob_dirs.add(day.isoformat())
        (folder / f"{pid}.jpg").write_bytes(data)
        gen.counts["blobs"] += 1
        lat, lon = self._near(pos, 5)
        p = {"proof_id": pid, "order_id": order_id, "kind": RETURN_ACCEPTANCE_KIND, "captured_at": captured,
             "recorded_at": captured + rng.randint(5, 240), "lat": lat, "lon": lon, "blob_path": blob_path,
             "sha256": sha, "_valid": True}  # fmt: skip
        gen._add_proof(p)
        for k, v in (("proof_id", pid), ("order_id", order_id), ("kind", RETURN_ACCEPTANCE_KIND),
                     ("captured", captured), ("valid", True)):  # fmt: skip
            gen.pr_cols[k].append(v)


def _cleanly_delivered(ctx: "Ctx") -> bool:
    return (
        ctx.fault is None
        and ctx.script is None
        and bool(ctx.events)
        and ctx.events[-1].status == "delivered"
        and sum(e.status == "delivered" for e in ctx.events) == 1
    )


# ---------------------------------------------------------------------- ground truth


def evaluate_returns(
    orders: pl.DataFrame, events: pl.DataFrame, proofs: pl.DataFrame, *, as_of: int, timezone: str,
    acceptance_window_s: float = ACCEPTANCE_WINDOW_S, overdue_days: int = OVERDUE_DAYS,
) -> list[dict[str, Any]]:  # fmt: skip
    """The five checks of CONTRACT §9 on the loaded tables (same frames as truth.evaluate)."""
    found: list[dict[str, Any]] = []
    rets = orders.filter(pl.col("order_type") == RETURN_PICKUP)
    kinds = orders.select("order_id", pl.col("order_type").alias("original_type"))
    as_of_date = dt.datetime.fromtimestamp(as_of, dt.UTC).astimezone(_zone(timezone)).date()

    # return.acceptance_missing (partition of the first picked_up)
    first_pick = (
        events.filter(pl.col("status") == "picked_up").group_by("order_id").agg(pl.col("occ").min().alias("t_pick"))
    )
    due = first_pick.join(rets.select("order_id"), on="order_id")
    have = (
        due.join(proofs.filter(pl.col("kind") == RETURN_ACCEPTANCE_KIND).select("order_id", "captured"), on="order_id")
        .filter((pl.col("captured") - pl.col("t_pick")).abs() <= acceptance_window_s)
        .select("order_id")
        .unique()
    )
    missing = due.join(have, on="order_id", how="anti").with_columns(_local_date("t_pick", timezone).alias("part"))
    found += _rows(missing, "return.acceptance_missing", "order", "order_id", "order_id", "part")

    # return.unlinked / return.before_delivery (partition of created_at)
    linked = rets.with_columns(_local_date("created_at", timezone).alias("part")).join(
        kinds, left_on="original_order_id", right_on="order_id", how="left"
    )
    unlinked = linked.filter(pl.col("original_type").is_null() | (pl.col("original_type") == RETURN_PICKUP))
    found += _rows(unlinked, "return.unlinked", "order", "order_id", "order_id", "part")
    first_del = (
        events.filter(pl.col("status") == "delivered").group_by("order_id").agg(pl.col("occ").min().alias("t_del"))
    )
    before = linked.join(first_del, left_on="original_order_id", right_on="order_id", how="left").filter(
        ~((pl.col("original_type") == DELIVERY) & (pl.col("t_del") <= pl.col("created_at"))).fill_null(False)
    )
    found += _rows(before, "return.before_delivery", "order", "order_id", "order_id", "part")

    # return.conflicting_update (partition of the original's event)
    pick_by_original = (
        rets.join(first_pick, on="order_id")
        .group_by("original_order_id")
        .agg(pl.col("t_pick").min())
        .rename({"original_order_id": "order_id"})
    )
    conflicting = (
        events.filter(pl.col("status").is_in(RETURN_CONFLICTING_STATUSES))
        .join(pick_by_original, on="order_id")
        .filter(pl.col("occ") > pl.col("t_pick"))
        .with_columns(_local_date("occ", timezone).alias("part"))
    )
    found += _rows(conflicting, "return.conflicting_update", "event", "event_id", "order_id", "part")

    # return.pickup_overdue (window at as_of)
    waiting = rets.filter(pl.col("created_at") <= plus_days(as_of, -overdue_days, timezone))
    settled = events.filter(pl.col("status").is_in(RETURN_SETTLED_STATUSES) & (pl.col("occ") <= as_of)).select(
        "order_id"
    )
    overdue = waiting.join(settled.unique(), on="order_id", how="anti")
    found += _window(overdue["order_id"].to_list(), "return.pickup_overdue", "order", as_of_date, with_order=True)
    return found
