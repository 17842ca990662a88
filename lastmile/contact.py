"""Contact-field rules of CONTRACT §4 `order.contact_unreachable`, applied at ingest.

Contact fields are encrypted from the first byte, so the shape facts the check needs are computed
while the plaintext is still in memory and stored as booleans beside the keyed hashes.
"""

import re

_PHONE_STRIP = str.maketrans("", "", " .-()")
_PHONE = re.compile(r"\+[1-9][0-9]{7,14}")


def phone_possible(phone: str | None) -> bool:
    """After removing spaces, dots, dashes and parentheses: '+', then 8 to 15 digits, the first not 0."""
    if phone is None:
        return False
    return _PHONE.fullmatch(phone.translate(_PHONE_STRIP)) is not None


def email_valid(email: str | None) -> bool:
    """Exactly one '@' with text before it and a dot inside the part after it.

    "Inside" is read strictly: the domain part has a dot with at least one character before and after
    it, so 'a@b.c' passes and 'a@.com', 'a@com.' and 'a@com' fail.
    """
    if email is None or email.count("@") != 1:
        return False
    local, domain = email.split("@")
    return bool(local) and "." in domain[1:-1]


def normalize_name(name: str | None) -> str | None:
    """Keyed-hash form of a name: case-folded, whitespace collapsed."""
    return " ".join(name.casefold().split()) if name else None


def normalize_phone(phone: str | None) -> str | None:
    """Keyed-hash form of a phone number: '+' and digits only (a given phone with neither, such as 'n/a', is
    kept as written, so that a hash is present exactly when a phone was given)."""
    if not phone:
        return None
    kept = "".join(ch for ch in phone if ch.isdigit() or ch == "+")
    return kept or phone


def normalize_email(email: str | None) -> str | None:
    """Keyed-hash form of an e-mail address: trimmed, lower-cased."""
    return email.strip().lower() if email else None
