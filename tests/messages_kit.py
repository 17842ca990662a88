"""Rows of the §8 folders (messages, consents, templates) for hand-built landing folders."""

MESSAGE = {
    "message_id": "M1", "order_id": "O1", "channel": "sms", "purpose": "transactional",
    "address": "+44 (20) 7946.0958", "template_id": "T-OFD", "template_version": "1",
    "trigger_event_id": "E1", "sent_at": "2026-10-05T10:05:00Z", "delivery_status": "delivered",
    "variant": "", "body": "Hello Ann, your parcel is on its way",
}  # fmt: skip
CONSENT = {
    "consent_id": "K1", "channel": "sms", "address": "+44 20 7946 0958", "purpose": "all",
    "state": "granted", "at": "2026-10-01T09:00:00Z", "source": "checkout",
}  # fmt: skip
TEMPLATE = {
    "template_id": "T-OFD", "version": "1", "channel": "sms", "purpose": "transactional",
    "status": "out_for_delivery", "exception_code": "", "body": "Your parcel {tracking} is on its way",
    "sensitive": "false", "approved_by": "alice", "reviewed_by": "", "approved_at": "2026-09-01T00:00:00Z",
    "retired_at": "",
}  # fmt: skip
