"""Signed, expiring links to set a password (invitation) or reset it.

A link carries the user id and a fingerprint of the current password hash and
session version: once the password is set, the fingerprint changes and every
earlier link stops working, so a link is good for one use only.

The link is composed when its email is sent, never stored: the email is a
notification row holding only the user's id. It is dated by that row
(`issued_at`), so every attempt and every copy carries the same link, valid
from when it was asked for. The core holds it because intake checks the links
and alerts sends them, and those two do not import each other: `email_link`
asks for the email (`signals.account_email_wanted`), alerts records and sends it.
"""

from __future__ import annotations

import calendar
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import quote

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from . import clock, signals
from .extensions import DbSession
from .models import User
from .signed_links import IssuedAtSigner

INVITE = "invite"
RESET = "reset"
MAX_AGE = {INVITE: timedelta(days=7), RESET: timedelta(hours=2)}
MAX_TOKEN_LENGTH = 400
# The page of intake.set_password (its route is declared there).
SET_PASSWORD_PATH = "/mot-de-passe/definir/"  # noqa: S105 - a page, not a password


@dataclass(frozen=True)
class LinkCheck:
    user: User | None
    purpose: str = ""
    expired: bool = False


@dataclass(frozen=True)
class EmailState:
    """Where a link's email is: its notification's state and attempts so far."""

    state: str
    attempts: int

    @property
    def sent(self) -> bool:
        return self.state == "sent"

    @property
    def waiting(self) -> bool:
        """On its way: handed to a worker and not tried yet, or being sent right now (a
        worker's claim counts an attempt before the email leaves: not a failure)."""
        return self.state == "sending" or (self.state == "pending" and self.attempts == 0)


class QueuedEmail(Protocol):
    """A link's email, recorded by the package that sends emails (alerts)."""

    @property
    def issued_at(self) -> datetime:
        """The date its link is signed with."""
        ...  # pragma: no cover

    def state(self, session: DbSession) -> EmailState:
        """Where it is now (after the commit that handed it over)."""
        ...  # pragma: no cover


class NoMailer(RuntimeError):
    """No package sends emails in this app (the app factory wires alerts)."""


def email_link(
    session: DbSession, user: User, purpose: str, language: str | None = None
) -> QueuedEmail:
    """Record the email carrying `user`'s link (`purpose`: INVITE or RESET) in this
    transaction; it leaves after commit, in `language` (None: the account's)."""
    answers = signals.account_email_wanted.send(
        session, user=user, purpose=purpose, language=language
    )
    if not answers:
        raise NoMailer("nothing answers signals.account_email_wanted")
    queued: QueuedEmail = answers[0][1]
    return queued


def _serializer(issued_at: datetime | None = None) -> URLSafeTimedSerializer:
    stamp = None if issued_at is None else calendar.timegm(issued_at.utctimetuple())
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"],
        salt="intake.password-link",
        signer=IssuedAtSigner,
        signer_kwargs={"issued_at": stamp},
    )


def _fingerprint(user: User) -> str:
    material = f"{user.password_hash}:{user.session_version}:{user.email}"
    return hashlib.sha256(material.encode()).hexdigest()[:24]


def make_token(user: User, purpose: str, issued_at: datetime | None = None) -> str:
    """`issued_at`: naive UTC (as stored), from when the link's validity counts (None: now)."""
    payload = {"u": user.id, "f": _fingerprint(user), "p": purpose}
    return str(_serializer(issued_at).dumps(payload))


def link_url(base_url: str, user: User, purpose: str, issued_at: datetime | None = None) -> str:
    """The absolute address of the page that sets the password."""
    token = make_token(user, purpose, issued_at)
    return f"{base_url.rstrip('/')}{SET_PASSWORD_PATH}{quote(token)}"


def check_token(session: DbSession, token: str) -> LinkCheck:
    """The user a link is for, if it is genuine, fresh and not used yet."""
    if len(token) > MAX_TOKEN_LENGTH:
        return LinkCheck(None)
    longest = int(max(MAX_AGE.values()).total_seconds())
    try:
        payload, signed_at = _serializer().loads(token, max_age=longest, return_timestamp=True)
    except SignatureExpired:
        return LinkCheck(None, expired=True)
    except BadSignature:
        return LinkCheck(None)
    if not isinstance(payload, dict) or payload.get("p") not in MAX_AGE:
        return LinkCheck(None)
    purpose = str(payload["p"])
    age = clock.now() - signed_at.replace(tzinfo=None)
    if age > MAX_AGE[purpose]:
        return LinkCheck(None, purpose, expired=True)
    user = session.get(User, payload.get("u")) if isinstance(payload.get("u"), int) else None
    if user is None or not user.is_active or payload.get("f") != _fingerprint(user):
        return LinkCheck(None, purpose)
    return LinkCheck(user, purpose)
