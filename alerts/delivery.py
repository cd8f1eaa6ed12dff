"""Deliver one notification: claim, render, send, record (R8, SPEC §7.3).

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
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import ColumnElement, Connection, Update, and_, bindparam, func, or_, select, update

from barometre import clock
from barometre.extensions import DbSession
from barometre.models import User
from barometre.services import audit
from barometre.settings import Settings

from . import account_emails, handoff
from .emails import (
    TOPIC_ALERTS,
    TOPIC_DIGEST,
    AddressRefused,
    AlertRenderer,
    alert_email,
    build_message,
    one_click_scope,
    preferences_url,
    sendable,
    signed_links_for,
)
from .follow.emails import FollowGone, follow_email, follow_establishment
from .models import (
    ACCOUNT_KINDS,
    DIGEST,
    FOLLOW,
    TROUBLE,
    AlertEvent,
    Notification,
    NotificationState,
)
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
    "Connexion perdue après la transmission du message : peut-être reçu. "
    "Pas de nouvel envoi automatique ; « Réessayer » le renvoie (même Message-ID)."
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

# PostgreSQL: the previous outcome and the next claim in one statement (a data-modifying WITH).
RECORD_THEN_CLAIM: Update = CLAIM.add_cte(RECORD.returning(Notification.id).cte("recorded"))


def _claim_parameters(notification_id: int, now: datetime) -> dict[str, object]:
    return {"claim_id": notification_id, "claim_now": now}


@dataclass(frozen=True)
class Outcome:
    """An attempt's result, to record on its row (still ours: sending, same attempt)."""

    notification_id: int
    attempt: int
    values: dict[str, object]

    def parameters(self) -> dict[str, object]:
        unknown = set(self.values) - OUTCOME_COLUMNS
        if unknown:
            raise ValueError(f"not an outcome column: {sorted(unknown)}")
        return {
            "record_id": self.notification_id,
            "record_attempt": self.attempt,
            "record_state": self.values["state"],
            "record_sent_at": self.values.get("sent_at"),
            "record_error": self.values.get("last_error"),
            "record_next": self.values.get("next_attempt_at"),
        }


OUTCOME_COLUMNS = frozenset({"state", "claimed_at", "sent_at", "last_error", "next_attempt_at"})


def record_then_claim(
    connection: Connection, previous: Outcome | None, notification_id: int, now: datetime
) -> tuple[int, datetime] | None:
    """Record the previous email's outcome and claim the next one: one autocommitted statement.

    On PostgreSQL both updates go in one statement (a data-modifying WITH), so
    one commit, one round trip, before the next email leaves; elsewhere two.
    The rows are then exactly as two separate commits leave them. Batches take
    ids in ascending order, so two such statements never wait for each other.
    """
    if previous is None:
        return claim_attempt(connection, notification_id, now)
    if connection.dialect.name != "postgresql":
        _record(connection, previous)
        return claim_attempt(connection, notification_id, now)
    parameters = {**previous.parameters(), **_claim_parameters(notification_id, now)}
    row = connection.execute(RECORD_THEN_CLAIM, parameters).first()
    return None if row is None else (int(row[0]), row[1])


def deliver(session: DbSession, notification_id: int, settings: Settings) -> str:
    """Send one notification if it is due and nobody else is sending it.

    Commits twice on purpose: the claim must be visible to others before the
    email leaves, and the outcome is recorded after it left (a batch of one).
    """
    return deliver_batch(session, [notification_id], settings)[notification_id]


@dataclass(frozen=True)
class Addressed:
    """What a notification's email is made of; none of it changes after the row is created."""

    id: int
    kind: str
    event_id: int | None
    recipient: str
    language: str
    recipient_kind: str


def deliver_batch(
    session: DbSession,
    notification_ids: Iterable[int],
    settings: Settings,
    budget: float | None = None,
) -> dict[int, str]:
    """Deliver these notifications one after the other, over one SMTP connection.

    Each one goes through `deliver`'s steps on its own: its claim is committed
    before its email leaves, its outcome is recorded after it left, so a crash
    mid-batch leaves the one being sent (or just sent) in sending and the rest
    pending, for the reconciler. Statements are autocommitted (no BEGIN/COMMIT
    round trips); an outcome goes with the next claim (`record_then_claim`).
    What is common to the recipients of an event is rendered once per
    language. After `budget` seconds no further notification is claimed: the
    rest stay pending and due, without an outcome.
    """
    ids = sorted(set(notification_ids))
    outcomes: dict[int, str] = {}
    if not ids:
        return outcomes
    started = time.monotonic()
    addressed = _addressed(session, ids)
    session.rollback()
    renderer = AlertRenderer(session, settings)
    with (
        session.get_bind().engine.connect() as connection,
        Transport(settings) as transport,
    ):
        writer = connection.execution_options(isolation_level="AUTOCOMMIT")
        unrecorded: Outcome | None = None
        try:
            for notification_id in ids:
                if budget is not None and time.monotonic() - started > budget:
                    left = len(ids) - len(outcomes)
                    log.warning("alerts: batch over its budget; %d left to the reconciler", left)
                    break
                found = addressed.get(notification_id)
                if found is None:  # deleted meanwhile
                    outcomes[notification_id] = "skipped"
                    continue
                claimed = record_then_claim(writer, unrecorded, notification_id, clock.now())
                unrecorded = None
                if claimed is None:
                    outcomes[notification_id] = "skipped"
                    continue
                attempt, give_up_at = claimed
                values = _attempt(
                    session, found, attempt, give_up_at, settings, transport, renderer
                )
                unrecorded = Outcome(notification_id, attempt, values)
                outcomes[notification_id] = str(values["state"])
        finally:
            if unrecorded is not None:
                _record(writer, unrecorded)
    return outcomes


