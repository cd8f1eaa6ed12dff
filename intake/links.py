"""Signed, expiring links to set a password (invitation) or reset it.

A link carries the user id and a fingerprint of the current password hash and
session version: once the password is set, the fingerprint changes and every
earlier link stops working, so a link is good for one use only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from barometre import clock
from barometre.extensions import DbSession
from barometre.models import User

INVITE = "invite"
RESET = "reset"
MAX_AGE = {INVITE: timedelta(days=7), RESET: timedelta(hours=2)}
MAX_TOKEN_LENGTH = 400


@dataclass(frozen=True)
class LinkCheck:
    user: User | None
    purpose: str = ""
    expired: bool = False


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="intake.password-link")


def _fingerprint(user: User) -> str:
    material = f"{user.password_hash}:{user.session_version}:{user.email}"
    return hashlib.sha256(material.encode()).hexdigest()[:24]


def make_token(user: User, purpose: str) -> str:
    return str(_serializer().dumps({"u": user.id, "f": _fingerprint(user), "p": purpose}))


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
