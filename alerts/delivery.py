"""Deliver one notification: claim, render, send, record (R8, SPEC §7.3).

The claim is a conditional UPDATE (pending or uncertain, and due) committed
before anything is sent: of two workers, or a task run twice, only one goes
on. The Message-ID is derived from the notification id, so a resend after an
uncertain attempt carries the same one. Temporary failures go back to pending
with an exponential backoff and jitter stored in the row (not in a Celery
countdown) until 24 h have passed; a 5xx answer fails at once.
"""

from __future__ import annotations

import logging
import os
import random
import smtplib
import ssl
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import select, update

from barometre import clock
from barometre.extensions import DbSession
from barometre.models import User
from barometre.services import audit
from barometre.settings import Settings

from . import dispatch
from .emails import AddressRefused, alert_email, build_message
from .models import DIGEST, FAILED, PENDING, SENDING, SENT, UNCERTAIN, Notification

log = logging.getLogger(__name__)

# Longer than the hard time limit of the sending task, so a live send is never judged stuck.
SENDING_TIMEOUT = timedelta(minutes=5)
BACKOFF_BASE = 60.0
BACKOFF_CAP = 3600.0
MAX_ERROR = 500
DUE_BATCH = 500

_jitter = random.Random()  # noqa: S311 - spreads retries, not a secret


class TemporaryFailure(Exception):
    """Try again later (4xx, network, timeout)."""


class PermanentFailure(Exception):
    """Never try again on its own (5xx, refused address)."""


def backoff_delay(attempts: int, rng: random.Random = _jitter) -> timedelta:
    """60 s after the first failure, doubling up to an hour, each ±20 %."""
    base = min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)
    return timedelta(seconds=base * rng.uniform(0.8, 1.2))


