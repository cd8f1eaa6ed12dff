"""Identities: passwords, API tokens, sessions, and the access rule of every route.

Deny by default: every view declares who may reach it with `@access(...)`;
a view without a rule answers 403 (and a test walks every route to keep it so).
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, abort, current_app, g, redirect, request, url_for
from flask import session as cookie_session
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import Select, bindparam, select

from . import clock, two_step, user_sessions
from .extensions import DbSession, db, login_manager
from .models import ROLE_COORDINATOR, ApiToken, User, UserSession

# argon2 at its library's default cost; the test suite swaps in a cheap one
# (tests/conftest.py) and keeps this one for the tests marked `argon2_full_cost`.
hasher = PasswordHasher()
TOKEN_PREFIX = "bar_"  # noqa: S105 - a prefix, not a secret

PUBLIC = "public"  # anyone
BAROMETER = "barometer"  # anyone when PUBLIC_BAROMETER is on, else signed-in users
USER = "user"  # any signed-in user (session, or token on the API)
COORDINATOR = "coordinator"
RULES = (PUBLIC, BAROMETER, USER, COORDINATOR)

F = TypeVar("F", bound=Callable[..., Any])


def hash_password(password: str) -> str:
    return hasher.hash(password)


def check_password(user: User, password: str) -> bool:
    if not user.password_hash:
        return False
    try:
        return hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: DbSession, user: User, name: str = "") -> str:
    """Make a token; only its hash is stored, the token is shown once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user=user, name=name, token_hash=_digest(token), prefix=token[:10]))
    return token


def user_for_token(session: DbSession, token: str) -> User | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = session.execute(_by_token_hash(), {"token_hash": _digest(token)}).first()
    if row is None:
        return None
    api_token, user = row
    if api_token.revoked_at is not None or not user.is_active:
        return None
    touch(api_token)
    return user


@functools.cache
def _by_token_hash() -> Select[ApiToken, User]:
    """Built once: every API request runs it."""
    return (
        select(ApiToken, User)
        .join(ApiToken.user)
        .where(ApiToken.token_hash == bindparam("token_hash"))
    )


@functools.cache
def _user_by_session() -> Select[User, UserSession]:
    """Built once: every signed-in request runs it. The account and its live session whose
    random value the cookie carries (`user_sessions`)."""
    return (
        select(User, UserSession)
        .join(UserSession, UserSession.user_id == User.id)
        .where(
            User.id == bindparam("id"),
            UserSession.secret_hash == bindparam("secret_hash"),
            UserSession.ended_at.is_(None),
        )
    )


def current_session() -> UserSession | None:
    """The session row of this request's signed-in browser (None: a token, or nobody)."""
    current_user._get_current_object()  # the loader sets it
    row: UserSession | None = g.get("user_session")
    return row


def load_session_user(user_id: str) -> User | None:
    """Flask-Login's user loader: the cookie's account, if its session row is live and
    the account's `session_version` is still the cookie's."""
    ident, _, version = user_id.partition(":")
    secret = cookie_session.get(user_sessions.SESSION_KEY)
    if not ident.isdigit() or not isinstance(secret, str) or not 0 < len(secret) <= 100:
        return None
    params = {"id": int(ident), "secret_hash": user_sessions.digest(secret)}
    found = db.session.execute(_user_by_session(), params).first()
    if found is None:
        return None
    user, row = found
    if str(user.session_version) != version:
        return None
    g.user_session = row
    if user_sessions.seen(row):
        # Its own commit: the row is read before the view does anything (`enforce_access`),
        # and the page may well commit nothing. At most once a minute per session.
        db.session.commit()
    return user


TOKEN_USE_PRECISION = timedelta(minutes=5)


def touch(api_token: ApiToken) -> None:
    """Note when a token was last used, to the nearest few minutes.

    Writing it on every request would lock the token's row in every report's
    transaction: concurrent requests with one token would queue behind each other.
    """
    now = clock.now()
    if api_token.last_used_at is None or now - api_token.last_used_at >= TOKEN_USE_PRECISION:
        api_token.last_used_at = now


