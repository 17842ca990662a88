"""Customer messages, consent records and the template registry of a generated network (CONTRACT §8).

Called once by the generator after every lifecycle is built, with the orders' contact fields, the loaded
events and the loaded proofs' recorded times. It writes

    OUT/templates/registry.csv                 the template registry (every version, retired ones too)
    OUT/consents/consents.csv                  grants at checkout and opt-outs (STOP, unsubscribe)
    OUT/consents/preference-center.jsonl       changes made in the preference centre
    OUT/messages/messages-YYYY-MM-DD.csv       messages by network-timezone day of sent_at
    OUT/messages/resent.csv                    a re-sent batch holding the bad rows (quarantine faults)

Every own-fleet notifying event of an order with a phone or e-mail gets a transactional message (SMS when
a phone is given, else e-mail; some orders also get app pushes) a few seconds to minutes after the event
was recorded; a delivered notice waits for the proofs. Failed-attempt SMS are a template experiment with
arms `short` and `friendly`. A few percent of customers granted marketing at checkout and get a newsletter.
Check faults (rates in FaultRates, share of eligible orders, at least one when above 0) each touch one
order; the ground truth is not guessed from them but evaluated by `evaluate_messages` over the data as
ingest loads it (the CONTRACT §8 definitions written again, independently, in plain Python).
"""

import csv
import datetime as dt
import io
import json
import random
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lastmile.codes import (
    EXCEPTION_CODES,
    NOTIFYING_STATUSES,
    REQUIRED_PROOFS,
    RETURN_ACCEPTANCE_KIND,
    TERMINAL_STATUSES,
)
from lastmile.generator.timefmt import TimeFormatter
from lastmile.messages import normalize_address

MESSAGE_COLUMNS = (
    "message_id", "order_id", "channel", "purpose", "address", "template_id", "template_version",
    "trigger_event_id", "sent_at", "delivery_status", "variant", "body",
)  # fmt: skip
CONSENT_COLUMNS = ("consent_id", "channel", "address", "purpose", "state", "at", "source")
TEMPLATE_COLUMNS = (
    "template_id", "version", "channel", "purpose", "status", "exception_code", "body", "sensitive",
    "approved_by", "reviewed_by", "approved_at", "retired_at",
)  # fmt: skip
MESSAGE_FAULTS = (
    "message.without_consent", "message.quiet_hours", "message.template_invalid", "message.template_mismatch",
    "message.premature", "message.after_terminal", "message.duplicate", "message.missing",
)  # fmt: skip
VARIANTS = {"message.without_consent": 3, "message.template_invalid": 3, "message.template_mismatch": 2,
            "message.premature": 2, "message.missing": 2}  # fmt: skip
STATUS_SLUG = {"out_for_delivery": "ofd", "delivered": "delivered", "delivery_attempted": "attempt",
               "exception": "exception", "picked_up": "pickup"}  # fmt: skip
WORDING = {
    "out_for_delivery": "Your parcel {tracking} is out for delivery today.",
    "delivered": "Your parcel {tracking} was delivered. {proof_note}",
    "delivery_attempted": "We missed you: {reason}. {next_step} Rebook: {reschedule_url}",
    "exception": "Your parcel {tracking} is delayed: {reason}. {next_step}",
    "picked_up": "We collected your return {tracking}.",
}
EXPERIMENT_ARMS = ("short", "friendly")
MARKETING_SHARE = 0.05
PUSH_SHARE = 0.2
DAY = 86_400


@dataclass
class _Msg:
    message_id: str
    order_id: str
    channel: str
    purpose: str
    address: str
    template_id: str
    template_version: int
    trigger_event_id: str | None
    sent_at: int
    delivery_status: str
    variant: str | None
    body: str | None


@dataclass
class _Consent:
    consent_id: str
    channel: str
    address: str
    purpose: str
    state: str
    at: int
    source: str
    file: str = "consents/consents.csv"


@dataclass
class _Template:
    template_id: str
    version: int
    channel: str
    purpose: str
    status: str | None
    exception_code: str | None
    body: str
    sensitive: bool
    approved_by: str | None
    reviewed_by: str | None
    approved_at: int | None
    retired_at: int | None


