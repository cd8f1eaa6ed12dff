"""Sessions on the server: one row per signed-in browser, which its holder can see and end.

The session cookie (signed by Flask) names the account and its `session_version`, as
Flask-Login keeps it, and carries a random value (`SESSION_KEY`); the row keeps only
that value's sha256. The loader (`auth.init_auth`) accepts a cookie only while its row
exists, belongs to the account and is not ended, and the version still matches:

- ending one session sets its row's `ended_at` (sign-out, « terminer » on the sessions
  page): a copy of its cookie opens nothing from then on;
- `account_access.end_sessions` ends them all (a password change, disabling, a role
  change, a coordinator's « terminer toutes les sessions »).

Services in the house style: they take the session, flush, never commit; the callers
audit (they know who asked).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, or_, select, update

from . import clock
from .extensions import DbSession
from .models import User, UserSession
from .text import printable_only

# The key of the session cookie that carries the random value.
SESSION_KEY = "_session"
# `last_seen_at` is written at most this often: not a write on every request.
SEEN_PRECISION = timedelta(minutes=1)
# A device is known when one of the account's sessions used it, live or seen this recently.
KNOWN_FOR = timedelta(days=90)
USER_AGENT_LENGTH = 300
ADDRESS_LENGTH = 64
# The sessions page (`intake.sessions`), linked from the new-device email.
SESSIONS_PATH = "/profil/sessions"


@dataclass(frozen=True)
class Started:
    row: UserSession
    secret: str  # goes into the cookie, nowhere else
    # A device the account had not used (live or within KNOWN_FOR), and not its first sign-in.
    new_device: bool


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# --- the device, read from the User-Agent ---------------------------------------------------

# (pattern, name), the first that matches wins: Edge and Opera also say Chrome, Chrome
# also says Safari, Android also says Linux, an iPhone also says Mac OS X.
BROWSERS = (
    (re.compile(r"\bEdg(e|A|iOS)?/"), "Edge"),
    (re.compile(r"\b(OPR|Opera)/"), "Opera"),
    (re.compile(r"\bSamsungBrowser/"), "Samsung Internet"),
    (re.compile(r"\b(Firefox|FxiOS)/"), "Firefox"),
    (re.compile(r"\b(Chrome|CriOS|Chromium)/"), "Chrome"),
    (re.compile(r"\bVersion/[\d.]+.*\bSafari/"), "Safari"),
)
SYSTEMS = (
    (re.compile(r"\bAndroid\b"), "Android"),
    (re.compile(r"\b(iPhone|iPad|iPod)\b"), "iOS"),
    (re.compile(r"\bCrOS\b"), "ChromeOS"),
    (re.compile(r"\bWindows\b"), "Windows"),
    (re.compile(r"\bMac OS X\b|\bMacintosh\b"), "macOS"),
    (re.compile(r"\bLinux\b"), "Linux"),
)


def device_of(user_agent: str) -> tuple[str, str]:
    """(browser, system) named by a User-Agent; "" for what it does not say."""
    agent = user_agent[:USER_AGENT_LENGTH]
    browser = next((name for pattern, name in BROWSERS if pattern.search(agent)), "")
    system = next((name for pattern, name in SYSTEMS if pattern.search(agent)), "")
    return browser, system


# --- starting, finding, ending ----------------------------------------------------------------


def known_device(session: DbSession, user: User, browser: str, system: str) -> bool | None:
    """Whether one of the account's sessions, live or ended within KNOWN_FOR, used this
    device; None when the account never had a session (its first sign-in)."""
    mine = select(UserSession.id).where(UserSession.user_id == user.id)
    if session.scalar(mine.limit(1)) is None:
        return None
    same = mine.where(
        UserSession.browser == browser,
        UserSession.system == system,
        or_(UserSession.ended_at.is_(None), UserSession.ended_at >= clock.now() - KNOWN_FOR),
    )
    return session.scalar(same.limit(1)) is not None


def shown(text: str, length: int) -> str:
    """A header's text as stored and shown: one line, no control character, at most
    `length` characters (a User-Agent is whatever the client sends)."""
    return " ".join(printable_only(text[: length * 2]).split())[:length]


def start(session: DbSession, user: User, user_agent: str, address: str) -> Started:
    """A new session of `user` from this browser and client."""
    user_agent, address = shown(user_agent, USER_AGENT_LENGTH), shown(address, ADDRESS_LENGTH)
    browser, system = device_of(user_agent)
    known = known_device(session, user, browser, system)
    secret = secrets.token_urlsafe(32)
    now = clock.now()
    row = UserSession(
        user_id=user.id,
        secret_hash=digest(secret),
        created_at=now,
        last_seen_at=now,
        user_agent=user_agent,
        browser=browser,
        system=system,
        client_address=address,
    )
    session.add(row)
    session.flush()
    return Started(row, secret, new_device=known is False)


def live_query(user_id: int) -> Select[UserSession]:
    return select(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))


def live(session: DbSession, user: User) -> list[UserSession]:
    """The account's live sessions, the last seen first."""
    query = live_query(user.id).order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    return list(session.scalars(query))


def live_session(session: DbSession, user: User, ident: int) -> UserSession | None:
    """One live session of the account; None for an ended one or another account's."""
    return session.scalar(live_query(user.id).where(UserSession.id == ident))


def seen(row: UserSession, now: datetime | None = None) -> bool:
    """Note that the session was used, to the nearest minute; True when it wrote."""
    now = now or clock.now()
    if now - row.last_seen_at < SEEN_PRECISION:
        return False
    row.last_seen_at = now
    return True


def end(session: DbSession, row: UserSession) -> bool:
    """One session ends; False when it had ended already."""
    if row.ended_at is not None:
        return False
    row.ended_at = clock.now()
    session.flush()
    return True


def end_all(session: DbSession, user: User, keep: UserSession | None = None) -> int:
    """Every live session of the account ends, `keep` excepted; how many did."""
    query = update(UserSession).where(
        UserSession.user_id == user.id, UserSession.ended_at.is_(None)
    )
    if keep is not None:
        query = query.where(UserSession.id != keep.id)
    result = session.execute(
        query.values(ended_at=clock.now()).execution_options(synchronize_session="fetch")
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