def claim(session: DbSession, notification_id: int, now: datetime) -> bool:
    """pending/uncertain -> sending, attempts + 1; True only for the one caller that won."""
    result = session.execute(
        update(Notification)
        .where(
            Notification.id == notification_id,
            Notification.state.in_((PENDING, UNCERTAIN)),
            Notification.next_attempt_at <= now,
        )
        .values(state=SENDING, attempts=Notification.attempts + 1, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def deliver(session: DbSession, notification_id: int, settings: Settings) -> str:
    """Send one notification if it is due and nobody else is sending it.

    Commits twice on purpose: the claim must be visible to others before the
    email leaves, and the outcome is recorded after it left.
    """
    if not claim(session, notification_id, clock.now()):
        session.rollback()
        return "skipped"
    session.commit()
    notification = session.get(Notification, notification_id)
    if notification is None:  # deleted meanwhile
        return "skipped"
    attempt, give_up_at = notification.attempts, notification.give_up_at
    try:
        message = compose(session, notification, settings)
        # No transaction stays open while the network is slow.
        session.rollback()
        transmit(message, notification_id, settings)
    except (PermanentFailure, AddressRefused) as error:
        outcome = _failed(attempt, give_up_at, _describe(error), permanent=True)
    except Exception as error:
        log.warning("alerts: notification %s not sent: %s", notification_id, _describe(error))
        outcome = _failed(attempt, give_up_at, _describe(error), permanent=False)
    else:
        outcome = {"state": SENT, "sent_at": clock.now(), "claimed_at": None}
    session.rollback()
    _record(session, notification_id, attempt, outcome)
    session.commit()
    return str(outcome["state"])


def _describe(error: BaseException) -> str:
    if isinstance(error, AddressRefused):
        return "Adresse refusée (invalide ou caractères de contrôle)."
    return (str(error) or type(error).__name__)[:MAX_ERROR]


def _failed(attempt: int, give_up_at: datetime, error: str, permanent: bool) -> dict[str, object]:
    now = clock.now()
    outcome: dict[str, object] = {"last_error": error, "claimed_at": None}
    if permanent:
        return {**outcome, "state": FAILED}
    next_attempt = now + backoff_delay(attempt)
    if next_attempt > give_up_at:
        return {**outcome, "state": FAILED, "last_error": f"Abandon après 24 h : {error}"}
    return {**outcome, "state": PENDING, "next_attempt_at": next_attempt}


def _record(
    session: DbSession, notification_id: int, attempt: int, values: dict[str, object]
) -> None:
    # Only our own attempt may be recorded: the row must still be ours (sending, same count).
    session.execute(
        update(Notification)
        .where(
            Notification.id == notification_id,
            Notification.state == SENDING,
            Notification.attempts == attempt,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def compose(session: DbSession, notification: Notification, settings: Settings) -> EmailMessage:
    if notification.kind == DIGEST:
        from .digest import digest_email

        rendered = digest_email(session, notification, settings)
    else:
        rendered = alert_email(session, notification, settings)
    return build_message(notification.id, notification.recipient, rendered, settings)


# --- transports --------------------------------------------------------------------------


def transmit(message: EmailMessage, notification_id: int, settings: Settings) -> None:
    if settings.smtp_host:
        smtp_send(message, settings)
    else:
        write_outbox(message, notification_id, settings)


def smtp_send(message: EmailMessage, settings: Settings) -> None:
    try:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout)
    except OSError as error:
        raise TemporaryFailure(f"Connexion SMTP impossible : {error}") from error
    try:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(message, from_addr=settings.mail_from, to_addrs=[str(message["To"])])
    except smtplib.SMTPRecipientsRefused as error:
        code, text = next(iter(error.recipients.values()))
        raise _by_code(code, text) from error
    except smtplib.SMTPResponseException as error:
        raise _by_code(error.smtp_code, error.smtp_error) from error
    except (smtplib.SMTPException, OSError) as error:
        raise TemporaryFailure(f"{type(error).__name__}: {error}") from error
    finally:
        _quit(smtp)


def _quit(smtp: smtplib.SMTP) -> None:
    # The message is handed over once DATA is accepted; a failing QUIT changes nothing.
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _by_code(code: int, text: bytes | str) -> Exception:
    reply = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    described = f"{code} {reply}"[:MAX_ERROR]
    return PermanentFailure(described) if code >= 500 else TemporaryFailure(described)


def outbox_name(notification_id: int) -> str:
    return f"notification-{notification_id:06d}.eml"


def write_outbox(message: EmailMessage, notification_id: int, settings: Settings) -> None:
    """Embedded default: one .eml file per email; a resend overwrites the same file."""
    folder = settings.outbox_path
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / outbox_name(notification_id)
    partial = target.with_suffix(".part")
    partial.write_bytes(message.as_bytes())
    os.replace(partial, target)


# --- reconciling and retrying -----------------------------------------------------------


def mark_stuck(session: DbSession, now: datetime) -> int:
    """Rows left in sending by a dead worker become uncertain, to be resent as they were."""
    result = session.execute(
        update(Notification)
        .where(Notification.state == SENDING, Notification.claimed_at < now - SENDING_TIMEOUT)
        .values(
            state=UNCERTAIN,
            claimed_at=None,
            last_error="Envoi interrompu : peut-être reçu, renvoyé avec le même Message-ID.",
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def due_ids(session: DbSession, now: datetime) -> list[int]:
    query = (
        select(Notification.id)
        .where(Notification.state.in_((PENDING, UNCERTAIN)), Notification.next_attempt_at <= now)
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(DUE_BATCH)
    )
    return list(session.scalars(query))


def retry(session: DbSession, notification_id: int, actor: User | None) -> bool:
    """A coordinator asks to try a failed or uncertain notification again, now."""
    now = clock.now()
    result = session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.state.in_((FAILED, UNCERTAIN)))
        .values(state=PENDING, next_attempt_at=now, give_up_at=now + timedelta(hours=24))
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    audit(session, actor, "notification.retry", session.get(Notification, notification_id))
    dispatch.after_commit(session, [notification_id])
    return True
