"""Sign-in throttling: after 5 failures within a minute, per account or per address,
the next attempt is refused (429) until the window has passed. An account is
counted by the mailbox typed, whatever its case or `+tag` (`addresses.mailbox`).

Password-link requests are throttled the same way, over a longer window: 3 per
mailbox typed and 10 per client within 15 minutes, whether an account exists
for the address or not (so the refusal says nothing about accounts either).
Each one may send an email, so the limits are lower than for sign-ins.

A second step (a code or a passkey after the password) is throttled like a
sign-in: after 5 failures within a minute, per account or per address, the
next attempt is refused until the window has passed.

Failures and requests live in the database so that every web process sees the
same counts.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import delete, func, select

from barometre import clock
from barometre.addresses import mailbox
from barometre.extensions import DbSession

from .models import LoginFailure, ResetRequest, SecondStepFailure

WINDOW = timedelta(minutes=1)
MAX_FAILURES = 5
KEEP = timedelta(hours=1)
RESET_WINDOW = timedelta(minutes=15)
RESET_PER_ACCOUNT = 3
RESET_PER_CLIENT = 10


def account_key(email: str) -> str:
    """A hash of the mailbox typed (`addresses.mailbox`): `Someone+1@…` counts as
    `someone@…`, so neither case nor a `+tag` opens a fresh window (dots are kept)."""
    return hashlib.sha256(mailbox(email).encode()).hexdigest()


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


def reset_throttled(session: DbSession, email: str, address: str) -> bool:
    """Too many password-link requests for this address typed, or from this client."""
    since = clock.now() - RESET_WINDOW
    checks = (
        (ResetRequest.account_key, account_key(email), RESET_PER_ACCOUNT),
        (ResetRequest.address, address[:64], RESET_PER_CLIENT),
    )
    for column, value, most in checks:
        query = select(func.count()).where(column == value, ResetRequest.at > since)
        if (session.scalar(query) or 0) >= most:
            return True
    return False


def record_reset_request(session: DbSession, email: str, address: str) -> None:
    now = clock.now()
    session.execute(delete(ResetRequest).where(ResetRequest.at < now - KEEP))
    session.add(ResetRequest(at=now, account_key=account_key(email), address=address[:64]))
    session.flush()


def _second_step_key(user_id: int) -> str:
    return hashlib.sha256(f"second-step:{user_id}".encode()).hexdigest()


def second_step_throttled(session: DbSession, user_id: int, address: str) -> bool:
    """Too many failed second steps for this account, or from this client."""
    since = clock.now() - WINDOW
    checks = (
        (SecondStepFailure.account_key, _second_step_key(user_id)),
        (SecondStepFailure.address, address[:64]),
    )
    for column, value in checks:
        query = select(func.count()).where(column == value, SecondStepFailure.at > since)
        if (session.scalar(query) or 0) >= MAX_FAILURES:
            return True
    return False


def record_second_step_failure(session: DbSession, user_id: int, address: str) -> None:
    now = clock.now()
    session.execute(delete(SecondStepFailure).where(SecondStepFailure.at < now - KEEP))
    key = _second_step_key(user_id)
    session.add(SecondStepFailure(at=now, account_key=key, address=address[:64]))
    session.flush()
