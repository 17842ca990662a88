"""Partner carrier feeds for the sample network: orders handed to FedEx, UPS, USPS and Canada Post, and
their tracking payloads in each carrier's own format under OUT/partners/<partner_id>/.

Each partner order gets a carrier lifecycle (label created, picked up, out for delivery, delivered with
the signer's name; a share fail the first attempt with a reason the carrier's codes express and are
delivered the next day; Canada Post records the signature as its own event 20). Every order's history is
written twice, as a carrier's tracking API returns it when polled: once on the day it goes out for
delivery, then the complete history, newest event first, so the second payload repeats the first
(duplicates, counted by ingest). Times are written the carriers' ways: FedEx ISO 8601 with the local
offset, UPS local date/time without an offset (half of the activities also with their GMT fields), USPS
local time plus GMTOffset, Canada Post local date/time plus a zone abbreviation. A share of orders
(rate `partner.unmapped_code`) gets one event with a code no mapping knows.

Ground truth: the mapped events and signature proofs join the loaded tables every other check is
evaluated on; the partner checks are evaluated here (partner.unmapped_code, partner.new_code,
partner.reason_drift with the default 10 points) and the unmapped events are listed as quarantined rows
(reason unmapped_code) of the first file, in lexicographic order, that carries them.

Nothing here draws from the generator's main random stream: the rest of the network is unchanged.
"""

import datetime as dt
import json
import random
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from lastmile.generator.network import FIRST_NAMES, LAST_NAMES
from lastmile.partners.feed import parse_offset, partner_event_id
from lastmile.partners.mapping import PartnerRegistry

PARTNERS = ("fedex", "ups", "usps", "canadapost")
DRIFT_POINTS = 10.0
FIRST_ATTEMPT_SUCCESS = 0.65
# (status code, reason code) the carriers write for each step of the lifecycle.
CODES: dict[str, dict[str, tuple[str, str | None]]] = {
    "fedex": {"created": ("OC", None), "pickup": ("PU", None), "ofd": ("OD", None), "delivered": ("DL", None),
              "unknown": ("ZX", None)},
    "ups": {"created": ("003", None), "pickup": ("038", None), "ofd": ("006", None), "delivered": ("011", None),
            "unknown": ("997", None)},
    "usps": {"created": ("GX", None), "pickup": ("03", None), "ofd": ("OF", None), "delivered": ("01", None),
             "unknown": ("X9", None)},
    "canadapost": {"pickup": ("0100", None), "ofd": ("0174", None), "delivered": ("1496", None),
                   "signature": ("20", None), "unknown": ("9999", None)},
}  # fmt: skip
FAILURES: dict[str, tuple[tuple[str, str | None], ...]] = {
    "fedex": (("DE", "08"), ("DE", "07"), ("DE", "08"), ("DE", "03"), ("DE", "17")),
    "ups": (("061", None), ("064", None), ("061", None), ("139", None), ("022", None)),
    "usps": (("02", None), ("04", None), ("02", None), ("55", None), ("05", None)),
    "canadapost": (),
}
DESCRIPTIONS = {
    "OC": "Shipment information sent to FedEx", "PU": "Picked up", "OD": "On FedEx vehicle for delivery",
    "DL": "Delivered", "DE": "Delivery exception", "ZX": "Package status update",
    "003": "Shipment Ready for UPS", "038": "Picked Up by UPS", "006": "Out for Delivery", "011": "Delivered",
    "061": "Delivery Attempted: Adult Signature Required", "064": "Delivery Refused",
    "139": "Security Access Required", "022": "First Attempt Made", "997": "Package status update",
    "GX": "Shipping Label Created, USPS Awaiting Item", "03": "USPS in possession of item",
    "OF": "Out for Delivery", "01": "Delivered, Front Door/Porch",
    "02": "Notice Left (No Authorized Recipient Available)",
    "04": "Refused", "55": "No Secure Location Available", "05": "Undeliverable as Addressed", "X9": "Status update",
    "0100": "Item processed at postal facility", "0174": "Item out for delivery", "1496": "Item successfully delivered",
    "20": "Signature image recorded for Online viewing", "9999": "Item status updated",
}  # fmt: skip


@dataclass
class FeedEv:
    code: str
    reason: str | None
    occ: int
    rec: int
    signer: str | None = None


@dataclass
class PartnerOrder:
    partner_id: str
    order_id: str
    tracking: str
    postcode: str
    events: list[FeedEv] = field(default_factory=list)  # in time order
    first_ofd: int = 0
    signer: str | None = None


