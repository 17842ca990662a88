"""Customer messages, consent records and the template registry (CONTRACT §8).

lastmile does not send messages: it receives what the messaging system sent (`LANDING/messages/`), the
consent and opt-out records (`LANDING/consents/`) and the template registry (`LANDING/templates/`), and
governs them. Ingest of the three folders runs inside `lastmile.ingest.load.ingest_landing` (same reading
order, accounting and quarantine); the handlers are in `lastmile.messages.ingest`.

Addresses (phone numbers, e-mail addresses, device ids) are personal data: the warehouse keeps only a
keyed hash of the address normalised by channel (`normalize_address`); a message body is sealed in the
vault as artifact `message:<message_id>` (kind message_body) and a consent record's address as
`consent:<consent_id>` (kind consent_record).
"""

from typing import Final

MESSAGE_BODY_KIND: Final = "message_body"
CONSENT_RECORD_KIND: Final = "consent_record"

# Quarantine reasons particular to the §8 folders (missing_required, bad_timestamp, bad_number, unknown_status
# and conflict are ingest's own).
MESSAGE_QUARANTINE_REASONS: Final = {
    "unknown_channel": "channel is not sms, email or push",
    "unknown_purpose": "purpose outside its set (transactional, marketing; consents also all)",
    "unknown_state": "consent state is not granted or withdrawn",
    "unknown_delivery_status": "delivery_status is not sent, delivered, failed or bounced",
    "unknown_exception_code": "a template exception_code that is neither a code of §2 nor '*'",
    "bad_boolean": "a template's sensitive flag that is not true/false",
}

_PHONE_STRIP = str.maketrans("", "", " .-()")


def normalize_address(channel: str | None, address: str | None) -> str | None:
    """The address as CONTRACT §8 compares it: sms without spaces, dots, dashes and parentheses; email trimmed
    and lowercased; push (a device id) as given. None for a missing address or an unknown channel."""
    if address is None or address == "":
        return None
    if channel == "sms":
        return address.translate(_PHONE_STRIP)
    if channel == "email":
        return address.strip().lower()
    if channel == "push":
        return address
    return None
