"""The checks of CONTRACT §4: id, severity, entity kind, scope and the parameters each SQL file takes."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lastmile.codes import (
    ATTEMPT_STATUSES,
    BLOB_PROOF_KINDS,
    CODE_STATUSES,
    DELIVERY,
    EXCEPTION_CODES,
    IN_FLIGHT_STATUSES,
    NOTIFYING_STATUSES,
    REQUIRED_PROOFS,
    RETURN_ACCEPTANCE_KIND,
    RETURN_CONFLICTING_STATUSES,
    RETURN_PICKUP,
    RETURN_SETTLED_STATUSES,
    TERMINAL_STATUSES,
)
from lastmile.settings import Settings

# Statuses that must carry an exception code (every other status must not carry one).
STATUSES_NEEDING_CODE = CODE_STATUSES
# exception.unresolved / exception_resolution_rate: the events that open an exception.
FAILURE_STATUSES = ("delivery_attempted", "exception")


def _us(minutes: float) -> int:
    return round(minutes * 60_000_000)


@dataclass(frozen=True)
class Check:
    check_id: str
    severity: str  # 'warn' | 'error'
    entity_kind: str
    scope: str  # 'partition' (per network-timezone day) | 'window' (ending at as_of)
    params: Callable[[Settings], dict[str, Any]]
    blocking: bool = False  # downstream KPI/report assets do not build on a partition while it fails
    description: str = ""

    @property
    def sql_file(self) -> str:
        return "sql/" + self.check_id.replace(".", "_") + ".sql"


def _none(_: Settings) -> dict[str, Any]:
    return {}


def _required() -> list[dict[str, Any]]:
    return [{"service_type": k, "kinds": list(v)} for k, v in REQUIRED_PROOFS.items()]


CHECKS: tuple[Check, ...] = (
    Check("event.sequence_gap", "error", "event", "partition", lambda s: {"attempt": list(ATTEMPT_STATUSES)},
          description="an attempt with no out_for_delivery since the order's previous attempt"),
    Check("event.latency", "warn", "event", "partition",
          lambda s: {"threshold_us": _us(s.event_latency_minutes)},
          description="recorded_at - occurred_at above the latency threshold"),
    Check("event.clock_skew", "warn", "event", "partition",
          lambda s: {"threshold_us": _us(s.event_clock_skew_minutes)},
          description="occurred_at - recorded_at above the clock-skew threshold"),
    Check("event.orphan", "error", "event", "partition", _none, blocking=True,
          description="the event's order_id is not in orders"),
    Check("event.exception_code_invalid", "error", "event", "partition",
          lambda s: {"needs_code": list(STATUSES_NEEDING_CODE), "codes": list(EXCEPTION_CODES)},
          description="missing or non-canonical exception code, or a code on a status that takes none"),
    Check("event.conflict", "error", "event", "partition", _none, blocking=True,
          description="a later row reused the event_id with different content"),
    Check("event.after_terminal", "warn", "event", "partition",
          lambda s: {"terminal": list(TERMINAL_STATUSES)},
          description="the event occurred after the order's first terminal event"),
    Check("proof.missing", "error", "order", "partition",
          lambda s: {"window_us": _us(s.proof_window_minutes), "delivery": DELIVERY,
                     "required": [{"service_type": k, "kinds": list(v)} for k, v in REQUIRED_PROOFS.items()]},
          description="a delivery order's required proof kind not captured within the window of its first delivery"),
    Check("proof.invalid", "error", "proof", "partition", lambda s: {"blob_kinds": list(BLOB_PROOF_KINDS)},
          blocking=True, description="blob absent, empty, digest missing or wrong, not PNG/JPEG, or no blob_path"),
    Check("address.distance_mismatch", "warn", "event", "partition",
          lambda s: {"distance_m": s.address_distance_m, "attempt": list(ATTEMPT_STATUSES)},
          description="an attempt recorded too far from the order's geocode"),
    Check("address.ungeocoded", "warn", "order", "partition", _none,
          description="an order without address_lat/address_lon"),
    Check("order.contact_unreachable", "warn", "order", "partition", _none,
          description="neither a possible phone number nor a well-formed e-mail"),
    Check("event.stalled", "warn", "order", "window",
          lambda s: {"threshold_us": _us(s.stalled_hours * 60), "in_flight": list(IN_FLIGHT_STATUSES)},
          description="the order's latest event is in flight and older than the stalled threshold"),
    Check("exception.unresolved", "warn", "order", "window",
          lambda s: {"days": s.exception_unresolved_days, "terminal": list(TERMINAL_STATUSES),
                     "failure": list(FAILURE_STATUSES), "tz": s.network_timezone},
          description="no terminal event within the window after the order's first failure"),
    Check("address.repeat_failure", "error", "address", "window",
          lambda s: {"days": s.repeat_failure_window_days, "min_events": s.repeat_failure_min_events,
                     "min_orders": s.repeat_failure_min_orders, "tz": s.network_timezone},
          description="repeated address failures at one address key across orders"),
    Check("address.hotspot", "warn", "zone|courier", "window",
          lambda s: {"days": s.hotspot_window_days, "distance_m": s.address_distance_m, "z": s.hotspot_z,
                     "min_failures": s.hotspot_min_failures, "attempt": list(ATTEMPT_STATUSES),
                     "tz": s.network_timezone},
          description="a zone or courier with an unusually high share of distance mismatches"),
    # Returns and pickups (CONTRACT §9).
    Check("return.acceptance_missing", "error", "order", "partition",
          lambda s: {"return_type": RETURN_PICKUP, "kind": RETURN_ACCEPTANCE_KIND,
                     "window_us": _us(s.return_acceptance_window_minutes)},
          description="a return pickup with no photo captured within the window of its first picked_up"),
    Check("return.unlinked", "error", "order", "partition", lambda s: {"return_type": RETURN_PICKUP},
          description="a return pickup whose original_order_id is not in orders or names a return pickup"),
    Check("return.before_delivery", "warn", "order", "partition",
          lambda s: {"return_type": RETURN_PICKUP, "delivery": DELIVERY},
          description="a return pickup created before its original order was delivered"),
    Check("return.conflicting_update", "error", "event", "partition",
          lambda s: {"return_type": RETURN_PICKUP, "conflicting": list(RETURN_CONFLICTING_STATUSES)},
          description="an out_for_delivery/attempt/delivery of the original order after the return was picked up"),
    Check("return.pickup_overdue", "warn", "order", "window",
          lambda s: {"return_type": RETURN_PICKUP, "days": s.return_pickup_overdue_days,
                     "settled": list(RETURN_SETTLED_STATUSES), "tz": s.network_timezone},
          description="a return pickup waiting too long: no picked_up, cancelled or return_received"),
    # Partner feed checks (lastmile.partners): partition of the partner event; they read partner_events / events.
    Check("partner.unmapped_code", "error", "partner_code", "partition", _none,
          description="a partner status or reason code with no mapping (no event was invented)"),
    Check("partner.new_code", "warn", "partner_code", "partition", _none,
          description="a mapped partner code first seen in this partition's ISO week"),
    Check("partner.reason_drift", "warn", "partner_exception_code", "partition",
          lambda s: {"points": s.reason_drift_points},
          description="an exception code's share of a partner's failed attempts moved against the trailing 4 weeks"),
    # Customer messages, consent and templates (CONTRACT §8): they read messages, consents, templates, events,
    # orders and proofs. A message whose template does not exist is judged by message.template_invalid only.
    Check("message.without_consent", "error", "message", "partition", _none,
          description="the consent rule does not allow the message (no opt-in for marketing, or an opt-out)"),
    Check("message.quiet_hours", "warn", "message", "partition",
          lambda s: {"quiet_start": s.quiet_hours_start, "quiet_end": s.quiet_hours_end},
          description="a marketing message sent outside the allowed hours (network timezone)"),
    Check("message.template_invalid", "error", "message", "partition", _none,
          description="the template does not exist, is not in force at sent_at, or has another channel or purpose"),
    Check("message.template_mismatch", "error", "message", "partition", _none,
          description="no trigger event, or the template tells of another status or exception code than it"),
    Check("message.premature", "error", "message", "partition",
          lambda s: {"required": _required(), "return_type": RETURN_PICKUP, "acceptance_kind": RETURN_ACCEPTANCE_KIND},
          description="the template's status had not happened yet, or delivery proofs were not yet recorded"),
    Check("message.after_terminal", "warn", "message", "partition", lambda s: {"terminal": list(TERMINAL_STATUSES)},
          description="an in-flight update sent after the order's first terminal event"),
    Check("message.duplicate", "warn", "message", "partition", _none,
          description="an earlier message has the same order, trigger event and channel"),
    Check("message.missing", "error", "event", "partition",
          lambda s: {"notifying": list(NOTIFYING_STATUSES), "window_us": _us(s.message_missing_minutes)},
          description="a notifying event of a reachable order that no message told about in time"),
    Check("template.incomplete", "error", "template", "window", _none,
          description="a failed-attempt or exception template in force lacking {reason}, {next_step} or "
                      "{reschedule_url}"),
    Check("template.review_missing", "error", "template", "window", _none,
          description="a sensitive template approved without a review by another person"),
    Check("template.coverage_gap", "warn", "template_coverage", "window",
          lambda s: {"days": s.coverage_gap_days, "notifying": list(NOTIFYING_STATUSES),
                     "codes": list(EXCEPTION_CODES), "needs_code": list(STATUSES_NEEDING_CODE)},
          description="a sending channel without a transactional template in force for a notifying status or code"),
)  # fmt: skip

BY_ID = {c.check_id: c for c in CHECKS}
BLOCKING = tuple(c.check_id for c in CHECKS if c.blocking)
