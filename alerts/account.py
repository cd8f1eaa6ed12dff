"""Account emails (invitation, password reset, second step reset, new device) as
notifications: recording and hand-over.

Intake asks for them (`barometre.password_links.email_link`, which sends
`signals.account_email_wanted`); `queue`, connected by `alerts.init_app`, records
the row in the caller's transaction. The email is composed when it is sent
(`alerts.account_emails`), like every other.

An invitation is handed over right after commit, like an alert (the
coordinator's page then says whether it left). A reset request is handed over
from a thread of its own: the page that answers it must take as long whether
the address has an account or not, so no SMTP conversation (nor broker
round trip) happens in that request.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask, current_app, has_app_context
from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

from barometre import clock
from barometre.extensions import DbSession
from barometre.languages import supported
from barometre.models import User, UserSession
from barometre.password_links import MAX_AGE, EmailState
from barometre.settings import current as current_settings

from . import dispatch, handoff
from .account_emails import language_of
from .models import ACCOUNT_KINDS, NEW_DEVICE, RESET, TO_USER, Notification, NotificationState

# Retries stop after a day, or sooner when the link would be dead on arrival (a reset: 2 h).
GIVE_UP_AFTER = timedelta(hours=24)
BACKGROUND_KEY = "alerts.account.background"
THREADS_KEY = "alerts.account.threads"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueuedAccountEmail:
    """`barometre.password_links.QueuedEmail`: the notification row of an account email."""

    id: int
    issued_at: datetime

    def state(self, session: DbSession) -> EmailState:
        query = select(Notification.state, Notification.attempts).where(Notification.id == self.id)
        found = session.execute(query).first()
        return (
            EmailState(NotificationState.PENDING, 0)
            if found is None
            else EmailState(found[0], found[1])
        )


def queue(
    session: DbSession, user: User, purpose: str, language: str | None = None
) -> QueuedAccountEmail:
    """The receiver of `signals.account_email_wanted`: record the email of `user`
    (`purpose`: invite or reset) in this transaction, in `language` when the request
    gave one (stored on the row: a later delivery renders it in that language)."""
    if purpose not in ACCOUNT_KINDS:
        raise ValueError(f"unknown account email {purpose!r}")
    now = clock.now()
    row = Notification(
        kind=purpose,
        user_id=user.id,
        recipient=user.email,
        recipient_kind=TO_USER,
        language=supported(language) if language else language_of(user, current_settings()),
        created_at=now,
        next_attempt_at=now,
        give_up_at=now + min(GIVE_UP_AFTER, MAX_AGE.get(purpose, GIVE_UP_AFTER)),
    )
    session.add(row)
    session.flush()
    if purpose == RESET:
        session.info.setdefault(BACKGROUND_KEY, []).append(row.id)
    else:
        handoff.after_commit(session, [row.id])
    return QueuedAccountEmail(row.id, now)


def queue_new_device(session: DbSession, user: User, user_session: UserSession) -> None:
    """The receiver of `signals.signed_in_from_new_device`: the account holder's warning
    « Nouvelle connexion à votre compte », recorded in this transaction, in the account's
    language, handed over after commit. It names the session; its words are composed
    when it is sent (`account_emails.new_device_content`)."""
    now = clock.now()
    row = Notification(
        kind=NEW_DEVICE,
        user_id=user.id,
        user_session_id=user_session.id,
        recipient=user.email,
        recipient_kind=TO_USER,
        language=language_of(user, current_settings()),
        created_at=now,
        next_attempt_at=now,
        give_up_at=now + GIVE_UP_AFTER,
    )
    session.add(row)
    session.flush()
    handoff.after_commit(session, [row.id])


# --- reset emails: handed over from a thread after commit ------------------------------------


def _on_commit(session: Session) -> None:
    ids: list[int] | None = session.info.pop(BACKGROUND_KEY, None)
    if not ids or not has_app_context():
        return
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    thread = threading.Thread(
        target=_hand_over, args=(app, ids), name="alerts-account-email", daemon=True
    )
    threads: list[threading.Thread] = app.extensions.setdefault(THREADS_KEY, [])
    threads[:] = [t for t in threads if t.is_alive()]
    threads.append(thread)
    thread.start()


def _hand_over(app: Flask, ids: list[int]) -> None:
    with app.app_context():
        try:
            dispatch.hand_over(app, handoff.Handoff(notification_ids=ids))
        except Exception:
            log.exception("alerts: account email hand-over failed; the reconciler will retry")


def _on_rollback(session: Session, previous: SessionTransaction) -> None:
    if previous.parent is None:
        session.info.pop(BACKGROUND_KEY, None)


def install_listeners() -> None:
    """Once per process, beside `handoff.install_listeners`."""
    if not event.contains(Session, "after_commit", _on_commit):
        event.listen(Session, "after_commit", _on_commit)
        event.listen(Session, "after_soft_rollback", _on_rollback)


def wait_background(app: Flask, timeout: float = 30.0) -> None:
    """Wait for the reset emails handed over from threads (tests, a clean shutdown)."""
    for thread in list(app.extensions.get(THREADS_KEY, [])):
        thread.join(timeout)
