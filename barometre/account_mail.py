"""Account emails (invitation, password reset): decided by intake, delivered by alerts.

An account email is a notification row like every other email: recorded in the
transaction that decides it (the invitation's account, the reset request),
delivered after commit with a claim, a stable Message-ID and retries, its state
on /coordination/notifications. Intake and alerts do not import each other:
the alerts package registers its mailer here (through the app factory) and
intake calls `queue`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from .extensions import DbSession
from .models import User


@dataclass(frozen=True)
class QueuedEmail:
    """The recorded email: its notification id, and the date its link is signed with."""

    id: int
    issued_at: datetime


@dataclass(frozen=True)
class EmailState:
    """Where a queued email is: its notification's state and attempts so far."""

    state: str
    attempts: int

    @property
    def sent(self) -> bool:
        return self.state == "sent"

    @property
    def waiting(self) -> bool:
        """Not tried yet (handed to a worker): nothing to say but that it is queued."""
        return self.state in ("pending", "sending") and self.attempts == 0


class AccountMailer(Protocol):
    def queue(self, session: DbSession, user: User, purpose: str) -> QueuedEmail:
        """Record the email for `user` (`purpose`: invite or reset) in this transaction."""
        ...  # pragma: no cover

    def state(self, session: DbSession, queued: QueuedEmail) -> EmailState:
        """Where it is now (after the commit that handed it over)."""
        ...  # pragma: no cover


ACCOUNT_MAILERS: list[AccountMailer] = []


class NoMailer(RuntimeError):
    """No package delivers emails in this app (the app factory wires alerts)."""


def mailer() -> AccountMailer:
    if not ACCOUNT_MAILERS:
        raise NoMailer("no account mailer registered")
    return ACCOUNT_MAILERS[0]


def queue(session: DbSession, user: User, purpose: str) -> QueuedEmail:
    """Record the invitation or reset email of `user`; it leaves after commit."""
    return mailer().queue(session, user, purpose)


def state(session: DbSession, queued: QueuedEmail) -> EmailState:
    return mailer().state(session, queued)
