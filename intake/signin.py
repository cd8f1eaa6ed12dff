"""Signing in and out: the one way a browser gets (and loses) a signed-in session.

`sign_in` is called once the person is who they say (password, and any further step):
it starts the session row (`barometre.user_sessions`), puts its random value in the
session cookie with Flask-Login's identity, audits the sign-in and, when the device is
new to the account, asks for the account holder's warning email
(`signals.signed_in_from_new_device`, recorded in the same transaction). It commits.
"""

from __future__ import annotations

from flask import request
from flask import session as cookie_session
from flask_login import current_user, login_user, logout_user

from barometre import services, signals, user_sessions
from barometre.auth import current_session
from barometre.extensions import db
from barometre.models import User

from .blueprint import client_address


def sign_in(user: User) -> None:
    """`user` is signed in on this browser, in a session of its own (committed)."""
    _end_current("session.sign_out")  # a session this browser held before
    started = user_sessions.start(
        db.session, user, request.user_agent.string or "", client_address()
    )
    new_device = {"new_device": True} if started.new_device else {}
    services.audit(
        db.session, user, "session.sign_in", user, session_id=started.row.id, **new_device
    )
    if started.new_device:
        signals.signed_in_from_new_device.send(db.session, user=user, user_session=started.row)
    db.session.commit()
    login_user(user)
    cookie_session[user_sessions.SESSION_KEY] = started.secret


def stay_signed_in(user: User) -> None:
    """The account's `session_version` moved (a password change) while this session was
    kept: the cookie names the new version, the session goes on (no new sign-in)."""
    login_user(user)


def sign_out() -> None:
    """This browser's session ends on the server (committed), and its cookie forgets it."""
    _end_current("session.sign_out")
    logout_user()
    cookie_session.pop(user_sessions.SESSION_KEY, None)


def _end_current(action: str) -> None:
    row = current_session() if current_user.is_authenticated else None
    if row is not None and user_sessions.end(db.session, row):
        services.audit(db.session, current_user, action, current_user, session_id=row.id)
        db.session.commit()
