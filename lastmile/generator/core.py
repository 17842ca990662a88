"""The generator proper: lifecycles, faults, file writing and ground truth. See the package docstring."""

import csv
import datetime as dt
import hashlib
import io
import json
import math
import random
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from lastmile.codes import QUARANTINE_REASONS, REQUIRED_PROOFS, RETURN_PICKUP
from lastmile.errors import LastmileError
from lastmile.generator.faults import FaultRates
from lastmile.generator.images import render_pool
from lastmile.generator.network import FIRST_NAMES as FIRST_NAMES_
from lastmile.generator.network import LAST_NAMES as LAST_NAMES_
from lastmile.generator.network import Address, Courier, Network, Zone, offset
from lastmile.generator.partners import PartnerFeeds
from lastmile.generator.returns import ReturnPickups, evaluate_returns
from lastmile.generator.timefmt import TimeFormatter
from lastmile.generator.truth import address_key, contact_reachable, evaluate

Progress = Callable[[str, int, int], None]

ORDER_COLUMNS = (
    "order_id", "created_at", "service_type", "depot_id", "zone_id", "address_line", "postcode", "city",
    "country", "address_lat", "address_lon", "window_start", "window_end", "recipient_name",
    "recipient_phone", "recipient_email", "partner_id", "partner_tracking_number", "order_type", "original_order_id",
)  # fmt: skip
EVENT_COLUMNS = (
    "event_id", "order_id", "status", "exception_code", "occurred_at", "recorded_at", "courier_id", "source",
    "lat", "lon",
)  # fmt: skip
PROOF_COLUMNS = ("proof_id", "order_id", "kind", "captured_at", "recorded_at", "lat", "lon", "blob_path", "sha256")
TIME_COLUMNS = frozenset({"created_at", "window_start", "window_end", "occurred_at", "recorded_at", "captured_at"})

SERVICE_WEIGHTS = {"standard": 0.62, "signature_required": 0.2, "age_restricted": 0.08, "high_value": 0.1}
FAIL_CODES = {
    "recipient_unavailable": 0.46, "access_issue": 0.15, "customer_request_reschedule": 0.1, "refused": 0.04,
    "address_not_found": 0.02, "address_mismatch": 0.02, "damaged": 0.02, "vehicle_issue": 0.03,
    "weather": 0.06, "other": 0.1,
}  # fmt: skip
SUCCESS_BY_ATTEMPT = (0.9, 0.82, 0.75)
CANCEL_RATE = 0.03
HUB_EXCEPTION_RATE = 0.02
WINDOW_RATE = 0.6
REVISION_RATE = 0.015
ORDER_DUPLICATE_RATE = 0.01
EVENT_DUPLICATE_RATE = 0.01
EXTRA_PIN_RATE = 0.1
POOL_SIZE = 256
BLOB_EXT = {"signature": "png", "photo": "jpg", "id_check": "jpg"}
TIME_STYLES = {  # (styles, weights) per file family
    "driver_app": (("Z", "utc", "offset"), (0.8, 0.1, 0.1)),
    "dispatch": (("utc", "offset", "Z"), (0.5, 0.3, 0.2)),
    "support": (("naive", "offset"), (0.7, 0.3)),
    "orders": (("utc", "naive", "Z"), (0.5, 0.3, 0.2)),
    "proofs": (("Z", "naive", "offset"), (0.6, 0.2, 0.2)),
}
PARQUET_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()), ("order_id", pa.string()), ("status", pa.string()),
        ("exception_code", pa.string()), ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("recorded_at", pa.timestamp("us", tz="UTC")), ("courier_id", pa.string()), ("source", pa.string()),
        ("lat", pa.float64()), ("lon", pa.float64()),
    ]
)  # fmt: skip
EVENT_FRAME = {
    "event_id": pl.String, "order_id": pl.String, "status": pl.String, "code": pl.String, "occ": pl.Int64,
    "rec": pl.Int64, "courier_id": pl.String, "lat": pl.Float64, "lon": pl.Float64,
}  # fmt: skip
PROOF_FRAME = {
    "proof_id": pl.String,
    "order_id": pl.String,
    "kind": pl.String,
    "captured": pl.Int64,
    "valid": pl.Boolean,
}
PARQUET_POLARS = {
    c: (pl.Int64 if c in TIME_COLUMNS else pl.Float64 if c in ("lat", "lon") else pl.String) for c in EVENT_COLUMNS
}
# Check-fault variants, cycled so that each appears once the kind has that many injections.
VARIANTS = {
    "event.sequence_gap": 2, "event.exception_code_invalid": 3, "event.after_terminal": 2, "proof.missing": 2,
    "proof.invalid": 5, "order.contact_unreachable": 4, "event.stalled": 3, "exception.unresolved": 2,
}  # fmt: skip
MIN_COUNT = {"proof.invalid": 5, "quarantine.malformed_row": 2, "quarantine.blob_path_escape": 2}
ORDER_FAULTS = (
    "event.sequence_gap", "event.latency", "event.clock_skew", "event.orphan", "event.exception_code_invalid",
    "event.conflict", "event.after_terminal", "proof.missing", "proof.invalid", "address.distance_mismatch",
    "address.ungeocoded", "order.contact_unreachable", "event.stalled", "exception.unresolved",
)  # fmt: skip
EVENT_REASONS = (
    "malformed_row", "missing_required", "bad_timestamp", "bad_number", "unknown_status", "unknown_source",
    "partial_coordinates",
)  # fmt: skip
ORDER_REASONS = (
    "unknown_service_type",
    "unknown_country",
    "partial_window",
    "window_not_ordered",
    "unknown_order_type",
)
PROOF_REASONS = ("unknown_kind", "blob_path_escape", "conflict")


@dataclass
class GenerateSummary:
    """What `generate` wrote. Row counts include every written data row (bad, duplicate and revised ones)."""

    out: Path
    orders: int
    events: int
    proofs: int
    blobs: int
    faults: dict[str, int]  # ground-truth rows per check_id and per `quarantine.<reason>`
    as_of: dt.datetime


