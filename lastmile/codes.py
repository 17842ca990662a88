"""Canonical codes of CONTRACT.md §2 and §3, and the quarantine reasons ingest gives bad rows."""

from typing import Final

STATUSES: Final = (
    "created",
    "in_transit",
    "dispatched",
    "out_for_delivery",
    "arrived",
    "delivery_attempted",
    "delivered",
    "exception",
    "held_at_location",
    "returned_to_sender",
    "cancelled",
    "picked_up",
    "return_received",
)
TERMINAL_STATUSES: Final = ("delivered", "returned_to_sender", "cancelled", "return_received")
ATTEMPT_STATUSES: Final = ("delivery_attempted", "delivered", "picked_up")
# Statuses whose event must carry an exception code (every other status must not carry one).
CODE_STATUSES: Final = ("delivery_attempted", "exception")
# Statuses of an order in flight, watched by event.stalled.
IN_FLIGHT_STATUSES: Final = ("dispatched", "out_for_delivery", "arrived")

# Order types (CONTRACT §1, §9). A null order_type is a delivery.
ORDER_TYPES: Final = ("delivery", "return_pickup")
DELIVERY: Final = "delivery"
RETURN_PICKUP: Final = "return_pickup"
# §9: events of the original order that contradict a return already picked up.
RETURN_CONFLICTING_STATUSES: Final = ("out_for_delivery", "delivery_attempted", "delivered")
# §9: any of these ends the wait for a pickup (return.pickup_overdue).
RETURN_SETTLED_STATUSES: Final = ("picked_up", "cancelled", "return_received")
# §3: the proof of acceptance of a return pickup.
RETURN_ACCEPTANCE_KIND: Final = "photo"

EXCEPTION_ATTRIBUTION: Final = {
    "address_not_found": "shipper",
    "address_mismatch": "shipper",
    "recipient_unavailable": "consignee",
    "access_issue": "consignee",
    "customer_request_reschedule": "consignee",
    "customer_request_hold": "consignee",
    "refused": "consignee",
    "damaged": "carrier",
    "vehicle_issue": "carrier",
    "weather": "external",
    "other": "external",
}
EXCEPTION_CODES: Final = tuple(EXCEPTION_ATTRIBUTION)

SERVICE_TYPES: Final = ("standard", "signature_required", "age_restricted", "high_value")
PROOF_KINDS: Final = ("signature", "photo", "id_check", "pin")
BLOB_PROOF_KINDS: Final = ("signature", "photo", "id_check")
SOURCES: Final = ("driver_app", "dispatch", "support")  # plus partner:<id>

REQUIRED_PROOFS: Final = {
    "standard": ("photo",),
    "signature_required": ("signature",),
    "age_restricted": ("signature", "id_check"),
    "high_value": ("signature", "photo"),
}

ENTITIES: Final = ("orders", "events", "proofs", "messages", "consents", "templates")

# Customer messages, consent and templates (CONTRACT §8).
CHANNELS: Final = ("sms", "email", "push")
MESSAGE_PURPOSES: Final = ("transactional", "marketing")
CONSENT_PURPOSES: Final = ("transactional", "marketing", "all")
CONSENT_STATES: Final = ("granted", "withdrawn")
MESSAGE_DELIVERY_STATUSES: Final = ("sent", "delivered", "failed", "bounced")
NOTIFYING_STATUSES: Final = ("out_for_delivery", "delivery_attempted", "delivered", "exception", "picked_up")

# Quarantine reasons. A row failing several rules gets the first reason in this order
# (file-level reasons first, then column rules in the column order of CONTRACT §1).
QUARANTINE_REASONS: Final = {
    "unsupported_file": "a file that is not .csv, .jsonl or .parquet; quarantined whole",
    "unreadable_file": "the file could not be parsed as a table at all; quarantined whole",
    "malformed_row": "a line that does not parse (wrong number of CSV fields, broken JSON, not an object)",
    "missing_required": "a required value is missing (detail names the column)",
    "bad_timestamp": "a timestamp that does not parse",
    "bad_number": "a number that does not parse, or a latitude/longitude out of range",
    "unknown_service_type": "service_type outside the canonical set",
    "unknown_country": "country is not an ISO 3166-1 alpha-2 code",
    "unknown_status": "status outside the canonical set",
    "unknown_source": "source is not driver_app, dispatch, support or partner:<id>",
    "unknown_kind": "proof kind outside the canonical set",
    "partial_coordinates": "lat without lon or lon without lat (also address_lat/address_lon)",
    "partial_window": "window_start without window_end or the reverse",
    "window_not_ordered": "window_start is not before window_end",
    "blob_path_escape": "a blob_path that is absolute or leaves LANDING/blobs/",
    "conflict": "an event_id or proof_id seen before with different content; the first one stays",
    # Orders' order_type (CONTRACT §1, §9); listed last so earlier reasons keep their generator streams.
    "unknown_order_type": "order_type is neither delivery nor return_pickup",
}
# Quarantine reasons that depend on the deployment rather than on the row alone (the generator, whose data
# always lies inside the partitions, does not inject them). Checked after every reason above.
PUBLISH_QUARANTINE_REASONS: Final = {
    "outside_partitions": "the row's day (orders: created_at, events: occurred_at, proofs: captured_at, messages: "
    "sent_at, network timezone) is outside the daily partitions lastmile publishes (partition_start_date up to "
    "tomorrow)",
}
