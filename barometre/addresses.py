"""Email addresses: the one rule of every address the product stores or sends to.

Every door an address comes in by calls `check_address` (or `clean_address`):
the console's contacts, member services and invitations, the password-link
form, the follow form, the console's « adresses » page, and the `users create`,
`contacts add` and `services add` commands. The alert pipeline calls it again
before it writes an address into a header, so an address stored before the
rule tightened fails its notification with the reason instead of making an
invalid email. (History imports carry no address.)

The rule:

- one address (no display name, no comment), at most 254 characters, no line
  break or NUL;
- ASCII only before the @. The product does not send with SMTPUTF8 (RFC 6531),
  and an encoded word is forbidden inside an address (RFC 2047 §5): `bоb@…`
  with a Cyrillic « о » is refused with its own French message;
- an internationalised domain is accepted and kept in its ASCII (IDNA) form:
  `x@société.be` is stored, shown and sent as `x@xn--socit-esab.be`, so one
  domain has one spelling in the database, the throttles and the headers;
- the domain is lower-cased; the part before the @ is kept as typed (the
  services that store accounts and contacts lower-case the whole address).

`mailbox` is what the throttles count: the same mailbox whatever the case and
whatever `+tag` was added before the @ (`Someone+1@Example.org` is
`someone@example.org`). Dots are NOT removed: only some providers (Gmail) ignore
them, and for everyone else `j.doe` and `jdoe` are two people. An attacker
with a Gmail address can thus ask once per spelling with dots, within the
per-client limit, which stays. The mailbox is only a throttle key: an address
is stored and written to as the rule gives it, and `someone+1@…` follows an
establishment apart from `someone@…` (each has its own links and choices).
"""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l

MAX_ADDRESS = 254
# Whom at Fidex a contact answers (issue 26): a name and a phone number beside an address.
MAX_CONTACT_NAME = 200
MAX_PHONE = 40
# A phone number as people write it: +32 2 123 45 67, 02/123.45.67, (02) 123-45-67, with
# 6 to 20 digits. Nothing else: it is written into emails as it is.
PHONE = re.compile(r"\+?[0-9 ./()-]+")
PHONE_DIGITS = range(6, 21)

INVALID = _l("Adresse électronique invalide.")
NOT_ASCII = _l("Une adresse électronique ne peut contenir que des caractères ASCII avant le @.")


class AddressError(ValueError):
    """An address the rule refuses; `reason` says why, in French (lazily translated)."""

    def __init__(self, reason: str) -> None:
        super().__init__(str(reason))
        self.reason = reason


def check_address(raw: str) -> str:
    """The address as the rule keeps it; raises AddressError with the reason otherwise."""
    if not isinstance(raw, str) or any(c in raw for c in "\r\n\x00"):
        raise AddressError(INVALID)
    candidate = raw.strip()
    if not candidate or len(candidate) > MAX_ADDRESS:
        raise AddressError(INVALID)
    if not candidate.rpartition("@")[0].isascii():
        raise AddressError(NOT_ASCII)
    try:
        # `.test` domains are allowed: they are what the tests and demos use.
        checked = validate_email(
            candidate, check_deliverability=False, test_environment=True, allow_smtputf8=False
        )
    except EmailNotValidError:
        raise AddressError(INVALID) from None
    address = str(checked.ascii_email)
    if len(address) > MAX_ADDRESS:  # the ASCII form of a domain is longer than its letters
        raise AddressError(INVALID)
    return address


def clean_address(raw: str) -> str | None:
    """The address as the rule keeps it, or None for anything it refuses."""
    try:
        return check_address(raw)
    except AddressError:
        return None


def address_key(address: str) -> str:
    """How two stored addresses are compared (and how preferences, followers and signed
    links keep one): without surrounding spaces, lower-cased."""
    return address.strip().lower()


def account_form(typed: str) -> str:
    """What a typed address is compared with to find an account: the rule's form,
    lower-cased, as accounts are stored; what the rule refuses is only stripped."""
    return (clean_address(typed) or typed.strip()).lower()


def mailbox(address: str) -> str:
    """The throttles' key of an address (or of anything typed as one): lower case, the
    ASCII form of its domain, without a `+tag` before the @. Dots are kept."""
    folded = account_form(address)
    local, at, domain = folded.rpartition("@")
    head = local.partition("+")[0]
    return f"{head}@{domain}" if at and head else folded


def is_phone(raw: str) -> bool:
    """Whether `raw` is a phone number as people write them (see PHONE)."""
    text = raw.strip()
    digits = sum(c.isdigit() for c in text)
    return len(text) <= MAX_PHONE and bool(PHONE.fullmatch(text)) and digits in PHONE_DIGITS