class Ev:
    __slots__ = ("code", "courier", "event_id", "lat", "lon", "occ", "order_id", "rec", "source", "status")

    def __init__(
        self, event_id: str, order_id: str, status: str, code: str | None, occ: int, rec: int,
        courier: str | None, source: str, lat: float | None, lon: float | None,
    ) -> None:  # fmt: skip
        self.event_id, self.order_id, self.status, self.code = event_id, order_id, status, code
        self.occ, self.rec, self.courier, self.source, self.lat, self.lon = occ, rec, courier, source, lat, lon

    def values(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id, "order_id": self.order_id, "status": self.status,
            "exception_code": self.code, "occurred_at": self.occ, "recorded_at": self.rec,
            "courier_id": self.courier, "source": self.source, "lat": self.lat, "lon": self.lon,
        }  # fmt: skip

    def copy(self) -> "Ev":
        return Ev(*(getattr(self, s) for s in (
            "event_id", "order_id", "status", "code", "occ", "rec", "courier", "source", "lat", "lon")))  # fmt: skip


@dataclass
class Row:
    """One data row of an output file. kind: ok | dup | conflict | bad."""

    sort: tuple[int, int]
    kind: str
    data: "dict[str, Any] | Ev"  # column values, or the event they are read from when written
    qtag: tuple[str, str | None] | None = None  # (quarantine reason, entity id)
    raw_line: str | None = None  # a malformed line written as is
    style: str | None = None

    @property
    def values(self) -> dict[str, Any]:
        return self.data.values() if isinstance(self.data, Ev) else self.data


@dataclass
class Ctx:
    """Per-order state while its lifecycle is built."""

    order: dict[str, Any]
    zone: Zone
    fault: str | None
    variant: int
    script: list[str] | None
    events: list[Ev] = field(default_factory=list)
    proofs: list[dict[str, Any]] = field(default_factory=list)