def access(
    rule: str,
    token_only: bool = False,
    or_if: Callable[[], bool] | None = None,
    before_two_step: bool = False,
) -> Callable[[F], F]:
    """Declare who may reach a view.

    `token_only`: the identity must come from a bearer token, never from the
    session cookie (API writes are exempt from CSRF, so a cookie must not do).
    `or_if`: a check of a credential of the view's own (e.g. the metrics
    scraper's token); when it returns True the request is let in as well.
    `before_two_step`: open to a signed-in account that must set up its second step
    and has not yet (the setup pages, signing out); every other page sends it there.
    """
    if rule not in RULES:
        raise ValueError(rule)

    def mark(view: F) -> F:
        view.access_rule = rule  # type: ignore[attr-defined]
        view.access_token_only = token_only  # type: ignore[attr-defined]
        view.access_or_if = or_if  # type: ignore[attr-defined]
        view.access_before_two_step = before_two_step  # type: ignore[attr-defined]
        return view

    return mark


def rule_of(endpoint: str | None) -> str | None:
    if endpoint is None:
        return PUBLIC  # 404 and 405 pass on to Flask's own answer
    if endpoint == "static":
        return PUBLIC
    view = current_app.view_functions.get(endpoint)
    return getattr(view, "access_rule", None)


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


API_PREFIX = "/api/"


def api_token() -> str | None:
    """The bearer token of an API request; None on every other route.

    An API token never opens an HTML page: there it could mint new tokens,
    or open the console, and so outlive its own revocation.
    """
    return bearer_token() if request.path.startswith(API_PREFIX) else None


def allowed(rule: str | None, user: Any) -> bool | None:
    """True: go on; False: signed in but not allowed (403); None: sign in first (401)."""
    if rule is None:
        return False
    if rule == PUBLIC:
        return True
    if rule == BAROMETER and current_app.config["SETTINGS"].public_barometer:
        return True
    if not user.is_authenticated:
        return None
    if rule == COORDINATOR:
        return bool(user.role == ROLE_COORDINATOR)
    return True


def enforce_access() -> ResponseReturnValue | None:
    """before_request: the one place where access is decided.

    The signed-in user is loaded first, before the view runs, also on a public page:
    the loader may commit (a session's last sight) and must never commit a view's work.
    """
    if request.endpoint != "static":
        current_user._get_current_object()
    rule = rule_of(request.endpoint)
    if rule is None:
        abort(403)
    view = current_app.view_functions.get(request.endpoint or "")
    or_if = getattr(view, "access_or_if", None)
    if or_if is not None and or_if():
        return None
    token = api_token()
    if token is not None and not current_user.is_authenticated:
        abort(401)  # a token was sent and it is not valid
    if getattr(view, "access_token_only", False) and token is None:
        abort(401)
    verdict = allowed(rule, current_user)
    if verdict is None:
        abort(401)
    if verdict is False:
        abort(403)
    return second_step_first(view)


def second_step_first(view: Any) -> ResponseReturnValue | None:
    """A session of an account that must set up its second step (REQUIRE_TWO_STEP) opens
    only the setup pages and signing out: a page is sent to the setup, anything else 403.

    Only a bearer token on the JSON API is not a session (and no token opens an HTML
    page: `api_token`); a session cookie beside a token is still a session.
    """
    if not current_user.is_authenticated or "_user_id" not in cookie_session:
        return None
    if request.endpoint == "static" or getattr(view, "access_before_two_step", True):
        return None
    settings = current_app.config["SETTINGS"]
    if not two_step.must_set_up(db.session, current_user, settings):
        return None
    if request.method in ("GET", "HEAD") and not request.path.startswith(API_PREFIX):
        return redirect(url_for(two_step.SETUP_ENDPOINT), 303)
    abort(403)


def init_auth(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.session_protection = "basic"

    login_manager.user_loader(load_session_user)

    @login_manager.request_loader
    def load_from_token(_request: Any) -> User | None:
        token = api_token()
        return user_for_token(db.session, token) if token else None

    app.before_request(enforce_access)

    @app.teardown_request
    def forget_user(_error: BaseException | None) -> None:
        # The identity belongs to one request, even when an app context outlives it.
        g.pop("_login_user", None)
        g.pop("user_session", None)
