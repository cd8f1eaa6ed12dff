"""Signed links to one establishment's page, for email recipients without an account (R14).

A contact or a member service address has no login; the link in its emails
carries a token that opens that establishment's page (and nothing else) for
`SIGNED_LINK_DAYS` days, whatever `PUBLIC_BAROMETER` says. The token is
signed with the app's secret and a salt of its own, so no other signed value
of the app (preferences links, sessions) is accepted in its place.
"""

from __future__ import annotations

import calendar
import time
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from .settings import Settings

ESTABLISHMENT_LINK_SALT = "barometre.establishment-link"
LINK_PARAMETER = "lien"
SECONDS_PER_DAY = 86400


class LinkProblem(StrEnum):
    """Why a signed link does not open: each has its own status and French page."""

    INVALID = "invalid"  # tampered with, or made for another establishment: 403
    EXPIRED = "expired"  # older than SIGNED_LINK_DAYS: 410


class IssuedAtSigner(TimestampSigner):
    """A timestamp signer whose signing time can be given (None: now).

    An email's link is dated by the event or digest that made it, not by the
    moment it was rendered: every copy and every retry carries the same link,
    valid for the same days.
    """

    def __init__(self, *args: Any, issued_at: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.issued_at = issued_at

    def get_timestamp(self) -> int:
        return int(time.time()) if self.issued_at is None else self.issued_at


def _serializer(settings: Settings, issued_at: datetime | None = None) -> URLSafeTimedSerializer:
    stamp = None if issued_at is None else calendar.timegm(issued_at.utctimetuple())
    return URLSafeTimedSerializer(
        settings.secret_key,
        salt=ESTABLISHMENT_LINK_SALT,
        signer=IssuedAtSigner,
        signer_kwargs={"issued_at": stamp},
    )


def establishment_token(
    establishment_id: int, settings: Settings, issued_at: datetime | None = None
) -> str:
    """`issued_at`: naive UTC (as stored), from when the link's validity counts."""
    return str(_serializer(settings, issued_at).dumps(establishment_id))


def check_token(token: str, establishment_id: int, settings: Settings) -> LinkProblem | None:
    """None when `token` opens this establishment's page now, else why it does not."""
    max_age = settings.signed_link_days * SECONDS_PER_DAY
    try:
        value = _serializer(settings).loads(token, max_age=max_age)
    except SignatureExpired:
        return LinkProblem.EXPIRED
    except BadSignature:
        return LinkProblem.INVALID
    if type(value) is not int or value != establishment_id:
        return LinkProblem.INVALID
    return None


def establishment_url(
    slug: str,
    settings: Settings,
    signed_for: int | None = None,
    issued_at: datetime | None = None,
) -> str:
    """The absolute address of an establishment's page; signed when `signed_for` is its id."""
    url = f"{settings.base_url.rstrip('/')}/etablissements/{quote(slug)}"
    if signed_for is None:
        return url
    token = establishment_token(signed_for, settings, issued_at)
    return f"{url}?{LINK_PARAMETER}={token}"
