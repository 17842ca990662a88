"""Fault kinds the generator can inject, and their per-kind rates."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from lastmile.codes import QUARANTINE_REASONS

# Check faults: the rate is the share of orders that get the fault (at least one order when the rate is
# above 0), except where noted. Quarantine faults: the rate is the share of rows of the entity's files
# that get an extra bad row (at least one; whole-file reasons write one file when the rate is above 0).
CHECK_FAULT_DEFAULTS: dict[str, float] = {
    "event.sequence_gap": 0.004,  # an attempt without its out_for_delivery scan
    "event.latency": 0.006,  # one event recorded 20 min to 8 h late (device offline)
    "event.clock_skew": 0.004,  # an in_transit scan stamped 6-40 min ahead of its arrival
    "event.orphan": 0.003,  # an extra scan naming an order that does not exist
    "event.exception_code_invalid": 0.004,  # missing / non-canonical code, or a code on a delivery
    "event.conflict": 0.003,  # an event re-sent later with different content
    "event.after_terminal": 0.003,  # a stray scan or a cancellation after delivery
    "proof.missing": 0.004,  # a required proof dropped, or captured hours late
    "proof.invalid": 0.004,  # an extra proof with a bad blob (five sub-kinds, each at least once)
    "address.distance_mismatch": 0.004,  # one attempt 300-2500 m from the geocode
    "address.ungeocoded": 0.004,  # an order without address_lat/address_lon
    "order.contact_unreachable": 0.004,  # neither a possible phone nor a possible email
    "event.stalled": 0.003,  # a lifecycle that stops after dispatched/out_for_delivery/arrived
    "exception.unresolved": 0.003,  # a failed attempt with no terminal event after it
    "address.repeat_failure": 0.001,  # clusters of 2 orders failing 3 times at one address
    "address.hotspot": 0.05,  # share of couriers whose GPS drifts in the last days (at least 1)
}
# Return pickups (CONTRACT §9, lastmile.generator.returns): the share of orders whose return gets the fault.
RETURN_FAULT_DEFAULTS: dict[str, float] = {
    "return.acceptance_missing": 0.002,  # no acceptance photo, or one captured 31-90 min from the pickup
    "return.unlinked": 0.002,  # original_order_id names no order, or another return pickup
    "return.before_delivery": 0.002,  # created before the original was delivered
    "return.conflicting_update": 0.002,  # the original gets delivered/out_for_delivery after the pickup
    "return.pickup_overdue": 0.002,  # nobody collects the parcel
}
QUARANTINE_FAULT_DEFAULTS: dict[str, float] = {
    f"quarantine.{reason}": (1.0 if reason in ("unsupported_file", "unreadable_file") else 0.0004)
    for reason in QUARANTINE_REASONS
}
# Partner feeds (lastmile.generator.partners): partner.share is the share of orders per day handed to a partner
# carrier (0 = no partner feeds); partner.unmapped_code the share of partner orders with one event whose code
# no mapping knows (at least one when above 0).
PARTNER_FAULT_DEFAULTS: dict[str, float] = {"partner.share": 0.05, "partner.unmapped_code": 0.05}
# Customer messages (lastmile.generator.messages, CONTRACT §8): a message check's rate is the share of orders
# with a message that get the fault (at least one); template.registry > 0 adds registry faults (an incomplete
# failed-delivery template, sensitive ones without a second reviewer, a push coverage gap); messages.bad_rows
# > 0 writes a re-sent batch and preference-centre rows that quarantine (conflict, unknown_channel,
# bad_timestamp, missing_required, unknown_state, bad_number).
MESSAGE_FAULT_DEFAULTS: dict[str, float] = {
    "message.without_consent": 0.004,  # an opt-out before the messages, a grant and opt-out at one instant, or
    # marketing without an opt-in
    "message.quiet_hours": 0.003,  # a marketing message at night
    "message.template_invalid": 0.003,  # a retired or unknown template version, or another channel's template
    "message.template_mismatch": 0.003,  # a failed-attempt notice on the out-for-delivery template, or a
    # trigger event of another order
    "message.premature": 0.003,  # "delivered" before the delivery, or before its proofs were recorded
    "message.after_terminal": 0.003,  # an out-for-delivery push hours after the delivery
    "message.duplicate": 0.003,  # the first notice sent twice on one channel
    "message.missing": 0.004,  # the first notice not sent, or sent 31 min to 2 h late
    "template.registry": 1.0,
    "messages.bad_rows": 1.0,
}
DEFAULT_RATES: Mapping[str, float] = MappingProxyType(
    {
        **CHECK_FAULT_DEFAULTS,
        **QUARANTINE_FAULT_DEFAULTS,
        **PARTNER_FAULT_DEFAULTS,
        **RETURN_FAULT_DEFAULTS,
        **MESSAGE_FAULT_DEFAULTS,
    }
)


@dataclass(frozen=True)
class FaultRates:
    """Per-kind fault rates, keyed by check_id or `quarantine.<reason>`; see the package docstring."""

    rates: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))

    def __post_init__(self) -> None:
        merged = dict(DEFAULT_RATES)
        for name, value in self.rates.items():
            if name not in DEFAULT_RATES:
                raise ValueError(f"unknown fault kind {name!r} (known: {', '.join(DEFAULT_RATES)})")
            try:
                rate = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"fault rate {name} = {value!r} is not a number") from None
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"fault rate {name} = {value!r} must be between 0 and 1")
            merged[name] = rate
        object.__setattr__(self, "rates", MappingProxyType(merged))

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, float]) -> "FaultRates":
        """Defaults overridden by `mapping`; an unknown name is a ValueError naming it."""
        return cls(dict(mapping))

    @classmethod
    def none(cls) -> "FaultRates":
        """Every rate 0: a clean network that should trip no check."""
        return cls(dict.fromkeys(DEFAULT_RATES, 0.0))

    @staticmethod
    def names() -> list[str]:
        return list(DEFAULT_RATES)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.rates.items())))

    def __getitem__(self, name: str) -> float:
        return self.rates[name]

    def to_dict(self) -> dict[str, float]:
        return {name: self.rates[name] for name in DEFAULT_RATES}
