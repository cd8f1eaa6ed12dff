"""Account emails (invitation, password reset) as notifications.

Intake decides them through `barometre.account_mail` (the app factory registers
`MAILER` there); this module records the row and, at send time, composes the
email: the password link is signed then, from the user's id and dated by the
row (never stored, never shown in the console), in the user's language.

An invitation is handed over right after commit, like an alert (the
coordinator's page then says whether it left). A reset request is handed over
from a thread of its own: the page that answers it must take as long whether
the address has an account or not, so no SMTP conversation (nor broker
round trip) happens in that request.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from email.message import EmailMessage

from flask import Flask, current_app, has_app_context
from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

from barometre import clock
from barometre.account_mail import EmailState, QueuedEmail
from barometre.extensions import DbSession
from barometre.models import LANGUAGES, User
from barometre.password_links import INVITE, MAX_AGE, link_url
from barometre.settings import Settings
from barometre.settings import current as current_settings

from . import dispatch
from .emails import barometer_url, build_message, render
from .models import ACCOUNT_KINDS, RESET, TO_USER, Notification
from .transport import PermanentFailure

# Retries stop after a day, or sooner when the link would be dead on arrival (a reset: 2 h).
GIVE_UP_AFTER = timedelta(hours=24)
TEMPLATES = {"invite": "account_invite", "reset": "account_reset"}
BACKGROUND_KEY = "alerts.account.background"
THREADS_KEY = "alerts.account.threads"

log = logging.getLogger(__name__)


class NotificationMailer:
    """`barometre.account_mail.AccountMailer`: account emails as notification rows."""

    def queue(self, session: DbSession, user: User, purpose: str) -> QueuedEmail:
        if purpose not in ACCOUNT_KINDS:
            raise ValueError(f"unknown account email {purpose!r}")
        now = clock.now()
        row = Notification(
            kind=purpose,
            user_id=user.id,
            recipient=user.email,
            recipient_kind=TO_USER,
            language=language_of(user, current_settings()),
            created_at=now,
            next_attempt_at=now,
            give_up_at=now + min(GIVE_UP_AFTER, MAX_AGE[purpose]),
        )
        session.add(row)
        session.flush()
        if purpose == RESET:
            session.info.setdefault(BACKGROUND_KEY, []).append(row.id)
        else:
            dispatch.after_commit(session, [row.id])
        return QueuedEmail(row.id, now)

    def state(self, session: DbSession, queued: QueuedEmail) -> EmailState:
        query = select(Notification.state, Notification.attempts).where(
            Notification.id == queued.id
        )
        found = session.execute(query).first()
        return EmailState("pending", 0) if found is None else EmailState(found[0], found[1])


MAILER = NotificationMailer()


def language_of(user: User, settings: Settings) -> str:
    """The account's language; one that lets the browser choose gets the default."""
    return str(user.language) if user.language in LANGUAGES else settings.default_locale


def outbox_name(notification_id: int) -> str:
    """Not `notification-…`: the console's outbox page never lists (nor shows) these."""
    return f"account-{notification_id:06d}.eml"


def account_message(
    session: DbSession, notification: Notification, settings: Settings
) -> EmailMessage:
    user = session.get(User, notification.user_id) if notification.user_id else None
    if user is None or not user.is_active:
        raise PermanentFailure("Compte introuvable ou désactivé : lien non envoyé.")
    purpose = notification.kind
    url = link_url(settings.base_url, user, purpose, notification.created_at)
    hours = int(MAX_AGE[purpose].total_seconds() // 3600)
    context = {
        "name": user.name,
        "email": user.email,
        "url": url,
        "hours": hours,
        "days": hours // 24,
        "invitation": purpose == INVITE,
        "lang": notification.language,
        "barometer_url": barometer_url(settings),
    }
    rendered = render(TEMPLATES[purpose], notification.language, context)
    message = build_message(
        notification.id,
        notification.recipient,
        rendered,
        settings,
        language=notification.language,
    )
    # An account email is not a list one can leave: no unsubscribe headers.
    del message["List-Unsubscribe"]
    del message["List-Unsubscribe-Post"]
    return message


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
            dispatch.hand_over(app, dispatch.Handoff(notification_ids=ids))
        except Exception:
            log.exception("alerts: account email hand-over failed; the reconciler will retry")


def _on_rollback(session: Session, previous: SessionTransaction) -> None:
    if previous.parent is None:
        session.info.pop(BACKGROUND_KEY, None)


def install_listeners() -> None:
    """Once per process, beside `dispatch.install_listeners`."""
    if not event.contains(Session, "after_commit", _on_commit):
        event.listen(Session, "after_commit", _on_commit)
        event.listen(Session, "after_soft_rollback", _on_rollback)


def wait_background(app: Flask, timeout: float = 30.0) -> None:
    """Wait for the reset emails handed over from threads (tests, a clean shutdown)."""
    for thread in list(app.extensions.get(THREADS_KEY, [])):
        thread.join(timeout)
