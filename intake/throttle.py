"""Sign-in throttling: after 5 failures within a minute, per account or per address,
the next attempt is refused (429) until the window has passed.

Failures live in the database so that every web process sees the same counts.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import delete, func, select

from barometre import clock
from barometre.extensions import DbSession

from .models import LoginFailure

WINDOW = timedelta(minutes=1)
MAX_FAILURES = 5
KEEP = timedelta(hours=1)


def account_key(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def is_throttled(session: DbSession, email: str, address: str) -> bool:
    since = clock.now() - WINDOW
    checks = (
        (LoginFailure.account_key, account_key(email)),
        (LoginFailure.address, address[:64]),
    )
    for column, value in checks:
        query = select(func.count()).where(column == value, LoginFailure.at > since)
        if (session.scalar(query) or 0) >= MAX_FAILURES:
            return True
    return False


def record_failure(session: DbSession, email: str, address: str) -> None:
    now = clock.now()
    session.execute(delete(LoginFailure).where(LoginFailure.at < now - KEEP))
    session.add(LoginFailure(at=now, account_key=account_key(email), address=address[:64]))
    session.flush()