@dataclass
class MessageData:
    """What the generator needs from the lifecycles (all times epoch seconds)."""

    # order_id -> (created_at, service_type, phone, email, partner order?)
    orders: dict[str, tuple[int, str, str | None, str | None, bool]]
    # loaded events: (event_id, order_id, status, code, occ, rec)
    events: list[tuple[str, str, str, str | None, int, int]]
    # loaded proofs: (order_id, kind, recorded_at)
    proofs: list[tuple[str, str, int]]
    as_of: int
    counts: dict[str, int] = field(default_factory=dict)
    # return pickups (CONTRACT §9): §3's table does not apply to them; they require the acceptance photo
    returns: set[str] = field(default_factory=set)

    def required_proofs(self, order_id: str) -> tuple[str, ...]:
        """The proof kinds CONTRACT §3 requires for the order."""
        if order_id in self.returns:
            return (RETURN_ACCEPTANCE_KIND,)
        return REQUIRED_PROOFS.get(self.orders[order_id][1], ())


class MessageGenerator:
    def __init__(self, out: Path, seed: int, timezone: str, start: dt.date, rates: Any) -> None:
        self.out, self.seed, self.timezone, self.start, self.rates = out, seed, timezone, start, rates
        self.tf = TimeFormatter(timezone)
        self.tz = zoneinfo.ZoneInfo(timezone)
        self.rng = random.Random(f"{seed}:messages")
        self.t0 = self.tf.day_start(start)
        self.messages: list[_Msg] = []
        self.consents: list[_Consent] = []
        self.templates: list[_Template] = []
        self.quarantine: list[dict[str, Any]] = []
        self.injected: dict[str, int] = {}
        self._n = 0

    # ------------------------------------------------------------------------------------------ templates
    def _registry(self) -> None:
        approved = self.t0 - 60 * DAY
        faults = self.rates["template.registry"] > 0
        add = self.templates.append
        for ch in ("sms", "email", "push"):
            for status, slug in STATUS_SLUG.items():
                code = "*" if status in ("delivery_attempted", "exception") else None
                if faults and ch == "push" and status == "exception":
                    # coverage gap: push explains every exception code except weather and other
                    for c in EXCEPTION_CODES:
                        if c not in ("weather", "other"):
                            add(_Template(f"push-exception-{c}", 1, ch, "transactional", status, c,
                                          WORDING[status], False, "maria.ops", None, approved, None))  # fmt: skip
                    continue
                add(_Template(f"{ch}-{slug}", 1, ch, "transactional", status, code, WORDING[status], False,
                              "maria.ops", None, approved, None))  # fmt: skip
        # sms-ofd: version 1 retired when version 2 took over, 30 days before the start
        for t in self.templates:
            if t.template_id == "sms-ofd":
                t.retired_at = self.t0 - 30 * DAY
        add(_Template("sms-ofd", 2, "sms", "transactional", "out_for_delivery", None,
                      "Parcel {tracking}: out for delivery, arriving {eta}.", False, "maria.ops", None,
                      self.t0 - 30 * DAY, None))  # fmt: skip
        add(_Template("email-news", 1, "email", "marketing", None, None, "This week at {brand}: {offer}", False,
                      "li.marketing", None, approved, None))  # fmt: skip
        add(_Template("sms-promo", 1, "sms", "marketing", None, None, "{offer} Reply STOP to opt out", False,
                      "li.marketing", None, approved, None))  # fmt: skip
        add(_Template("sms-age-check", 1, "sms", "transactional", "delivered", None,
                      "Your parcel {tracking} needs an ID check at the door. {next_step}", True, "maria.ops",
                      "sam.legal", approved, None))  # fmt: skip
        if faults:
            # template.incomplete: an e-mail exception notice in force without {next_step}
            add(_Template("email-exception", 2, "email", "transactional", "exception", "weather",
                          "Weather is slowing us down: {reason}.", False, "maria.ops", None, self.t0,
                          None))  # fmt: skip
            # template.review_missing: reviewed by the approver; and one never reviewed, since retired
            add(_Template("sms-missed-appointment", 1, "sms", "transactional", "delivery_attempted", "*",
                          "We missed your appointment: {reason}. {next_step} {reschedule_url}", True,
                          "maria.ops", "maria.ops", approved, None))  # fmt: skip
            add(_Template("email-accessibility", 1, "email", "transactional", "out_for_delivery", None,
                          "Your courier knows about your access needs {access_note}.", True, "maria.ops", None,
                          approved, self.t0 - 10 * DAY))  # fmt: skip
            self.injected["template.registry"] = 1

    def _template(self, channel: str, status: str) -> tuple[str, int]:
        slug = STATUS_SLUG[status]
        if channel == "sms" and status == "out_for_delivery":
            return "sms-ofd", 2
        return f"{channel}-{slug}", 1

    # ------------------------------------------------------------------------------------------ messages
    def _id(self, t: int) -> str:
        self._n += 1
        return f"msg-{self.tf.local_date(t):%y%m%d}-{self._n:08d}"

    def _cid(self) -> str:
        self._n += 1
        return f"cn-{self._n:08d}"

    def _status(self, channel: str) -> str:
        r = self.rng.random()
        if r < 0.92:
            return "delivered"
        if r < 0.95:
            return "sent"
        if r < 0.98 or channel != "email":
            return "failed"
        return "bounced"

    def _send(self, order_id: str, channel: str, address: str, status: str | None, event_id: str | None,
              sent: int, *, template: tuple[str, int] | None = None, purpose: str = "transactional",
              variant: str | None = None) -> _Msg:  # fmt: skip
        tid, ver = template or self._template(channel, status or "out_for_delivery")
        body = f"[{tid}] parcel {order_id} for {address}"
        if channel == "sms" and status == "delivery_attempted" and template is None and variant is None:
            variant = self.rng.choice(EXPERIMENT_ARMS)
        m = _Msg(self._id(sent), order_id, channel, purpose, address, tid, ver, event_id, sent,
                 self._status(channel), variant, body)  # fmt: skip
        self.messages.append(m)
        return m

    def _local_time(self, day_start: int, hour_lo: int, hour_hi: int) -> int:
        return day_start + self.rng.randint(hour_lo * 3600, hour_hi * 3600 - 1)

    def build(self, data: MessageData) -> None:
        rng = self.rng
        self._registry()
        by_order: dict[str, list[tuple[str, str, str, str | None, int, int]]] = defaultdict(list)
        for e in data.events:
            by_order[e[1]].append(e)
        proofs: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for order_id, kind, rec in data.proofs:
            proofs[order_id].append((kind, rec))
        eligible = []
        for order_id, (_created, _service, phone, email, partner) in data.orders.items():
            if partner or not (phone or email):
                continue
            evs = sorted((e for e in by_order.get(order_id, ()) if e[2] in NOTIFYING_STATUSES), key=lambda e: e[4])
            if evs:
                eligible.append((order_id, evs))
        # plan: one fault per order, chosen among orders it can apply to
        plan: dict[str, tuple[str | None, int]] = {}
        for kind in MESSAGE_FAULTS:
            rate = self.rates[kind]
            if rate <= 0:
                continue
            fits = [o for o, evs in eligible if o not in plan and self._fits(kind, data.orders[o], evs)]
            k = min(len(fits), max(1, round(rate * len(eligible))))
            for j, o in enumerate(sorted(rng.sample(fits, k))):
                plan[o] = (kind, j % VARIANTS.get(kind, 1))
                self.injected[kind] = self.injected.get(kind, 0) + 1
        for order_id, evs in eligible:
            created, _service, phone, email, _ = data.orders[order_id]
            channel = "sms" if phone else "email"
            address = phone or email or ""
            fault, variant = plan.get(order_id, (None, 0))
            push = f"device-{order_id[-6:]}{order_id[2:8]}" if rng.random() < PUSH_SHARE else None
            required = data.required_proofs(order_id)
            sent_msgs: list[_Msg] = []
            for i, (event_id, _oid, status, _code, occ, rec) in enumerate(evs):
                sent = rec + rng.randint(5, 600)
                if status == "delivered":
                    waits = [r for k, r in proofs.get(order_id, ()) if k in required and occ - 3600 <= r <= occ + 3600]
                    sent = max([rec, *waits]) + rng.randint(5, 300)
                first = i == 0
                if fault == "message.missing" and first:
                    if variant == 0:
                        continue
                    sent = rec + 30 * 60 + rng.randint(1, 90 * 60)
                if fault == "message.premature" and status == "delivered":
                    pending = sorted(r for k, r in proofs.get(order_id, ()) if k in required and r > occ + 1)
                    late = variant == 1 and pending
                    sent = rng.randint(occ, pending[0] - 1) if late else occ - rng.randint(60, 600)
                template = None
                trigger: str | None = event_id
                if fault == "message.template_invalid" and status == "out_for_delivery":
                    template = [("sms-ofd", 1), ("sms-ofd", 9), ("email-ofd", 1)][variant]
                if fault == "message.template_mismatch" and status == "delivery_attempted":
                    if variant == 0:
                        template = self._template(channel, "out_for_delivery")
                    else:
                        other = eligible[(eligible.index((order_id, evs)) + 1) % len(eligible)][1][0][0]
                        trigger = other
                sent_msgs.append(self._send(order_id, channel, address, status, trigger, sent, template=template))
                if fault == "message.duplicate" and first:
                    self._send(order_id, channel, address, status, event_id, sent + rng.randint(60, 300))
                if push and status in ("out_for_delivery", "delivered"):
                    self._send(order_id, "push", push, status, event_id, max(sent, rec) + rng.randint(1, 120))
            if fault == "message.after_terminal":
                ofd = next(e for e in evs if e[2] == "out_for_delivery")
                term = min(e[4] for e in by_order[order_id] if e[2] in TERMINAL_STATUSES)
                self._send(order_id, "push", f"device-{order_id}", "out_for_delivery", ofd[0],
                           term + rng.randint(3600, 5 * 3600))  # fmt: skip
            first_sent = min((m.sent_at for m in sent_msgs), default=evs[0][5] + 60)
            if fault == "message.without_consent":
                styled = _restyle(channel, address, rng)
                if variant == 0:
                    at = first_sent - rng.randint(60, 7200)
                    self.consents.append(_Consent(self._cid(), channel, styled, "all", "withdrawn", at,
                                                  "sms_stop" if channel == "sms" else "unsubscribe"))  # fmt: skip
                elif variant == 1:
                    at = first_sent - rng.randint(60, 7200)
                    for state in ("granted", "withdrawn"):
                        self.consents.append(_Consent(self._cid(), channel, styled, "all", state, at,
                                                      "preference_center",
                                                      "consents/preference-center.jsonl"))  # fmt: skip
                else:
                    day = self.tf.day_start(self.tf.local_date(created) + dt.timedelta(days=1))
                    tid = "sms-promo" if channel == "sms" else "email-news"
                    self._send(order_id, channel, address, None, None, self._local_time(day, 10, 20),
                               template=(tid, 1), purpose="marketing")  # fmt: skip
            marketing = fault == "message.quiet_hours" or rng.random() < MARKETING_SHARE
            if marketing and fault != "message.without_consent":
                styled = _restyle(channel, address, rng)
                self.consents.append(
                    _Consent(self._cid(), channel, styled, "marketing", "granted", created, "checkout")
                )
                day = self.tf.day_start(self.tf.local_date(created) + dt.timedelta(days=1))
                if fault == "message.quiet_hours":
                    sent = self._local_time(day, 21, 24) if rng.random() < 0.5 else self._local_time(day, 0, 8)
                else:
                    sent = self._local_time(day, 8, 21)
                tid = "sms-promo" if channel == "sms" else "email-news"
                self._send(order_id, channel, address, None, None, max(sent, created + 1), template=(tid, 1),
                           purpose="marketing")  # fmt: skip
            elif rng.random() < 0.3:  # transactional consent recorded at checkout, in another spelling
                self.consents.append(_Consent(self._cid(), channel, _restyle(channel, address, rng), "transactional",
                                              "granted", created, "checkout"))  # fmt: skip

    def _fits(self, fault: str, order: tuple[Any, ...], evs: list[tuple[Any, ...]]) -> bool:
        statuses = {e[2] for e in evs}
        phone = order[2]
        if fault == "message.template_invalid":
            return bool(phone) and "out_for_delivery" in statuses
        if fault == "message.template_mismatch":
            return "delivery_attempted" in statuses
        if fault == "message.premature":
            return "delivered" in statuses
        if fault == "message.after_terminal":
            return "out_for_delivery" in statuses and "delivered" in statuses
        return True

    # ------------------------------------------------------------------------------------------ writing
    def write(self) -> None:
        msgs = sorted(self.messages, key=lambda m: (m.sent_at, m.message_id))
        by_day: dict[dt.date, list[_Msg]] = defaultdict(list)
        for m in msgs:
            by_day[self.tf.local_date(m.sent_at)].append(m)
        for day in sorted(by_day):
            rows = [self._msg_row(m, "Z" if i % 5 else "offset") for i, m in enumerate(by_day[day])]
            self._csv(f"messages/messages-{day.isoformat()}.csv", MESSAGE_COLUMNS, rows)
        if self.rates["messages.bad_rows"] > 0 and msgs:
            first = msgs[0]
            bad = [
                self._msg_row(first, "Z"),  # the same content again: a duplicate
                {
                    **self._msg_row(first, "Z"),  # other content: conflict
                    "delivery_status": "bounced" if first.delivery_status != "bounced" else "sent",
                },
                {**self._msg_row(first, "Z"), "message_id": "msg-bad-1", "channel": "whatsapp"},
                {**self._msg_row(first, "Z"), "message_id": "msg-bad-2", "sent_at": "2026-02-30T25:00:00Z"},
                {**self._msg_row(first, "Z"), "message_id": "msg-bad-3", "order_id": ""},
            ]
            self._csv("messages/resent.csv", MESSAGE_COLUMNS, bad)
            for row, reason, key in ((2, "conflict", first.message_id), (3, "unknown_channel", "msg-bad-1"),
                                     (4, "bad_timestamp", "msg-bad-2"),
                                     (5, "missing_required", "msg-bad-3")):  # fmt: skip
                self._q("messages/resent.csv", row, reason, key)
        csv_rows = [c for c in self.consents if c.file.endswith(".csv")]
        jsonl_rows = [c for c in self.consents if c.file.endswith(".jsonl")]
        self._csv("consents/consents.csv", CONSENT_COLUMNS, [self._consent_row(c) for c in csv_rows])
        lines = [json.dumps(self._consent_row(c)) for c in jsonl_rows]
        if self.rates["messages.bad_rows"] > 0:
            lines.append(json.dumps({"consent_id": "cn-bad-1", "channel": "email", "address": "x@example.com",
                                     "purpose": "marketing", "state": "paused", "at": "2026-10-05T12:00:00Z",
                                     "source": "preference_center"}))  # fmt: skip
            self._q("consents/preference-center.jsonl", len(lines), "unknown_state", "cn-bad-1")
        if lines:
            self._write("consents/preference-center.jsonl", ("\n".join(lines) + "\n").encode())
        trows = [self._template_row(t) for t in self.templates]
        if self.rates["messages.bad_rows"] > 0:
            trows.append({**trows[0], "version": "v2"})
            self._q("templates/registry.csv", len(trows), "bad_number", None)
        self._csv("templates/registry.csv", TEMPLATE_COLUMNS, trows)

    def _q(self, file: str, row: int, reason: str, key: str | None) -> None:
        self.quarantine.append({"type": "quarantine", "reason": reason, "file": file, "row_number": row,
                                "entity_id": key})  # fmt: skip

    def _msg_row(self, m: _Msg, style: str) -> dict[str, Any]:
        return {
            "message_id": m.message_id, "order_id": m.order_id, "channel": m.channel, "purpose": m.purpose,
            "address": m.address, "template_id": m.template_id, "template_version": m.template_version,
            "trigger_event_id": m.trigger_event_id, "sent_at": self.tf.format(m.sent_at, style),
            "delivery_status": m.delivery_status, "variant": m.variant, "body": m.body,
        }  # fmt: skip

    def _consent_row(self, c: _Consent) -> dict[str, Any]:
        return {"consent_id": c.consent_id, "channel": c.channel, "address": c.address, "purpose": c.purpose,
                "state": c.state, "at": self.tf.format(c.at, "Z"), "source": c.source}  # fmt: skip

    def _template_row(self, t: _Template) -> dict[str, Any]:
        def ts(v: int | None) -> str | None:
            return None if v is None else self.tf.format(v, "Z")

        return {
            "template_id": t.template_id, "version": t.version, "channel": t.channel, "purpose": t.purpose,
            "status": t.status, "exception_code": t.exception_code, "body": t.body,
            "sensitive": "true" if t.sensitive else "false", "approved_by": t.approved_by,
            "reviewed_by": t.reviewed_by, "approved_at": ts(t.approved_at), "retired_at": ts(t.retired_at),
        }  # fmt: skip

    def _csv(self, rel: str, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow(["" if r.get(c) is None else r[c] for c in columns])
        self._write(rel, buf.getvalue().encode("utf-8"))

    def _write(self, rel: str, data: bytes) -> None:
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    # ------------------------------------------------------------------------------------------ truth
    def truth(self, data: MessageData) -> list[dict[str, Any]]:
        return evaluate_messages(self.messages, self.consents, self.templates, data, self.timezone)


def _restyle(channel: str, address: str, rng: random.Random) -> str:
    """The same address as another system writes it (normalisation makes them equal)."""
    if channel == "sms":
        digits = address.replace(" ", "").replace("-", "")
        return rng.choice((f"{digits[:3]} ({digits[3:5]}) {digits[5:9]}.{digits[9:]}", digits, address))
    if channel == "email":
        return rng.choice((f"  {address.upper()} ", address.title(), address))
    return address


# ---------------------------------------------------------------------------------------------- truth
def _in_force(t: _Template, at: int) -> bool:
    return (
        t.approved_by is not None
        and t.approved_at is not None
        and t.approved_at <= at
        and (t.retired_at is None or t.retired_at > at)
        and (not t.sensitive or (t.reviewed_by is not None and t.reviewed_by != t.approved_by))
    )


def evaluate_messages(
    messages: list[_Msg], consents: list[_Consent], templates: list[_Template], data: MessageData, timezone: str
) -> list[dict[str, Any]]:
    """Every finding of the eleven CONTRACT §8 checks (default thresholds) over the data as loaded."""
    tz = zoneinfo.ZoneInfo(timezone)

    def day(t: int) -> str:
        return dt.datetime.fromtimestamp(t, tz).date().isoformat()

    found: list[dict[str, Any]] = []

    def hit(check_id: str, kind: str, entity: str, order_id: str | None, partition: str) -> None:
        found.append({"type": "check", "check_id": check_id, "entity_kind": kind, "entity_id": entity,
                      "order_id": order_id, "partition_date": partition})  # fmt: skip

    tpl = {(t.template_id, t.version): t for t in templates}
    events = {e[0]: e for e in data.events}
    by_order: dict[str, list[tuple[str, str, str, str | None, int, int]]] = defaultdict(list)
    for e in data.events:
        by_order[e[1]].append(e)
    first_terminal = {o: min((e[4] for e in evs if e[2] in TERMINAL_STATUSES), default=None)
                      for o, evs in by_order.items()}  # fmt: skip
    proofs: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for order_id, kind, rec in data.proofs:
        proofs[order_id].append((kind, rec))
    # consent records: (channel, normalised address, purpose) -> [(at, withdrawn?)]
    records: dict[tuple[str, str | None, str], list[tuple[int, bool]]] = defaultdict(list)
    for c in consents:
        norm = normalize_address(c.channel, c.address)
        for purpose in ("transactional", "marketing"):
            if c.purpose in (purpose, "all"):
                records[(c.channel, norm, purpose)].append((c.at, c.state == "withdrawn"))
    earlier: dict[tuple[str, str, str], list[tuple[int, str]]] = defaultdict(list)
    for m in messages:
        if m.trigger_event_id is not None:
            earlier[(m.order_id, m.trigger_event_id, m.channel)].append((m.sent_at, m.message_id))
    for m in messages:
        part = day(m.sent_at)
        t = tpl.get((m.template_id, m.template_version))
        if t is None or not _in_force(t, m.sent_at) or t.channel != m.channel or t.purpose != m.purpose:
            hit("message.template_invalid", "message", m.message_id, m.order_id, part)
        if t is None:
            continue
        applying = [r for r in records.get((m.channel, normalize_address(m.channel, m.address), m.purpose), [])
                    if r[0] <= m.sent_at]  # fmt: skip
        latest = max(applying) if applying else None  # (at, withdrawn): a withdrawal wins a tie
        allowed = (latest is not None and not latest[1]) if m.purpose == "marketing" else not (latest and latest[1])
        if not allowed:
            hit("message.without_consent", "message", m.message_id, m.order_id, part)
        if m.purpose == "marketing":
            local = dt.datetime.fromtimestamp(m.sent_at, tz).time()
            if not (dt.time(8) <= local < dt.time(21)):
                hit("message.quiet_hours", "message", m.message_id, m.order_id, part)
        if m.trigger_event_id is not None:
            found_event = events.get(m.trigger_event_id)
            trigger = found_event if found_event is not None and found_event[1] == m.order_id else None
            if (
                trigger is None
                or t.status != trigger[2]
                or (trigger[3] is not None and t.exception_code not in (trigger[3], "*"))
            ):
                hit("message.template_mismatch", "message", m.message_id, m.order_id, part)
            if sorted(earlier[(m.order_id, m.trigger_event_id, m.channel)])[0][1] != m.message_id:
                hit("message.duplicate", "message", m.message_id, m.order_id, part)
        if t.status is not None:
            happened = any(e[2] == t.status and e[4] <= m.sent_at for e in by_order.get(m.order_id, ()))
            unproven = False
            order = data.orders.get(m.order_id)
            if t.status == "delivered" and order is not None:
                kinds = {k for k, r in proofs.get(m.order_id, ()) if r <= m.sent_at}
                unproven = any(k not in kinds for k in data.required_proofs(m.order_id))
            if not happened or unproven:
                hit("message.premature", "message", m.message_id, m.order_id, part)
            term = first_terminal.get(m.order_id)
            if t.status not in TERMINAL_STATUSES and term is not None and m.sent_at > term:
                hit("message.after_terminal", "message", m.message_id, m.order_id, part)
    # message.missing
    told: dict[tuple[str, str], list[int]] = defaultdict(list)
    for m in messages:
        if m.trigger_event_id is not None:
            told[(m.trigger_event_id, m.order_id)].append(m.sent_at)
    window = 30 * 60
    for event_id, order_id, status, _code, occ, rec in data.events:
        order = data.orders.get(order_id)
        if order is None or order[4] or status not in NOTIFYING_STATUSES or not (order[2] or order[3]):
            continue
        if rec + window > data.as_of:
            continue
        if not any(s <= rec + window for s in told.get((event_id, order_id), ())):
            hit("message.missing", "event", event_id, order_id, day(occ))
    # template registry checks at as_of
    as_of_day = day(data.as_of)
    for t in templates:
        key = f"{t.template_id}:{t.version}"
        if _in_force(t, data.as_of) and t.status in ("delivery_attempted", "exception"):
            needed = ["{reason}", "{next_step}"] + (["{reschedule_url}"] if t.status == "delivery_attempted" else [])
            if any(n not in t.body for n in needed):
                hit("template.incomplete", "template", key, None, as_of_day)
        if t.sensitive and t.approved_by is not None and (t.reviewed_by is None or t.reviewed_by == t.approved_by):
            hit("template.review_missing", "template", key, None, as_of_day)
    as_of_dt = dt.datetime.fromtimestamp(data.as_of, tz)
    since = int((as_of_dt - dt.timedelta(days=28)).timestamp())
    channels = {m.channel for m in messages if m.purpose == "transactional" and since < m.sent_at <= data.as_of}
    in_force = [t for t in templates if t.purpose == "transactional" and _in_force(t, data.as_of)]
    for ch in sorted(channels):
        for status in NOTIFYING_STATUSES:
            codes: list[str | None] = list(EXCEPTION_CODES) if status in ("delivery_attempted", "exception") else [None]
            for code in codes:
                ok = any(t.channel == ch and t.status == status and (code is None or t.exception_code in (code, "*"))
                         for t in in_force)  # fmt: skip
                if not ok:
                    hit("template.coverage_gap", "template_coverage", f"{ch}:{status}:{code or '-'}", None, as_of_day)
    return found


def generate_messages(
    out: Path, seed: int, timezone: str, start: dt.date, rates: Any, data: MessageData
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, int]]:
    """Write the three §8 folders; returns (check findings, quarantined rows, injected fault counts)."""
    gen = MessageGenerator(out, seed, timezone, start, rates)
    gen.build(data)
    gen.write()
    data.counts.update(messages=len(gen.messages), consents=len(gen.consents), templates=len(gen.templates))
    return gen.truth(data), gen.quarantine, gen.injected
