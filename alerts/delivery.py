"""Deliver one notification: claim, render, send, record (R8, SPEC §7.3).

An email goes through `Transport`; a webhook or chat channel's row (issue 30) through
`alerts.channels.send`, which raises the same outcomes: everything else is shared.

The claim is a conditional UPDATE (pending or uncertain, and due) committed
before anything is sent: of two workers, or a task run twice, only one goes
on. The Message-ID is derived from the notification id, so a resend after an
uncertain attempt carries the same one. Temporary failures go back to pending
with an exponential backoff and jitter stored in the row (not in a Celery
countdown) until 24 h have passed; a 5xx answer fails at once.

A failure before the server has the whole message (connection, MAIL, RCPT,
DATA refused, a break while the body is sent) is safe to retry: the server
stores nothing it did not acknowledge the end of. A connection lost after the
body's final dot was sent is not: the server may have stored the message and
lost only its "250". That attempt is recorded `uncertain` with `sent_at` (the
time the message left) and is never resent on its own; a coordinator sees it
and may resend it (same Message-ID).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, Update, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from barometre import clock
from barometre.extensions import DbSession
from barometre.models import User
from barometre.services import audit
from barometre.settings import Settings

from . import account_emails, handoff
from .channels import send as channels
from .emails import AddressRefused
from .kinds import EMAIL_KINDS, compose
from .models import Notification, NotificationState
from .transport import (
    MAX_ERROR,
    PermanentFailure,
    Transport,
    UncertainDelivery,
)

log = logging.getLogger(__name__)

# Longer than the hard time limit of the sending task, so a live send is never judged stuck.
SENDING_TIMEOUT = timedelta(minutes=5)
BACKOFF_BASE = 60.0
BACKOFF_CAP = 3600.0
DUE_BATCH = 500

_jitter = random.Random()  # noqa: S311 - spreads retries, not a secret


UNCERTAIN_AFTER_DATA = (
    "Connexion perdue après la transmission du message\xa0: peut-être reçu. "
    "Pas de nouvel envoi automatique\xa0; «\\xa0Réessayer\\xa0» le renvoie (même Message-ID)."
)


def backoff_delay(attempts: int, rng: random.Random = _jitter) -> timedelta:
    """60 s after the first failure, doubling up to an hour, each ±20 %."""
    base = min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)
    return timedelta(seconds=base * rng.uniform(0.8, 1.2))


def resendable() -> ColumnElement[bool]:
    """Rows a worker may (re)send on its own: pending, or uncertain with no sign that the
    message left (a dead worker's row). An uncertain row with `sent_at` lost only the
    server's answer after the whole message went: only a coordinator resends it."""
    return or_(
        Notification.state == NotificationState.PENDING,
        and_(Notification.state == NotificationState.UNCERTAIN, Notification.sent_at.is_(None)),
    )


def claim(session: DbSession, notification_id: int, now: datetime) -> bool:
    """pending/uncertain -> sending, attempts + 1; True only for the one caller that won."""
    return claim_attempt(session, notification_id, now) is not None


def claim_attempt(
    executor: DbSession | Connection, notification_id: int, now: datetime
) -> tuple[int, datetime] | None:
    """Like `claim`, returning (the attempt number, when to give up) to the winner."""
    row = executor.execute(CLAIM, _claim_parameters(notification_id, now)).first()
    return None if row is None else (int(row[0]), row[1])


# The claim and the outcome are built once, with bound parameters: a batch executes them
# for every email, and building a statement costs more than running it (issue 18).
CLAIM: Update = (
    update(Notification)
    .where(
        Notification.id == bindparam("claim_id"),
        resendable(),
        Notification.next_attempt_at <= bindparam("claim_now"),
    )
    .values(
        state=NotificationState.SENDING,
        attempts=Notification.attempts + 1,
        claimed_at=bindparam("claim_now"),
        sent_at=None,
    )
    .returning(Notification.attempts, Notification.give_up_at)
    .execution_options(synchronize_session=False)
)

# Only our own attempt may be recorded: the row must still be ours (sending, same count).
# Every outcome clears the claim and sets the state; `sent_at` is the claim's NULL or the
# time the message left; an error and the next attempt are kept when the outcome has none.
RECORD: Update = (
    update(Notification)
    .where(
        Notification.id == bindparam("record_id"),
        Notification.state == NotificationState.SENDING,
        Notification.attempts == bindparam("record_attempt"),
    )
    .values(
        state=bindparam("record_state"),
        claimed_at=None,
        sent_at=bindparam("record_sent_at", type_=Notification.sent_at.type),
        last_error=func.coalesce(
            bindparam("record_error", type_=Notification.last_error.type),
            Notification.last_error,
        ),
        next_attempt_at=func.coalesce(
            bindparam("record_next", type_=Notification.next_attempt_at.type),
            Notification.next_attempt_at,
        ),
    )
    .execution_options(synchronize_session=False)
)


def _claim_parameters(notification_id: int, now: datetime) -> dict[str, object]:
    return {"claim_id": notification_id, "claim_now": now}


def deliver(session: DbSession, notification_id: int, settings: Settings) -> str:
    """Send one notification if it is due and nobody else is sending it.

    Commits twice on purpose: the claim must be visible to others before the
    email leaves, and the outcome is recorded after it left (a batch of one).
    """
    return deliver_batch(session, [notification_id], settings)[notification_id]


def deliver_batch(
    session: DbSession,
    notification_ids: Iterable[int],
    settings: Settings,
    budget: float | None = None,
) -> dict[int, str]:
    """Deliver these notifications one after the other, over one SMTP connection.

    Each one goes through `deliver`'s steps on its own: its claim is committed
    before its email leaves, its outcome is recorded right after it left, so a
    crash mid-batch leaves the one being sent in sending and the rest pending,
    for the reconciler. Claims, outcomes and the reads that compose each email are
    autocommitted on a connection of their own: no transaction is open while an
    email leaves, and the rows read for one email (its event, its establishment)
    stay in the batch's session for the next. After `budget` seconds no further
    notification is claimed: the rest stay pending and due, without an outcome.
    """
    ids = sorted(set(notification_ids))
    if not ids:
        return {}
    deadline = None if budget is None else time.monotonic() + budget
    session.rollback()  # nothing of the caller's stays open while the batch claims
    with (
        session.get_bind().engine.connect() as connection,
        Transport(settings) as transport,
    ):
        writer = connection.execution_options(isolation_level="AUTOCOMMIT")
        with Session(bind=writer) as reader:
            query = select(Notification).where(Notification.id.in_(ids))
            rows = {row.id: row for row in reader.scalars(query)}
            outcomes: dict[int, str] = {}
            for notification_id in ids:
                if deadline is not None and time.monotonic() > deadline:
                    left = len(ids) - len(outcomes)
                    log.warning("alerts: batch over its budget; %d left to the reconciler", left)
                    break
                notification = rows.get(notification_id)
                outcomes[notification_id] = (
                    "skipped"  # gone meanwhile
                    if notification is None
                    else _deliver_one(writer, reader, notification, settings, transport)
                )
    return outcomes


def _deliver_one(
    writer: Connection,
    reader: Session,
    notification: Notification,
    settings: Settings,
    transport: Transport,
) -> str:
    """Claim, compose, send, record: the state the row is left in ("skipped": not ours)."""
    claimed = claim_attempt(writer, notification.id, clock.now())
    if claimed is None:  # not due, or another worker's
        return "skipped"
    attempt, give_up_at = claimed
    values = _attempt(reader, notification, attempt, give_up_at, settings, transport)
    _record(writer, notification.id, attempt, values)
    return str(values["state"])


def _attempt(
    session: Session,
    notification: Notification,
    attempt: int,
    give_up_at: datetime,
    settings: Settings,
    transport: Transport,
) -> dict[str, object]:
    """Compose and send one claimed notification; the values its row takes afterwards."""
    notification_id = notification.id
    try:
        if notification.channel_id is not None:
            channels.deliver(session, notification, settings)
        else:
            message = compose(session, notification, settings)
            # A password link is never on the console's outbox page.
            private = EMAIL_KINDS[notification.kind].private
            outbox = account_emails.outbox_name(notification_id) if private else ""
            transport.send(message, notification_id, outbox)
    except (PermanentFailure, AddressRefused) as error:
        outcome = _failed(attempt, give_up_at, _describe(error), permanent=True)
    except UncertainDelivery as error:
        log.warning("alerts: notification %s may have been sent: %s", notification_id, error)
        outcome = {
            "state": NotificationState.UNCERTAIN,
            "sent_at": clock.now(),
            "last_error": UNCERTAIN_AFTER_DATA,
        }
    except Exception as error:
        log.warning("alerts: notification %s not sent: %s", notification_id, _describe(error))
        outcome = _failed(attempt, give_up_at, _describe(error), permanent=False)
    else:
        outcome = {"state": NotificationState.SENT, "sent_at": clock.now()}
    return outcome


def _describe(error: BaseException) -> str:
    if isinstance(error, AddressRefused):
        return error.note
    return (str(error) or type(error).__name__)[:MAX_ERROR]


def _failed(attempt: int, give_up_at: datetime, error: str, permanent: bool) -> dict[str, object]:
    now = clock.now()
    outcome: dict[str, object] = {"last_error": error}
    if permanent:
        return {**outcome, "state": NotificationState.FAILED}
    next_attempt = now + backoff_delay(attempt)
    if next_attempt > give_up_at:
        return {
            **outcome,
            "state": NotificationState.FAILED,
            "last_error": f"Abandon après 24 h\xa0: {error}",
        }
    return {**outcome, "state": NotificationState.PENDING, "next_attempt_at": next_attempt}


def _record(
    executor: DbSession | Connection, notification_id: int, attempt: int, outcome: dict[str, object]
) -> None:
    """An attempt's outcome, recorded only while the row is still ours (sending, same attempt)."""
    parameters = {
        "record_id": notification_id,
        "record_attempt": attempt,
        "record_state": outcome["state"],
        "record_sent_at": outcome.get("sent_at"),
        "record_error": outcome.get("last_error"),
        "record_next": outcome.get("next_attempt_at"),
    }
    executor.execute(RECORD, parameters)


# --- reconciling and retrying -----------------------------------------------------------


def mark_stuck(session: DbSession, now: datetime) -> int:
    """Rows left in sending by a dead worker become uncertain, to be resent as they were."""
    result = session.execute(
        update(Notification)
        .where(
            Notification.state == NotificationState.SENDING,
            Notification.claimed_at < now - SENDING_TIMEOUT,
        )
        .values(
            state=NotificationState.UNCERTAIN,
            claimed_at=None,
            last_error=(
                "Envoi interrompu\xa0: peut-être reçu, renvoyé avec le même identifiant "
                "(Message-ID d'un courriel, webhook-id d'un webhook)."
            ),
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def due_notifications(session: DbSession, now: datetime) -> list[tuple[int, str]]:
    """(id, kind) of the rows due to be (re)sent, the longest due first."""
    query = (
        select(Notification.id, Notification.kind)
        .where(resendable(), Notification.next_attempt_at <= now)
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(DUE_BATCH)
    )
    return [(int(row[0]), str(row[1])) for row in session.execute(query)]


def retry(session: DbSession, notification_id: int, actor: User | None) -> bool:
    """A coordinator asks to try a failed or uncertain notification again, now."""
    now = clock.now()
    result = session.execute(
        update(Notification)
        .where(
            Notification.id == notification_id,
            Notification.state.in_((NotificationState.FAILED, NotificationState.UNCERTAIN)),
        )
        .values(
            state=NotificationState.PENDING,
            next_attempt_at=now,
            give_up_at=now + timedelta(hours=24),
            # If it fails again it is new trouble: back on the banner, in the next warning.
            warned_at=None,
            dismissed_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    audit(session, actor, "notification.retry", session.get(Notification, notification_id))
    handoff.after_commit(session, [notification_id])
    return True