class PartnerFeeds:
    """Partner orders and payloads for one generator run."""

    def __init__(self, seed: int, timezone: str, share: float, unmapped_rate: float) -> None:
        self.rng = random.Random(f"{seed}:partners")
        self.tz = zoneinfo.ZoneInfo(timezone)
        self.share, self.unmapped_rate = share, unmapped_rate
        self.registry = PartnerRegistry()
        self.orders: list[PartnerOrder] = []
        self.counter = 0
        self.failures: dict[str, int] = {}

    def per_day(self, orders_per_day: int) -> int:
        return 0 if self.share <= 0 else max(1, round(self.share * orders_per_day))

    def local_date(self, t: int) -> dt.date:
        return dt.datetime.fromtimestamp(t, self.tz).date()

    # ------------------------------------------------------------------------------------ lifecycles
    def new_order(self, day: dt.date, day_start: int) -> tuple[str, str, str, int, str]:
        """(partner_id, order_id, tracking number, created_at, recipient name) of the next partner order."""
        rng = self.rng
        self.counter += 1
        partner_id = PARTNERS[(self.counter - 1) % len(PARTNERS)]
        order_id = f"LM{day:%y%m%d}P{self.counter:04d}"
        digits = "".join(rng.choice("0123456789") for _ in range(16))
        ups = "1Z" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPRSTVWXYZ") for _ in range(16))
        tracking = {
            "fedex": digits[:12], "ups": ups,
            "usps": "9400" + digits + "00", "canadapost": digits,
        }[partner_id]  # fmt: skip
        created = day_start + rng.randint(7 * 3600, 15 * 3600)
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        return partner_id, order_id, tracking, created, name

    def lifecycle(self, partner_id: str, order_id: str, tracking: str, postcode: str, created: int,
                  name: str, next_starts: tuple[int, int]) -> PartnerOrder:  # fmt: skip
        rng, codes = self.rng, CODES[partner_id]
        po = PartnerOrder(partner_id, order_id, tracking, postcode)

        def add(step: tuple[str, str | None], t: int, signer: str | None = None) -> None:
            rec = t + (rng.randint(5, 59) if partner_id == "usps" else 0)
            po.events.append(FeedEv(step[0], step[1], t, rec, signer))

        if "created" in codes:
            add(codes["created"], created + rng.randint(600, 3600))
        t_pick = created + rng.randint(2 * 3600, 5 * 3600)
        add(codes["pickup"], t_pick)
        if self.unmapped_rate > 0 and (rng.random() < self.unmapped_rate or not any(
                self._has_unknown(o) for o in self.orders)):  # fmt: skip
            add(codes["unknown"], t_pick + rng.randint(1800, 3 * 3600))
        for k, start in enumerate(next_starts):
            t_ofd = start + rng.randint(int(7.5 * 3600), 10 * 3600)
            add(codes["ofd"], t_ofd)
            if k == 0:
                po.first_ofd = t_ofd
            t_out = t_ofd + rng.randint(3600, 6 * 3600)
            fails = FAILURES[partner_id]
            if k == 0 and fails and rng.random() > FIRST_ATTEMPT_SUCCESS:
                # reasons cycle per partner, so its mix of failure reasons moves from day to day
                self.failures[partner_id] = self.failures.get(partner_id, -1) + 1
                add(fails[self.failures[partner_id] % len(fails)], t_out)
                continue
            if partner_id == "canadapost":
                add(codes["delivered"], t_out)
                add(codes["signature"], t_out, name)
            else:
                add(codes["delivered"], t_out, name)
            po.signer = name
            break
        self.orders.append(po)
        return po

    @staticmethod
    def _has_unknown(po: PartnerOrder) -> bool:
        return any(e.code == CODES[po.partner_id]["unknown"][0] for e in po.events)

    # ------------------------------------------------------------------------------------ payloads
    def _local(self, t: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(t, self.tz)

    def _offset(self, t: int) -> str:
        local = self._local(t)
        delta = local.utcoffset() or dt.timedelta(0)
        sign = "-" if delta < dt.timedelta(0) else "+"
        m = abs(int(delta.total_seconds())) // 60
        return f"{sign}{m // 60:02d}:{m % 60:02d}"

    def _payload(self, po: PartnerOrder, events: list[FeedEv]) -> bytes:
        newest_first = sorted(events, key=lambda e: e.occ, reverse=True)  # carriers list newest first
        pid, tn = po.partner_id, po.tracking
        if pid == "fedex":
            delivered = any(e.code == "DL" for e in events)
            scans = [{
                "date": self._local(e.occ).isoformat(timespec="seconds"), "eventType": e.code,
                "eventDescription": DESCRIPTIONS.get(e.code, ""), "exceptionCode": e.reason or "",
                "scanLocation": {"city": "LONDON", "postalCode": po.postcode, "countryCode": "GB"},
            } for e in newest_first]  # fmt: skip
            result: dict[str, Any] = {"trackingNumberInfo": {"trackingNumber": tn, "carrierCode": "FDXG"}}
            if delivered:
                result["deliveryDetails"] = {"signedByName": po.signer}
            result["scanEvents"] = scans
            doc: Any = {"transactionId": f"lastmile-{tn}", "output": {"completeTrackResults": [
                {"trackingNumber": tn, "trackResults": [result]}]}}  # fmt: skip
            return json.dumps(doc, indent=1).encode()
        if pid == "ups":
            acts = []
            for i, e in enumerate(newest_first):
                local, utc = self._local(e.occ), dt.datetime.fromtimestamp(e.occ, dt.UTC)
                act: dict[str, Any] = {"date": local.strftime("%Y%m%d"), "time": local.strftime("%H%M%S")}
                if (e.occ + i) % 2 == 0:
                    act.update(gmtDate=utc.strftime("%Y%m%d"), gmtTime=str(int(utc.strftime("%H%M%S"))),
                               gmtOffset=self._offset(e.occ))  # fmt: skip
                act["location"] = {"address": {"city": "London", "postalCode": po.postcode, "countryCode": "GB"}}
                act["status"] = {"statusCode": e.code, "description": DESCRIPTIONS.get(e.code, ""), "type": "I"}
                acts.append(act)
            package: dict[str, Any] = {"trackingNumber": tn, "activity": acts}
            if any(e.code == "011" for e in events):
                package["deliveryInformation"] = {"receivedBy": po.signer}
            doc = {"trackResponse": {"shipment": [{"inquiryNumber": tn, "package": [package]}]}}
            return json.dumps(doc, indent=1).encode()
        if pid == "usps":
            tevs = [{
                "eventType": DESCRIPTIONS.get(e.code, ""),
                "eventTimestamp": self._local(e.occ).replace(tzinfo=None).isoformat(timespec="seconds"),
                "GMTTimestamp": dt.datetime.fromtimestamp(e.rec, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "GMTOffset": self._offset(e.occ), "eventCity": "LONDON", "eventZIP": po.postcode,
                "eventCode": e.code, "name": e.signer,
            } for e in newest_first]  # fmt: skip
            return json.dumps({"trackingNumber": tn, "trackingEvents": tevs}, indent=1).encode()
        zones = self.registry.get("canadapost").format.zones  # type: ignore[union-attr]
        occ_xml = []
        # Canada Post lists the signature event just before the delivery it belongs to (same time).
        ordered = sorted(events, key=lambda e: (e.occ, e.code != "20"), reverse=True)
        for e in ordered:
            local = self._local(e.occ)
            zone = local.tzname() or ""
            if zone.upper() not in zones and parse_offset(zone) is None:
                zone = self._offset(e.occ)
            occ_xml.append(
                "<occurrence>"
                f"<event-identifier>{e.code}</event-identifier><event-date>{local:%Y-%m-%d}</event-date>"
                f"<event-time>{local:%H:%M:%S}</event-time><event-time-zone>{escape(zone)}</event-time-zone>"
                f"<event-description>{escape(DESCRIPTIONS.get(e.code, ''))}</event-description>"
                f"<signatory-name>{escape(e.signer or '')}</signatory-name><event-site>LONDON</event-site>"
                "<event-province>LDN</event-province></occurrence>"
            )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<tracking-detail xmlns="http://www.canadapost.ca/ws/track">'
            f"<pin>{tn}</pin><service-name>Expedited Parcels</service-name>"
            f"<significant-events>{''.join(occ_xml)}</significant-events></tracking-detail>\n"
        ).encode()

    def payload_order(self, po: PartnerOrder) -> list[FeedEv]:
        """The events of one payload in the order the mapper reads them (its row numbers)."""
        if po.partner_id == "canadapost":
            return sorted(po.events, key=lambda e: (e.occ, e.code != "20"), reverse=True)
        return sorted(po.events, key=lambda e: e.occ, reverse=True)

    def files(self) -> list[tuple[str, PartnerOrder, list[FeedEv]]]:
        """(relpath, order, events in reading order) of every payload, sorted by path."""
        out = []
        for po in self.orders:
            ext = "xml" if po.partner_id == "canadapost" else "json"
            polls = [[e for e in po.events if e.occ <= po.first_ofd], list(po.events)]
            for k, events in enumerate(polls, 1):
                last = max(e.occ for e in events)
                rel = f"partners/{po.partner_id}/{self.local_date(last).isoformat()}/{po.tracking}-{k}.{ext}"
                sub = PartnerOrder(po.partner_id, po.order_id, po.tracking, po.postcode, events, po.first_ofd,
                                   po.signer)  # fmt: skip
                out.append((rel, sub, self.payload_order(sub)))
        out.sort(key=lambda x: x[0])
        return out

    def write(self, out: Path) -> int:
        n = 0
        for rel, po, _ in self.files():
            path = out / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(self._payload(po, po.events))
            n += 1
        return n

    # ------------------------------------------------------------------------------------ ground truth
    def truth(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """(events loaded, proofs loaded, quarantine rows, partner check findings), by the contract."""
        events: list[dict[str, Any]] = []
        proofs: list[dict[str, Any]] = []
        quarantine: list[dict[str, Any]] = []
        seen: set[str] = set()
        codes: list[tuple[str, str, dt.date, bool]] = []  # (partner, raw code, day, mapped)
        attempts: dict[tuple[str, dt.date], list[str]] = defaultdict(list)
        for rel, po, ordered in self.files():
            partner = self.registry.get(po.partner_id)
            assert partner is not None
            for row, e in enumerate(ordered, 1):
                occ = dt.datetime.fromtimestamp(e.occ, dt.UTC)
                event_id = partner_event_id(po.partner_id, po.tracking, occ, e.code, e.reason)
                if event_id in seen:
                    continue
                seen.add(event_id)
                day = self.local_date(e.occ)
                target = partner.status_target(e.code)
                if not partner.is_status_mapped(e.code):
                    codes.append((po.partner_id, e.code, day, False))
                    quarantine.append({"type": "quarantine", "reason": "unmapped_code", "file": rel,
                                       "row_number": row, "entity_id": event_id})  # fmt: skip
                    continue
                codes.append((po.partner_id, e.code, day, True))
                assert target is not None
                status, exc = target.status, target.exception_code
                if status in ("delivery_attempted", "exception") and e.reason is not None:
                    exc = partner.reason_target(e.reason)
                    assert exc is not None, (po.partner_id, e.reason)
                    codes.append((po.partner_id, e.reason, day, True))
                if e.signer is not None:
                    proofs.append({"proof_id": f"{event_id}:signature", "order_id": po.order_id,
                                   "kind": "signature", "captured": e.occ, "valid": False})  # fmt: skip
                if status is None:
                    continue
                events.append({"event_id": event_id, "order_id": po.order_id, "status": status, "code": exc,
                               "occ": e.occ, "rec": e.rec})  # fmt: skip
                if status == "delivery_attempted":
                    attempts[(po.partner_id, day)].append(exc or "")
        return events, proofs, quarantine, self._checks(codes, attempts)

    def _checks(
        self, codes: list[tuple[str, str, dt.date, bool]], attempts: dict[tuple[str, dt.date], list[str]]
    ) -> list[dict[str, Any]]:
        found: set[tuple[str, str, dt.date]] = set()
        first: dict[tuple[str, str], dt.date] = {}
        for pid, code, day, mapped in codes:
            if mapped:
                first[(pid, code)] = min(day, first.get((pid, code), day))
        for pid, code, day, mapped in codes:
            if not mapped:
                found.add(("partner.unmapped_code", f"{pid}:{code}", day))
            elif first[(pid, code)].isocalendar()[:2] == day.isocalendar()[:2]:
                found.add(("partner.new_code", f"{pid}:{code}", day))
        for (pid, day), today in attempts.items():
            trailing = [c for (p, d), cs in attempts.items() if p == pid and 1 <= (day - d).days <= 28 for c in cs]
            if not trailing:
                continue
            n_d, n_t = len(today), len(trailing)
            for code in {c for c in today + trailing if c}:
                c_d, c_t = today.count(code), trailing.count(code)
                if abs(c_d * n_t - c_t * n_d) * 100 > DRIFT_POINTS * n_d * n_t:
                    found.add(("partner.reason_drift", f"{pid}:{code}", day))
        return [
            {"type": "check", "check_id": check_id, "entity_kind": "partner_exception_code"
             if check_id == "partner.reason_drift" else "partner_code", "entity_id": entity, "order_id": None,
             "partition_date": day.isoformat()}
            for check_id, entity, day in sorted(found)
        ]  # fmt: skip
