"""The contract sets the §8 validation SQL files take as parameters (lastmile/ingest/sql/validate_messages.sql,
validate_consents.sql, validate_templates.sql)."""

from typing import Any

from lastmile.codes import (
    CHANNELS,
    CONSENT_PURPOSES,
    CONSENT_STATES,
    EXCEPTION_CODES,
    MESSAGE_DELIVERY_STATUSES,
    MESSAGE_PURPOSES,
)


def message_params() -> dict[str, Any]:
    return {
        "channels": list(CHANNELS),
        "message_purposes": list(MESSAGE_PURPOSES),
        "consent_purposes": list(CONSENT_PURPOSES),
        "consent_states": list(CONSENT_STATES),
        "delivery_statuses": list(MESSAGE_DELIVERY_STATUSES),
        "exception_codes": list(EXCEPTION_CODES),
    }