def _addressed(session: DbSession, ids: list[int]) -> dict[int, Addressed]:
    query = select(
        Notification.id,
        Notification.kind,
        Notification.event_id,
        Notification.recipient,
        Notification.language,
        Notification.recipient_kind,
    ).where(Notification.id.in_(ids))
    return {row.id: Addressed(*row) for row in session.execute(query)}


def _attempt(
    session: DbSession,
    notification: Addressed,
    attempt: int,
    give_up_at: datetime,
    settings: Settings,
    transport: Transport,
    renderer: AlertRenderer,
) -> dict[str, object]:
    """Compose and send one claimed notification; the values its row takes afterwards."""
    try:
        message = compose_batch(session, notification, settings, renderer)
        # No transaction stays open while the network is slow.
        session.rollback()
        private = notification.kind in ACCOUNT_KINDS  # a password link: not on the console
        transport.send(
            message, notification.id, account_emails.outbox_name(notification.id) if private else ""
        )
    except (PermanentFailure, AddressRefused, FollowGone) as error:
        outcome = _failed(attempt, give_up_at, _describe(error), permanent=True)
    except UncertainDelivery as error:
        log.warning("alerts: notification %s may have been sent: %s", notification.id, error)
        outcome = {
            "state": NotificationState.UNCERTAIN,
            "sent_at": clock.now(),
            "claimed_at": None,
            "last_error": UNCERTAIN_AFTER_DATA,
        }
    except Exception as error:
        log.warning("alerts: notification %s not sent: %s", notification.id, _describe(error))
        outcome = _failed(attempt, give_up_at, _describe(error), permanent=False)
    else:
        outcome = {"state": NotificationState.SENT, "sent_at": clock.now(), "claimed_at": None}
    session.rollback()
    return outcome


def _describe(error: BaseException) -> str:
    if isinstance(error, AddressRefused):
        return error.note
    return (str(error) or type(error).__name__)[:MAX_ERROR]


def _failed(attempt: int, give_up_at: datetime, error: str, permanent: bool) -> dict[str, object]:
    now = clock.now()
    outcome: dict[str, object] = {"last_error": error, "claimed_at": None}
    if permanent:
        return {**outcome, "state": NotificationState.FAILED}
    next_attempt = now + backoff_delay(attempt)
    if next_attempt > give_up_at:
        return {
            **outcome,
            "state": NotificationState.FAILED,
            "last_error": f"Abandon après 24 h : {error}",
        }
    return {**outcome, "state": NotificationState.PENDING, "next_attempt_at": next_attempt}


def _record(executor: DbSession | Connection, outcome: Outcome) -> None:
    executor.execute(RECORD, outcome.parameters())


def compose(session: DbSession, notification: Notification, settings: Settings) -> EmailMessage:
    if notification.kind in ACCOUNT_KINDS:
        return account_emails.account_message(session, notification, settings)
    # `about`: the establishments the email is about (None: all, or none in particular).
    about: list[int] | None = None
    if notification.kind == DIGEST:
        from .digest import digest_email

        rendered = digest_email(session, notification, settings)
        topic = TOPIC_DIGEST
        run = notification.digest_run
        about = run.establishment_ids if run is not None else None
    elif notification.kind == TROUBLE:
        from .trouble import trouble_email

        rendered = trouble_email(session, notification, settings)
        topic = TOPIC_ALERTS
    elif notification.kind == FOLLOW:
        # Its one-click unsubscription cancels the request (alerts: what following brings).
        rendered = follow_email(session, notification, settings)
        topic = TOPIC_ALERTS
        about = [follow_establishment(session, notification)]
    else:
        rendered = alert_email(session, notification, settings)
        topic = TOPIC_ALERTS
        about = [notification.event.establishment_id] if notification.event else None
    return build_message(
        notification.id,
        notification.recipient,
        rendered,
        settings,
        language=notification.language,
        topic=topic,
        scope=one_click_scope(notification.recipient_kind, about),
    )


def compose_batch(
    session: DbSession, notification: Addressed, settings: Settings, renderer: AlertRenderer
) -> EmailMessage:
    """`compose` within a batch: an alert's common part comes from the renderer."""
    if notification.kind == DIGEST or notification.event_id is None:
        row = session.get(Notification, notification.id)
        if row is None:
            raise ValueError(f"notification {notification.id} not found")
        return compose(session, row, settings)
    sendable(notification.recipient)  # refused before anything is rendered
    # As `alert_email` does: the body links the recorded address (`build_message` puts the
    # normalised one in List-Unsubscribe: the same token unless normalising changed it).
    body_url = preferences_url(notification.recipient, settings)
    signed = signed_links_for(notification.recipient_kind)
    rendered = renderer.email(notification.event_id, notification.language, body_url, signed)
    event = session.get(AlertEvent, notification.event_id)  # loaded by the renderer
    about = [event.establishment_id] if event is not None else None
    return build_message(
        notification.id,
        notification.recipient,
        rendered,
        settings,
        language=notification.language,
        topic=TOPIC_ALERTS,
        scope=one_click_scope(notification.recipient_kind, about),
    )


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
            last_error="Envoi interrompu : peut-être reçu, renvoyé avec le même Message-ID.",
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