def _check_args(out: Path, days: int, orders_per_day: int, timezone: str, start: dt.date) -> None:
    if not isinstance(days, int) or days < 1:
        raise LastmileError(f"days must be a whole number of at least 1, got {days!r}")
    if not isinstance(orders_per_day, int) or orders_per_day < 1:
        raise LastmileError(f"orders per day must be a whole number of at least 1, got {orders_per_day!r}")
    if not isinstance(start, dt.date):
        raise LastmileError(f"start must be a date, got {start!r}")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise LastmileError(f"{timezone!r} is not a known IANA timezone") from None
    if out.exists() and not out.is_dir():
        raise LastmileError(f"output {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        raise LastmileError(f"output folder {out} is not empty; choose a new or empty folder")


def generate(
    out: Path,
    *,
    days: int,
    orders_per_day: int,
    seed: int,
    start: dt.date = dt.date(2026, 10, 5),
    timezone: str = "UTC",
    fault_rates: FaultRates | None = None,
    progress: Progress | None = None,
) -> GenerateSummary:
    """Write a sample landing folder with injected faults and their ground truth; see the package docstring."""
    out = Path(out)
    _check_args(out, days, orders_per_day, timezone, start)
    return _Generator(out, days, orders_per_day, seed, start, timezone, fault_rates or FaultRates(), progress).run()


class _Generator:
    def __init__(
        self, out: Path, days: int, opd: int, seed: int, start: dt.date, timezone: str, rates: FaultRates,
        progress: Progress | None,
    ) -> None:  # fmt: skip
        self.out, self.days, self.opd, self.seed, self.start = out, days, opd, seed, start
        self.timezone, self.rates, self.progress = timezone, rates, progress
        self.tf = TimeFormatter(timezone)
        self.net = Network(seed, opd)
        self.rng = random.Random(f"{seed}:lifecycles")
        self.parquet_date = start + dt.timedelta(days=days)
        self.jsonl_proof_date = start + dt.timedelta(days=1)
        self._day_starts: dict[int, int] = {}
        self.pools = {k: render_pool(k, POOL_SIZE, seed) for k in BLOB_EXT}
        self.pool_sha = {k: [hashlib.sha256(b).hexdigest() for b in v] for k, v in self.pools.items()}
        # buckets of rows not yet written
        self.order_buckets: dict[int, list[Row]] = {}
        self.event_buckets: dict[tuple[str, dt.date], list[Row]] = {}
        self.proof_buckets: dict[dt.date, list[Row]] = {}
        self.seq = 0
        # loaded data, for ground truth
        self.cur_orders: dict[str, tuple[Any, ...]] = {}
        self.ev_cols: dict[str, list[Any]] = {k: [] for k in ("event_id", "order_id", "status", "code", "occ", "rec",
                                                              "courier_id", "lat", "lon")}  # fmt: skip
        self.pr_cols: dict[str, list[Any]] = {k: [] for k in ("proof_id", "order_id", "kind", "captured", "valid")}
        self.ev_chunks: list[pl.DataFrame] = []
        self.pr_chunks: list[pl.DataFrame] = []
        self.conflicted: list[str] = []
        self.quarantine: list[dict[str, Any]] = []
        self.counts = {"orders": 0, "events": 0, "proofs": 0, "blobs": 0}
        self.injected: dict[str, int] = {}
        self.blob_dirs: set[str] = set()
        self.ev_counter = 0
        self.pf_counter = 0
        self.q_counter = 0
        # customer messages (lastmile.generator.messages): contact fields per order, proofs' recorded times
        self.msg_orders: dict[str, tuple[Any, ...]] = {}
        self.msg_proofs: list[tuple[str, str, int]] = []
        self.msg_returns: set[str] = set()
        self.partner_feeds = PartnerFeeds(seed, timezone, rates["partner.share"], rates["partner.unmapped_code"])
        self._plan()
        self.returns = ReturnPickups(self)  # return pickups (CONTRACT §9): their own stream, see returns.py

    # ---------------------------------------------------------------- planning
    def _plan(self) -> None:
        rng = random.Random(f"{self.seed}:faults")
        n = self.days * self.opd
        taken: set[int] = set()
        self.plan: dict[int, tuple[str, int]] = {}
        self.scripts: dict[int, tuple[list[str], Address]] = {}

        def pick(lo_day: int, hi_day: int) -> int | None:
            lo, hi = max(0, lo_day) * self.opd, (min(self.days - 1, hi_day) + 1) * self.opd
            if hi <= lo or len(taken) >= n:
                return None
            for _ in range(200):
                i = rng.randrange(lo, hi)
                if i not in taken:
                    taken.add(i)
                    return i
            return None

        for kind in ORDER_FAULTS:
            rate = self.rates[kind]
            count = 0 if rate <= 0 else max(MIN_COUNT.get(kind, 1), round(rate * n))
            lo, hi = 0, self.days - 1
            if kind == "event.stalled":
                hi = max(0, self.days - 2)
            elif kind == "exception.unresolved":
                hi = max(0, self.days - 8)
            for k in range(count):
                i = pick(lo, hi)
                if i is not None:
                    self.plan[i] = (kind, k % VARIANTS.get(kind, 1))
        rate = self.rates["address.repeat_failure"]
        clusters = 0 if rate <= 0 else max(1, round(rate * n))
        for c in range(clusters):
            day = rng.randint(max(0, self.days - 20), self.days - 1)
            a, b = pick(day, day), pick(day, day)
            if a is None or b is None:
                continue
            zone = self.net.zones[c % len(self.net.zones)]
            base = self.net.address(zone, rng.randrange(len(zone.streets)), rng.randint(1, 160))
            number, rest = base.address_line.split(" ", 1)
            addr = Address(f"Unit {c + 1}, {number}A {rest}", base.postcode, base.lat, base.lon)
            self.scripts[a] = (["address_not_found", "address_not_found", "rts"], addr)
            self.scripts[b] = (["address_mismatch", "delivered"], addr)
            self.plan[a] = ("address.repeat_failure", 0)
            self.plan[b] = ("address.repeat_failure", 1)
        rate = self.rates["address.hotspot"]
        couriers = self.net.couriers
        k = 0 if rate <= 0 else max(1, round(rate * len(couriers)))
        self.hotspot_couriers = {c.courier_id for c in rng.sample(couriers, min(k, len(couriers)))}
        self.hotspot_from = self.start + dt.timedelta(days=max(1, self.days - 3))
        # quarantine rows: reason -> list of (day, variant)
        est = {"orders": n, "events": 6 * n, "proofs": 1.2 * n}
        self.qplan: dict[int, list[tuple[str, int]]] = {}
        for reason in QUARANTINE_REASONS:
            if reason in ("unsupported_file", "unreadable_file"):
                continue
            name = f"quarantine.{reason}"
            rate = self.rates[name]
            entity = "orders" if reason in ORDER_REASONS else "proofs" if reason in PROOF_REASONS else "events"
            count = 0 if rate <= 0 else max(MIN_COUNT.get(name, 1), round(rate * est[entity]))
            for v in range(count):
                self.qplan.setdefault(rng.randrange(self.days), []).append((reason, v))

    # ---------------------------------------------------------------- helpers
    def day_start(self, day_index: int) -> int:
        if day_index not in self._day_starts:
            self._day_starts[day_index] = self.tf.day_start(self.start + dt.timedelta(days=day_index))
        return self._day_starts[day_index]

    def _next_event_id(self, day: dt.date) -> str:
        self.ev_counter += 1
        return f"ev-{day:%y%m%d}-{self.ev_counter:08d}"

    def _latency(self) -> int:
        r = self.rng.random()
        if r < 0.85:
            return self.rng.randint(2, 90)
        if r < 0.98:
            return self.rng.randint(90, 600)
        return self.rng.randint(600, 840)

    def _near(self, lat: float, lon: float, sigma: float = 15.0, cap: float = 80.0) -> tuple[float, float]:
        d = min(abs(self.rng.gauss(0.0, sigma)), cap)
        la, lo = offset(lat, lon, d, self.rng.uniform(0, 2 * math.pi))
        return round(la, 6), round(lo, 6)

    def _count(self, name: str, k: int = 1) -> None:
        self.injected[name] = self.injected.get(name, 0) + k

    # ---------------------------------------------------------------- orders
    def _contact(self, fault: str | None, variant: int) -> tuple[str | None, str | None, str]:
        rng = self.rng
        first, last = rng.choice(FIRST_NAMES_), rng.choice(LAST_NAMES_)
        name = f"{first} {last}"
        if fault == "order.contact_unreachable":
            digits = f"{rng.randint(0, 999):03d}"
            bad: list[tuple[str | None, str | None]] = [
                (f"07700 900{digits}", None),  # no country code
                ("n/a", f"{first}.{last}(at)example.com".lower()),  # no @
                (None, None),
                (f"+0044 20 7946 0{digits}", f"{first.lower()}@localhost"),  # leading 0; no dot in the domain
            ]
            return (*bad[variant % len(bad)], name)
        r = rng.random()
        phone: str | None
        if r < 0.5:
            phone = f"+44 20 7946 0{rng.randint(0, 999):03d}"
        elif r < 0.85:
            digits = f"{rng.randint(0, 999):03d}"
            phone = rng.choice((f"+44 7700 900{digits}", f"+44-7700-900{digits}", f"+447700900{digits}"))
        else:
            phone = None
        domain = rng.choice(("example.com", "example.co.uk", "example.org"))
        clean_last = "".join(ch for ch in last.lower() if ch.isalpha())
        email = f"{first.lower()}.{clean_last}@{domain}" if (phone is None or rng.random() < 0.6) else None
        return phone, email, name

    def _make_order(self, d: int, i: int, gidx: int, fault: str | None, variant: int) -> Ctx:
        rng = self.rng
        day = self.start + dt.timedelta(days=d)
        zone = rng.choices(self.net.zones, weights=self.net.zone_weights)[0]
        script = None
        if gidx in self.scripts:
            script, addr = self.scripts[gidx]
            zone = next(z for z in self.net.zones if addr.postcode.startswith(z.outward + " "))
        else:
            addr = self.net.random_address(rng, zone)
        service = rng.choices(list(SERVICE_WEIGHTS), weights=list(SERVICE_WEIGHTS.values()))[0]
        created = self.day_start(d) + rng.randint(6 * 3600, 21 * 3600)
        ws = we = None
        if rng.random() < WINDOW_RATE:
            h = rng.choice((8, 10, 12, 14, 16))
            ws = self.day_start(d + 1) + h * 3600
            we = ws + rng.choice((2, 4)) * 3600
        phone, email, name = self._contact(fault, variant)
        ungeo = fault == "address.ungeocoded"
        order = {
            "order_id": f"LM{day:%y%m%d}{i + 1:05d}", "created_at": created, "service_type": service,
            "depot_id": zone.depot_id, "zone_id": zone.zone_id, "address_line": addr.address_line,
            "postcode": addr.postcode, "city": "London", "country": "GB",
            "address_lat": None if ungeo else addr.lat, "address_lon": None if ungeo else addr.lon,
            "window_start": ws, "window_end": we, "recipient_name": name, "recipient_phone": phone,
            "recipient_email": email, "partner_id": None, "partner_tracking_number": None,
        }  # fmt: skip
        ctx = Ctx(order, zone, fault, variant, list(script) if script else None)
        ctx.order["_true"] = (addr.lat, addr.lon)
        return ctx

    def _record_order(self, o: dict[str, Any]) -> None:
        self.cur_orders[o["order_id"]] = (
            o["created_at"], o["service_type"], o["zone_id"], o["address_lat"], o["address_lon"],
            address_key(o["postcode"], o["address_line"]),
            contact_reachable(o["recipient_phone"], o["recipient_email"]),
            o.get("order_type") or "delivery", o.get("original_order_id"),
        )  # fmt: skip
        self.msg_orders[o["order_id"]] = (o["created_at"], o["service_type"], o["recipient_phone"],
                                          o["recipient_email"], o["partner_id"] is not None)  # fmt: skip
        if o.get("order_type") == RETURN_PICKUP:
            self.msg_returns.add(o["order_id"])

    # ---------------------------------------------------------------- lifecycle
    def _ev(self, ctx: Ctx, status: str, t: int, source: str, courier: str | None = None,
            pos: tuple[float, float] | None = None, code: str | None = None) -> Ev:  # fmt: skip
        day = self.tf.local_date(t)
        e = Ev(self._next_event_id(day), ctx.order["order_id"], status, code, t, t + self._latency(), courier,
               source, pos[0] if pos else None, pos[1] if pos else None)  # fmt: skip
        ctx.events.append(e)
        return e

    def _lifecycle(self, ctx: Ctx, d: int) -> None:
        rng, o, fault, variant = self.rng, ctx.order, ctx.fault, ctx.variant
        depot = self.net.depots[o["depot_id"]]
        true_lat, true_lon = o["_true"]
        created = o["created_at"]
        self._ev(ctx, "created", created, "dispatch")
        if fault is None and ctx.script is None and rng.random() < CANCEL_RATE:
            self._ev(ctx, "cancelled", created + rng.randint(300, 3000), "support")
            return
        t_hub = created + rng.randint(3600, 4 * 3600)
        hub = self._ev(ctx, "in_transit", t_hub, "dispatch", pos=self._near(*depot, sigma=30))
        if fault == "event.clock_skew":
            true = hub.occ
            hub.occ = true + rng.randint(480, 2400)
            hub.rec = true + rng.randint(2, 60)
        if fault == "event.orphan":
            ghost = self._ev(ctx, "in_transit", t_hub + rng.randint(600, 3000), "dispatch", pos=self._near(*depot))
            ghost.order_id = "LX" + o["order_id"][2:]
        first_day = d + 1
        if fault is None and ctx.script is None and rng.random() < HUB_EXCEPTION_RATE:
            code = rng.choice(("vehicle_issue", "weather"))
            self._ev(ctx, "exception", t_hub + rng.randint(1800, 7200), "dispatch", code=code)
            first_day += 1
        if fault == "exception.unresolved" and variant == 1:
            self._ev(ctx, "exception", t_hub + rng.randint(1800, 7200), "support", code="damaged")
            return
        script = ctx.script
        if fault == "event.sequence_gap" and variant == 1:
            script = ["recipient_unavailable", "delivered"]
        elif fault == "event.exception_code_invalid":
            script = [["none", "delivered"], ["not_home", "delivered"], ["delivered:other"]][variant]
        elif fault in ("proof.missing", "proof.invalid", "event.conflict", "event.after_terminal"):
            script = ["delivered"]
        elif fault == "exception.unresolved":
            script = ["recipient_unavailable", "stop"]
        skip_ofd = variant + 1 if fault == "event.sequence_gap" else 0
        day_i = first_day
        failed_last: int | None = None
        for k in range(1, 4):
            courier: Courier = rng.choice(ctx.zone.couriers)
            ds = self.day_start(day_i)
            t_disp = ds + int(courier.shift_start_h * 3600) - rng.randint(600, 2400)
            self._ev(ctx, "dispatched", t_disp, "dispatch", courier=courier.courier_id)
            if fault == "event.stalled" and variant == 0:
                return
            t_ofd = t_disp + rng.randint(600, 2100)
            if skip_ofd != k:
                self._ev(ctx, "out_for_delivery", t_ofd, "driver_app", courier.courier_id, self._near(*depot, sigma=30))
            if fault == "event.stalled" and variant == 1:
                return
            shift_end = ds + int(courier.shift_end_h * 3600)
            t_arr = t_ofd + rng.randint(1200, max(1201, shift_end - t_ofd - 3600))
            ws, we = o["window_start"], o["window_end"]
            if ws is not None and k == 1 and ws >= ds and rng.random() < 0.85:
                lo, hi = max(ws, t_ofd + 900), we - 900
                if hi > lo:
                    t_arr = rng.randint(lo, hi)
            pos = self._near(true_lat, true_lon)
            if (
                courier.courier_id in self.hotspot_couriers
                and self.tf.local_date(t_arr) >= self.hotspot_from
                and rng.random() < 0.5
            ):
                la, lo = offset(true_lat, true_lon, rng.uniform(300, 900), rng.uniform(0, 2 * math.pi))
                pos = (round(la, 6), round(lo, 6))
            self._ev(ctx, "arrived", t_arr, "driver_app", courier.courier_id, pos)
            if fault == "event.stalled" and variant == 2:
                return
            t_out = t_arr + rng.randint(45, 400)
            if script:
                step = script.pop(0)
            elif rng.random() < SUCCESS_BY_ATTEMPT[k - 1]:
                step = "delivered"
            else:
                step = rng.choices(list(FAIL_CODES), weights=list(FAIL_CODES.values()))[0]
            if step.startswith("delivered"):
                done_code = step.split(":", 1)[1] if ":" in step else None
                near = self._near(*pos, sigma=3, cap=10)
                self._ev(ctx, "delivered", t_out, "driver_app", courier.courier_id, near, done_code)
                self._proofs(ctx, t_out, pos)
                failed_last = None
                break
            fail_code = None if step == "none" else step
            near = self._near(*pos, sigma=3, cap=10)
            self._ev(ctx, "delivery_attempted", t_out, "driver_app", courier.courier_id, near, fail_code)
            failed_last = day_i
            if script and script[0] == "stop":
                return
            if step == "refused" or (script and script[0] == "rts"):
                break
            day_i += 2 if (step == "customer_request_reschedule" and k == 1) else 1
        if failed_last is not None:
            t_rts = self.day_start(failed_last + 1) + rng.randint(9 * 3600, 12 * 3600)
            self._ev(ctx, "returned_to_sender", t_rts, "dispatch", pos=self._near(*depot, sigma=30))

    def _proofs(self, ctx: Ctx, t_del: int, pos: tuple[float, float]) -> None:
        rng, o = self.rng, ctx.order
        kinds = list(REQUIRED_PROOFS[o["service_type"]])
        if o["service_type"] in ("high_value", "age_restricted") and rng.random() < EXTRA_PIN_RATE:
            kinds.append("pin")
        for j, kind in enumerate(kinds):
            captured = t_del + rng.randint(10, 180)
            if ctx.fault == "proof.missing" and j == 0:
                if ctx.variant == 0:
                    continue
                captured = t_del + rng.randint(2 * 3600, 5 * 3600)
            self._proof(ctx, kind, captured, pos, None)
        if ctx.fault == "proof.invalid":
            self._proof(ctx, "photo", t_del + rng.randint(60, 300), pos, ctx.variant)

    def _proof(self, ctx: Ctx, kind: str, captured: int, pos: tuple[float, float], bad: int | None) -> None:
        rng = self.rng
        self.pf_counter += 1
        day = self.tf.local_date(captured)
        pid = f"pf-{day:%y%m%d}-{self.pf_counter:08d}"
        lat, lon = self._near(*pos, sigma=5, cap=20)
        rec = captured + rng.randint(5, 240)
        blob_path = sha = None
        valid = True
        if kind in BLOB_EXT:
            idx = rng.randrange(POOL_SIZE)
            data, sha = self.pools[kind][idx], self.pool_sha[kind][idx]
            blob_path = f"{day.isoformat()}/{pid}.{BLOB_EXT[kind]}"
            if bad is not None:
                valid = False
                if bad == 0:  # blob absent
                    data = b""
                    blob_path = f"{day.isoformat()}/{pid}-missing.{BLOB_EXT[kind]}"
                elif bad == 1:  # empty blob
                    data, sha = b"", hashlib.sha256(b"").hexdigest()
                elif bad == 2:  # sha256 mismatch
                    sha = self.pool_sha[kind][(idx + 1) % POOL_SIZE]
                elif bad == 3:  # not PNG/JPEG bytes
                    data = b"%PDF-1.4\n% scanned delivery note\n" + bytes(rng.randrange(256) for _ in range(64))
                    sha = hashlib.sha256(data).hexdigest()
                else:  # blob kind without blob_path
                    blob_path = sha = None
            if blob_path is not None and bad != 0:
                folder = self.out / "blobs" / day.isoformat()
                if day.isoformat() not in self.blob_dirs:
                    folder.mkdir(parents=True, exist_ok=True)
                    self.blob_dirs.add(day.isoformat())
                (folder / blob_path.split("/", 1)[1]).write_bytes(data)
                self.counts["blobs"] += 1
        ctx.proofs.append({
            "proof_id": pid, "order_id": ctx.order["order_id"], "kind": kind, "captured_at": captured,
            "recorded_at": rec, "lat": lat, "lon": lon, "blob_path": blob_path, "sha256": sha, "_valid": valid,
        })  # fmt: skip

    # ---------------------------------------------------------------- routing
    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def _add_event(self, e: Ev, kind: str = "ok", qtag: tuple[str, str | None] | None = None,
                   values: dict[str, Any] | None = None, raw_line: str | None = None,
                   source: str | None = None, day: dt.date | None = None) -> None:  # fmt: skip
        key = (source or e.source, day or self.tf.local_date(e.rec))
        data: dict[str, Any] | Ev = values if values is not None else (e.copy() if kind != "ok" else e)
        row = Row((e.rec, self._next_seq()), kind, data, qtag, raw_line)
        self.event_buckets.setdefault(key, []).append(row)

    def _add_proof(self, p: dict[str, Any], kind: str = "ok", qtag: tuple[str, str | None] | None = None) -> None:
        day = self.tf.local_date(p["recorded_at"])
        self.proof_buckets.setdefault(day, []).append(Row((p["recorded_at"], self._next_seq()), kind, p, qtag))

    def _route(self, ctx: Ctx) -> None:
        rng, fault = self.rng, ctx.fault
        evs = ctx.events
        if fault == "event.latency":
            e = rng.choice(evs)
            e.rec = e.occ + rng.randint(20 * 60 + 1, 8 * 3600)
        elif fault == "address.distance_mismatch":
            e = next(x for x in reversed(evs) if x.status in ("delivered", "delivery_attempted"))
            true_lat, true_lon = ctx.order["_true"]
            la, lo = offset(true_lat, true_lon, rng.uniform(300, 2500), rng.uniform(0, 2 * math.pi))
            e.lat, e.lon = round(la, 6), round(lo, 6)
        elif fault == "event.after_terminal":
            term = evs[-1]
            t = term.occ + rng.randint(2 * 3600, 20 * 3600)
            if ctx.variant == 0:
                self._ev(ctx, "in_transit", t, "dispatch", pos=self._near(*self.net.depots[ctx.order["depot_id"]]))
            else:
                self._ev(ctx, "cancelled", t, "support")
        for e in ctx.events:
            self._add_event(e)
            self._load_event(e)
            if fault is None and rng.random() < EVENT_DUPLICATE_RATE:
                self._add_event(e, "dup", day=self.tf.local_date(e.rec) + dt.timedelta(days=1))
        if fault == "event.conflict":
            orig = next(x for x in evs if x.status == "arrived")
            c = orig.copy()
            c.rec = orig.rec + rng.randint(3600, 36000)
            c.occ = orig.occ + rng.randint(60, 300)
            self._add_event(c, "conflict", ("conflict", c.event_id))
            self.conflicted.append(orig.event_id)
        for p in ctx.proofs:
            self._add_proof(p)
            self.pr_cols["proof_id"].append(p["proof_id"])
            self.pr_cols["order_id"].append(p["order_id"])
            self.pr_cols["kind"].append(p["kind"])
            self.pr_cols["captured"].append(p["captured_at"])
            self.pr_cols["valid"].append(p["_valid"])
            self.msg_proofs.append((p["order_id"], p["kind"], p["recorded_at"]))

    def _load_event(self, e: Ev) -> None:
        c = self.ev_cols
        c["event_id"].append(e.event_id)
        c["order_id"].append(e.order_id)
        c["status"].append(e.status)
        c["code"].append(e.code)
        c["occ"].append(e.occ)
        c["rec"].append(e.rec)
        c["courier_id"].append(e.courier)
        c["lat"].append(e.lat)
        c["lon"].append(e.lon)

    # ---------------------------------------------------------------- bad rows
    def _qid(self, prefix: str, day: dt.date) -> str:
        self.q_counter += 1
        return f"{prefix}-{day:%y%m%d}-q{self.q_counter:05d}"

    def _bad_rows(self, d: int, day_orders: list[Ctx]) -> None:
        rng = random.Random(f"{self.seed}:bad:{d}")
        day = self.start + dt.timedelta(days=d)
        for reason, variant in self.qplan.get(d, []):
            ctx = rng.choice(day_orders)
            if reason in ORDER_REASONS:
                self._bad_order(rng, d, day, ctx, reason)
            elif reason in PROOF_REASONS:
                self._bad_proof(rng, day, day_orders, reason, variant)
            else:
                self._bad_event(rng, day, ctx, reason, variant)

    def _bad_order(self, rng: random.Random, d: int, day: dt.date, ctx: Ctx, reason: str) -> None:
        o = {k: v for k, v in ctx.order.items() if not k.startswith("_")}
        o["order_id"] = f"LM{day:%y%m%d}Q{self.q_counter + 1:04d}"
        self.q_counter += 1
        ws = self.day_start(d + 1) + 10 * 3600
        o["window_start"], o["window_end"] = ws, ws + 7200
        if reason == "unknown_service_type":
            o["service_type"] = "express"
        elif reason == "unknown_country":
            o["country"] = "GBR"
        elif reason == "partial_window":
            o["window_end"] = None
        elif reason == "unknown_order_type":
            o["order_type"] = "exchange"
        else:  # window_not_ordered
            o["window_start"], o["window_end"] = ws + 7200, ws
        bucket = self.order_buckets.setdefault(d, [])
        bucket.insert(rng.randint(0, len(bucket)), Row((0, self._next_seq()), "bad", o, (reason, o["order_id"])))
        self._count(f"quarantine.{reason}")

    def _bad_proof(self, rng: random.Random, day: dt.date, day_orders: list[Ctx], reason: str, variant: int) -> None:
        candidates = [p for c in day_orders for p in c.proofs if p["_valid"] and p["blob_path"]]
        if not candidates:
            return
        p = dict(rng.choice(candidates))
        if reason == "conflict":
            p["captured_at"] += rng.randint(30, 120)
            p["recorded_at"] += rng.randint(3600, 20 * 3600)
            self._add_proof(p, "conflict", ("conflict", p["proof_id"]))
        else:
            p["proof_id"] = self._qid("pf", day)
            if reason == "unknown_kind":
                p["kind"], p["blob_path"], p["sha256"] = "fingerprint", None, None
            else:  # blob_path_escape
                p["blob_path"] = "../../etc/passwd" if variant % 2 == 0 else "/etc/passwd"
            self._add_proof(p, "bad", (reason, p["proof_id"]))
        self._count(f"quarantine.{reason}")

    def _bad_event(self, rng: random.Random, day: dt.date, ctx: Ctx, reason: str, variant: int) -> None:
        tmpl = ctx.events[0]  # the 'created' event, recorded on `day`
        e = tmpl.copy()
        e.event_id = self._qid("ev", day)
        e.status = "in_transit"
        e.lat, e.lon = self._near(*self.net.depots[ctx.order["depot_id"]])
        jsonl = (reason == "malformed_row" and variant % 2 == 1) or (
            reason in ("missing_required", "unknown_status", "partial_coordinates") and rng.random() < 0.5
        )
        source = "driver_app" if jsonl else "dispatch"
        e.source = source
        v = e.values()
        raw: str | None = None
        if reason == "malformed_row":
            if jsonl:
                full = json.dumps({k: (self.tf.format(x, "Z") if k in TIME_COLUMNS else x) for k, x in v.items()})
                raw = full[: len(full) // 2]
            else:
                raw = f"{e.event_id},{e.order_id},in_transit,,{self.tf.format(e.occ, 'utc')}"
        elif reason == "missing_required":
            v["order_id"] = None
        elif reason == "bad_timestamp":
            text = self.tf.format(e.occ, "utc")
            v["occurred_at"] = text[:8] + "32" + text[10:]  # day 32 of the month
        elif reason == "bad_number":
            v["lat"] = f"{e.lat:.4f}".replace(".", ".x", 1)
        elif reason == "unknown_status":
            v["status"] = "misrouted"
        elif reason == "unknown_source":
            v["source"] = "scanner"
        elif reason == "partial_coordinates":
            v["lon"] = None
        entity = None if reason == "malformed_row" else e.event_id
        self._add_event(e, "bad", (reason, entity), values=v, raw_line=raw, source=source, day=day)
        self._count(f"quarantine.{reason}")

    # ---------------------------------------------------------------- writing
    def _fmt(self, values: dict[str, Any], columns: tuple[str, ...], style: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for col in columns:
            x = values.get(col)
            if isinstance(x, int) and col in TIME_COLUMNS:
                x = self.tf.format(x, style)
            out[col] = x
        return out

    def _write_csv(self, rel: str, columns: tuple[str, ...], rows: list[Row], family: str) -> None:
        rng = random.Random(f"{self.seed}:{rel}")
        styles, weights = TIME_STYLES[family]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(columns)
        for n, row in enumerate(rows, 1):
            style = row.style or rng.choices(styles, weights)[0]
            if row.raw_line is not None:
                buf.write(row.raw_line + "\n")
            else:
                f = self._fmt(row.values, columns, style)
                w.writerow(
                    ["" if f[c] is None else (f"{f[c]:.6f}" if isinstance(f[c], float) else f[c]) for c in columns]
                )
            self._tag(rel, n, row)
        self._write(rel, buf.getvalue().encode("utf-8"))

    def _write_jsonl(self, rel: str, columns: tuple[str, ...], rows: list[Row], family: str) -> None:
        rng = random.Random(f"{self.seed}:{rel}")
        styles, weights = TIME_STYLES[family]
        lines = []
        for n, row in enumerate(rows, 1):
            style = rng.choices(styles, weights)[0]
            lines.append(
                row.raw_line if row.raw_line is not None else json.dumps(self._fmt(row.values, columns, style))
            )
            self._tag(rel, n, row)
        self._write(rel, ("\n".join(lines) + "\n").encode("utf-8"))

    def _write_parquet(self, rel: str, rows: list[Row]) -> None:
        cols: dict[str, list[Any]] = {c: [] for c in EVENT_COLUMNS}
        for n, row in enumerate(rows, 1):
            for c in EVENT_COLUMNS:
                x = row.values.get(c)
                cols[c].append(x * 1_000_000 if c in TIME_COLUMNS and x is not None else x)
            self._tag(rel, n, row)
        frame = pl.DataFrame(cols, schema={c: PARQUET_POLARS[c] for c in EVENT_COLUMNS})
        table = frame.to_arrow().cast(PARQUET_SCHEMA)
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path, compression="zstd", compression_level=3, write_statistics=True,
                       use_dictionary=True, row_group_size=1 << 20)  # fmt: skip

    def _write(self, rel: str, data: bytes) -> None:
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def _tag(self, rel: str, n: int, row: Row) -> None:
        self.counts[rel.split("/", 1)[0]] += 1
        if row.qtag is not None:
            reason, entity = row.qtag
            self.quarantine.append(
                {"type": "quarantine", "reason": reason, "file": rel, "row_number": n, "entity_id": entity}
            )

    def _flush_events(self, upto: dt.date | None) -> None:
        for key in sorted(k for k in self.event_buckets if upto is None or k[1] <= upto):
            source, day = key
            rows = sorted(self.event_buckets.pop(key), key=lambda r: r.sort)
            if source == "driver_app" and day == self.parquet_date:
                self._write_parquet(f"events/{source}/{day.isoformat()}.parquet", rows)
            elif source == "driver_app":
                self._write_jsonl(f"events/{source}/{day.isoformat()}.jsonl", EVENT_COLUMNS, rows, source)
            else:
                self._write_csv(f"events/{source}/{day.isoformat()}.csv", EVENT_COLUMNS, rows, source)

    def _flush_proofs(self, upto: dt.date | None) -> None:
        for day in sorted(k for k in self.proof_buckets if upto is None or k <= upto):
            rows = sorted(self.proof_buckets.pop(day), key=lambda r: r.sort)
            if day == self.jsonl_proof_date:
                self._write_jsonl(f"proofs/proofs-{day.isoformat()}.jsonl", PROOF_COLUMNS, rows, "proofs")
            else:
                self._write_csv(f"proofs/proofs-{day.isoformat()}.csv", PROOF_COLUMNS, rows, "proofs")

    def _flush_orders(self, upto: int | None) -> None:
        for d in sorted(k for k in self.order_buckets if upto is None or k <= upto):
            day = self.start + dt.timedelta(days=d)
            self._write_csv(f"orders/orders-{day.isoformat()}.csv", ORDER_COLUMNS, self.order_buckets.pop(d), "orders")

    # ---------------------------------------------------------------- run
    def run(self) -> GenerateSummary:
        self.out.mkdir(parents=True, exist_ok=True)
        if self.rates["quarantine.unsupported_file"] > 0:
            self._write("orders/notes.txt", b"Orders for the week of the 5th: see the CSV files in this folder.\n")
            self.quarantine.append({"type": "quarantine", "reason": "unsupported_file", "file": "orders/notes.txt",
                                    "row_number": 0, "entity_id": None})  # fmt: skip
            self._count("quarantine.unsupported_file")
        if self.rates["quarantine.unreadable_file"] > 0:
            self._write("events/export-corrupt.parquet", b"PAR1\x00\x00 this export was cut off mid-transfer \x00")
            self.quarantine.append(
                {"type": "quarantine", "reason": "unreadable_file", "file": "events/export-corrupt.parquet",
                 "row_number": 0, "entity_id": None}
            )  # fmt: skip
            self._count("quarantine.unreadable_file")
        for d in range(self.days):
            day_orders: list[Ctx] = []
            for i in range(self.opd):
                gidx = d * self.opd + i
                fault, variant = self.plan.get(gidx, (None, 0))
                ctx = self._make_order(d, i, gidx, fault, variant)
                self._lifecycle(ctx, d)
                self._route(ctx)
                if fault is not None:
                    self._count(fault)
                day_orders.append(ctx)
                self._add_order_rows(d, ctx)
            self._partner_orders(d)
            self._bad_rows(d, day_orders)
            self.returns.day(d, day_orders)
            flush_day = self.start + dt.timedelta(days=d)
            self._flush_events(flush_day)
            self._flush_proofs(flush_day)
            self._flush_orders(d - 3)
            self._compact()
            if self.progress:
                self.progress("generate", d + 1, self.days)
        self._flush_events(None)
        self._flush_proofs(None)
        self._flush_orders(None)
        return self._finish()

    def _add_order_rows(self, d: int, ctx: Ctx) -> None:
        rng, o = self.rng, {k: v for k, v in ctx.order.items() if not k.startswith("_")}
        style = rng.choices(*TIME_STYLES["orders"])[0]
        self.order_buckets.setdefault(d, []).append(Row((0, self._next_seq()), "ok", o, style=style))
        self._record_order(o)
        if ctx.fault is not None:
            return
        later = min(self.days - 1, d + rng.randint(1, 3))
        if rng.random() < ORDER_DUPLICATE_RATE:
            self.order_buckets.setdefault(later, []).append(Row((0, self._next_seq()), "dup", o, style=style))
        elif rng.random() < REVISION_RATE:
            rev = dict(o)
            rev["address_line"] = f"Flat {rng.randint(1, 12)}, {o['address_line']}"
            self.order_buckets.setdefault(later, []).append(Row((0, self._next_seq()), "revision", rev, style=style))
            self._record_order(rev)

    def _partner_orders(self, d: int) -> None:
        """Orders handed to partner carriers (lastmile.generator.partners); their own random stream."""
        feeds = self.partner_feeds
        day = self.start + dt.timedelta(days=d)
        for _ in range(feeds.per_day(self.opd)):
            partner_id, order_id, tracking, created, name = feeds.new_order(day, self.day_start(d))
            zone = feeds.rng.choices(self.net.zones, weights=self.net.zone_weights)[0]
            addr = self.net.random_address(feeds.rng, zone)
            service = feeds.rng.choices(list(SERVICE_WEIGHTS), weights=list(SERVICE_WEIGHTS.values()))[0]
            first, last = name.split(" ", 1)
            o = {
                "order_id": order_id, "created_at": created, "service_type": service, "depot_id": zone.depot_id,
                "zone_id": zone.zone_id, "address_line": addr.address_line, "postcode": addr.postcode,
                "city": "London", "country": "GB", "address_lat": addr.lat, "address_lon": addr.lon,
                "window_start": None, "window_end": None, "recipient_name": name,
                "recipient_phone": f"+44 20 7946 0{feeds.rng.randint(0, 999):03d}",
                "recipient_email": f"{first.lower()}.{''.join(c for c in last.lower() if c.isalpha())}@example.com",
                "partner_id": partner_id, "partner_tracking_number": tracking,
            }  # fmt: skip
            style = feeds.rng.choice(TIME_STYLES["orders"][0])
            self.order_buckets.setdefault(d, []).append(Row((0, self._next_seq()), "ok", o, style=style))
            self._record_order(o)
            feeds.lifecycle(partner_id, order_id, tracking, addr.postcode, created, name,
                            (self.day_start(d + 1), self.day_start(d + 2)))  # fmt: skip

    def _partner_truth(self) -> list[dict[str, Any]]:
        """Write the partner payloads; add their loaded events, proofs and quarantined rows to the truth."""
        feeds = self.partner_feeds
        if not feeds.orders:
            return []
        events, proofs, quarantine, checks = feeds.truth()
        self.counts["partner_payloads"] = feeds.write(self.out)
        for e in events:
            self._load_event(Ev(e["event_id"], e["order_id"], e["status"], e["code"], e["occ"], e["rec"], None,
                                "partner", None, None))  # fmt: skip
        for p in proofs:
            for k in ("proof_id", "order_id", "kind", "captured", "valid"):
                self.pr_cols[k].append(p[k])
        self.quarantine.extend(quarantine)
        return checks

    def _compact(self) -> None:
        """Move the loaded rows gathered so far into compact polars chunks (bounded memory)."""
        self.ev_chunks.append(pl.DataFrame(self.ev_cols, schema=EVENT_FRAME))
        self.pr_chunks.append(pl.DataFrame(self.pr_cols, schema=PROOF_FRAME))
        for cols in (self.ev_cols, self.pr_cols):
            for values in cols.values():
                values.clear()

    def _messages(self, events: pl.DataFrame, as_of: int) -> list[dict[str, Any]]:
        """The §8 folders (messages, consents, templates); their findings, quarantined rows and counts."""
        from lastmile.generator.messages import MessageData, generate_messages

        loaded = events.select("event_id", "order_id", "status", "code", "occ", "rec").rows()
        data = MessageData(self.msg_orders, loaded, self.msg_proofs, as_of, returns=self.msg_returns)
        found, quarantine, injected = generate_messages(self.out, self.seed, self.timezone, self.start,
                                                        self.rates, data)  # fmt: skip
        self.quarantine.extend(quarantine)
        self.counts.update(data.counts)
        for name, n in injected.items():
            self.injected[name] = self.injected.get(name, 0) + n
        self.msg_orders, self.msg_proofs, self.msg_returns = {}, [], set()
        return found

    def _finish(self) -> GenerateSummary:
        partner_checks = self._partner_truth()
        self._compact()
        events = pl.concat(self.ev_chunks, rechunk=True)
        proofs = pl.concat(self.pr_chunks, rechunk=True)
        self.ev_chunks, self.pr_chunks = [], []
        orders = pl.DataFrame(
            [(k, *v) for k, v in self.cur_orders.items()],
            schema={"order_id": pl.String, "created_at": pl.Int64, "service_type": pl.String, "zone_id": pl.String,
                    "lat": pl.Float64, "lon": pl.Float64, "address_key": pl.String, "reachable": pl.Boolean,
                    "order_type": pl.String, "original_order_id": pl.String},
            orient="row",
        )  # fmt: skip
        self.cur_orders = {}
        as_of = int(events["rec"].max())  # type: ignore[arg-type]
        checks = evaluate(orders, events, proofs, conflicted_event_ids=self.conflicted, as_of=as_of,
                          timezone=self.timezone) + partner_checks  # fmt: skip
        checks += evaluate_returns(orders, events, proofs, as_of=as_of, timezone=self.timezone)
        checks += self._messages(events, as_of)
        truth = sorted(self.quarantine, key=lambda r: (r["file"], r["row_number"], r["reason"])) + sorted(
            checks, key=lambda r: (r["check_id"], r["partition_date"], r["entity_id"], r["order_id"] or "")
        )
        truth_counts: dict[str, int] = {}
        for r in truth:
            key = r["check_id"] if r["type"] == "check" else f"quarantine.{r['reason']}"
            truth_counts[key] = truth_counts.get(key, 0) + 1
        faults = {k: truth_counts[k] for k in sorted(truth_counts)}
        lines = [json.dumps(r, sort_keys=True, separators=(",", ":")) for r in truth]
        self._write("ground_truth.jsonl", ("\n".join(lines) + "\n" if lines else "").encode("utf-8"))
        as_of_dt = dt.datetime.fromtimestamp(as_of, dt.UTC)
        manifest = {
            "generator": "lastmile.generator",
            "format_version": 1,
            "arguments": {"days": self.days, "orders_per_day": self.opd, "seed": self.seed,
                          "start": self.start.isoformat(), "timezone": self.timezone},
            "as_of": as_of_dt.isoformat(),
            "as_of_rule": "largest recorded_at among loaded (non-quarantined) events",
            "fault_rates": self.rates.to_dict(),
            "faults_injected": {k: self.injected[k] for k in sorted(self.injected)},
            "ground_truth_counts": faults,
            "counts": {**self.counts, "orders_loaded": orders.height, "events_loaded": events.height,
                       "proofs_loaded": proofs.height, "ground_truth_rows": len(truth)},
            "network": self.net.describe(),
        }  # fmt: skip
        self._write("manifest.json", (json.dumps(manifest, indent=2, sort_keys=False) + "\n").encode("utf-8"))
        return GenerateSummary(self.out, self.counts["orders"], self.counts["events"], self.counts["proofs"],
                               self.counts["blobs"], faults, as_of_dt)  # fmt: skip
