"""Reminders while red: « toujours en code rouge » every `RED_REMINDER_DAYS` days.

While an establishment stays red, those who received its red alert (the
recipients of that red event's notifications that were sent, less those who
turned alerts off since) are reminded every `RED_REMINDER_DAYS` days counted from the red alert:
since when it is red and what is still open. Reminders stop when the red ends
(a later red-lifted or back-to-green event, or a level that is not red any more).

The n-th reminder of a red is an `AlertEvent` of kind `reminder`, unique on
(`reminder_of`, `reminder_number`) and inserted with ON CONFLICT DO NOTHING
under the establishment's lock: two reconcilers racing, or a sweep run twice,
record it once, and its notifications are unique per address as every event's.
A sweep that was away for several periods sends the latest due reminder only.
No reminder while a change of the establishment waits in its alert group
(`ALERT_GROUP_WAIT`): a red still waiting was not told, and a fall within the
window may end the red. A window that leaves red and comes back keeps the red
told before it (`alerts.events.resumed_red_changes`). A reminder is not a retry:
a red email that failed (or whose fate is uncertain) stays in the console's
trouble list, and its address gets no reminder.
The reconciler runs the sweep (beat's every minute, or the embedded ticker).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from barometre import clock
from barometre.extensions import DbSession
from barometre.levels import ROUGE
from barometre.models import Establishment, LevelChange
from barometre.services import lock_establishment
from barometre.settings import Settings
from barometre.unique import insert_unless_taken

from .events import open_group, open_situation_ids, record_event, red_still_told
from .models import REMINDER, AlertEvent, Notification, NotificationState
from .recipients import Recipient, event_recipients


def sweep(session: DbSession, settings: Settings) -> list[AlertEvent]:
    """Record the reminders due now; their emails go after the caller's commit."""
    if settings.red_reminder_days <= 0:
        return []
    now = clock.now()
    period = timedelta(days=settings.red_reminder_days)
    found = (
        remind(session, establishment_id, now, period) for establishment_id in red_now(session)
    )
    return [event for event in found if event is not None]


def red_now(session: DbSession) -> list[int]:
    query = select(Establishment.id).where(
        Establishment.colour == ROUGE, Establishment.active.is_(True)
    )
    return list(session.scalars(query.order_by(Establishment.id)))


def due_number(told_at: datetime, now: datetime, period: timedelta) -> int:
    """Which reminder is due: 1 a period after the red alert, 2 after two periods…"""
    return max((now - told_at) // period, 0)


def remind(
    session: DbSession, establishment_id: int, now: datetime, period: timedelta
) -> AlertEvent | None:
    """The reminder of this establishment's red due now, if one is and none was recorded."""
    red = _told_red(session, establishment_id)
    if red is None or _recorded(session, red.id, due_number(red.created_at, now, period)):
        return None
    # Checked again under the lock: the red may have ended, or another sweep recorded it.
    establishment = lock_establishment(session, establishment_id)
    session.refresh(establishment)
    red = _told_red(session, establishment_id)
    if establishment.colour != ROUGE or red is None:
        return None
    if open_group(session, establishment_id) is not None:
        return None  # a change waits in its window: the red may be ending, or not told yet
    number = due_number(red.created_at, now, period)
    if number < 1:
        return None
    event_id = _insert(session, red, establishment, number, now)
    if event_id is None:
        return None  # another sweep recorded it
    event = session.get(AlertEvent, event_id)
    if event is None:  # pragma: no cover - inserted just above
        return None
    record_event(session, event, recipients=reached(session, red.id))
    return event


def reached(session: DbSession, red_id: int) -> list[Recipient]:
    """Who the red reached (its notification sent) and still wants alerts."""
    sent = set(
        session.scalars(
            select(Notification.recipient).where(
                Notification.event_id == red_id, Notification.state == NotificationState.SENT
            )
        )
    )
    return [r for r in event_recipients(session, red_id) if r.address in sent]


def _told_red(session: DbSession, establishment_id: int) -> AlertEvent | None:
    red_id = red_still_told(session, establishment_id)
    return None if red_id is None else session.get(AlertEvent, red_id)


def _recorded(session: DbSession, red_id: int, number: int) -> bool:
    """True when nothing is due: no number yet, or this one (or a later one) recorded."""
    if number < 1:
        return True
    latest = session.scalar(
        select(func.max(AlertEvent.reminder_number)).where(AlertEvent.reminder_of == red_id)
    )
    return latest is not None and latest >= number


def red_entered(session: DbSession, establishment_id: int) -> LevelChange | None:
    """The level change that started the establishment's current red."""
    query = (
        select(LevelChange)
        .where(
            LevelChange.establishment_id == establishment_id,
            LevelChange.to_colour == ROUGE,
            LevelChange.from_colour != ROUGE,
        )
        .order_by(LevelChange.at.desc(), LevelChange.id.desc())
        .limit(1)
    )
    return session.scalar(query)


def _insert(
    session: DbSession,
    red: AlertEvent,
    establishment: Establishment,
    number: int,
    now: datetime,
) -> int | None:
    """The reminder's event, snapshotting the level and the open situations; None if there."""
    level = establishment.level
    entered = red_entered(session, establishment.id)
    return insert_unless_taken(
        session,
        AlertEvent,
        (AlertEvent.reminder_of, AlertEvent.reminder_number),
        establishment_id=establishment.id,
        kind=REMINDER,
        created_at=now,
        from_colour=red.to_colour,
        from_step=red.to_step,
        to_colour=level.colour,
        to_step=level.step,
        open_situations=level.open_situations,
        offer_types=",".join(level.offer_types),
        red_blocked=level.red_blocked_by_diversity,
        # The change that started this red: the email says since when.
        level_change_ids=[entered.id] if entered is not None else [],
        new_situation_ids=[],
        open_situation_ids=open_situation_ids(session, establishment.id),
        reminder_of=red.id,
        reminder_number=number,
    )
