"""Email addresses: the one check of every address the product stores or sends to.

The console, the command line and the alert pipeline all call `clean_address`,
so an address one of them accepts is accepted by all the others.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

MAX_ADDRESS = 254


def clean_address(raw: str) -> str | None:
    """A normalised address, or None for anything that could inject a header or bounce."""
    if not isinstance(raw, str) or any(c in raw for c in "\r\n\x00"):
        return None
    candidate = raw.strip()
    if not candidate or len(candidate) > MAX_ADDRESS:
        return None
    try:
        # `.test` domains are allowed: they are what the tests and demos use.
        checked = validate_email(candidate, check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        return None
    return str(checked.normalized)
