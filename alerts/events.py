"""From level changes to alert events and notification rows (R6, R7, R10).

`on_level_change` runs inside `barometre.services.recompute`, in the same
transaction and under the establishment's row lock:

- a rise with `ALERT_GROUP_WAIT` = 0 becomes an event at once (red when it
  reaches rouge); otherwise it joins the establishment's open alert group
  (opened on the first rise, due `ALERT_GROUP_WAIT` seconds later);
- a return to green becomes a "back to green" event, unless the rise it ends
  was never announced (its group was still waiting: the group is cancelled);
- a fall out of red that stays orange becomes a "red lifted" event for the
  recipients of the red it ends (`NOTIFY_RED_LIFTED`), if that red was sent;
- each event gets one notification row per recipient, unique on the pair, and
  keeps the ids of the situations open at that moment: its emails list them all.

A due group is closed by `close_group`, which states the level of that moment
and every new situation of the group's rises.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app, has_app_context
from sqlalchemy import func, select, update

from barometre import clock
from barometre.addresses import MAX_ADDRESS
from barometre.extensions import DbSession
from barometre.levels import ROUGE, VERT
from barometre.models import Establishment, LevelChange, Situation
from barometre.services import lock_establishment
from barometre.settings import Settings
from barometre.states import SituationState

from . import handoff
from .emails import AddressRefused, sendable
from .models import (
    GREEN_AGAIN,
    RED,
    RED_LIFTED,
    RISE,
    AlertEvent,
    AlertGroup,
    GroupState,
    Notification,
    NotificationState,
)
from .recipients import Recipient, alert_recipients, event_recipients

DELIVERY_WINDOW = timedelta(hours=24)


def current_settings() -> Settings:
    if has_app_context():
        settings: Settings = current_app.config["SETTINGS"]
        return settings
    return Settings.from_env()


def on_level_change(session: DbSession, change: LevelChange) -> None:
    """The receiver of `barometre.signals.level_changed`: the alerts a change makes."""
    settings = current_settings()
    if change.is_rise:
        record_rise(session, change, settings)
    elif change.to_colour == VERT and change.from_colour != VERT:
        record_back_to_green(session, change, settings)
    elif change.from_colour == ROUGE and change.to_colour != ROUGE:
        record_red_lifted(session, change, settings)


def open_group(session: DbSession, establishment_id: int) -> AlertGroup | None:
    query = select(AlertGroup).where(
        AlertGroup.establishment_id == establishment_id, AlertGroup.state == GroupState.OPEN
    )
    return session.scalar(query)


def record_rise(session: DbSession, change: LevelChange, settings: Settings) -> None:
    if settings.alert_group_wait <= 0:
        kind = RED if change.to_colour == ROUGE else RISE
        record_event(session, _event_from_change(session, change, kind))
        return
    group = open_group(session, change.establishment_id)
    if group is None:
        now = clock.now()
        group = AlertGroup(
            establishment_id=change.establishment_id,
            opened_at=now,
            send_after=now + timedelta(seconds=settings.alert_group_wait),
            from_colour=change.from_colour,
            from_step=change.from_step,
            level_change_ids=[change.id],
            new_situation_ids=list(change.new_situation_ids),
        )
        session.add(group)
        session.flush()
        handoff.group_after_commit(session, group.id, settings.alert_group_wait)
        return
    # Reassign (not append): the JSON columns are not mutation-tracked.
    group.level_change_ids = [*group.level_change_ids, change.id]
    group.new_situation_ids = [*group.new_situation_ids, *change.new_situation_ids]
    session.flush()


def record_back_to_green(session: DbSession, change: LevelChange, settings: Settings) -> None:
    group = open_group(session, change.establishment_id)
    announced_before = True
    if group is not None:
        # Its rises were never sent; the recipients last heard of the group's start level.
        group.state = GroupState.CANCELLED
        group.closed_at = clock.now()
        announced_before = group.from_colour != VERT
        session.flush()
    if settings.notify_back_to_green and announced_before:
        was_red = red_told_since_green(session, change.establishment_id)
        record_event(session, _event_from_change(session, change, GREEN_AGAIN), was_red)


def record_red_lifted(session: DbSession, change: LevelChange, settings: Settings) -> None:
    """« Le code rouge est levé »: told to those who received the red it ends (R14)."""
    if not settings.notify_red_lifted:
        return
    red = red_still_told(session, change.establishment_id)
    if red is None:
        return  # that red was never sent (still waiting in its group), or already ended
    event = _event_from_change(session, change, RED_LIFTED)
    record_event(session, event, recipients=event_recipients(session, red))


def red_still_told(session: DbSession, establishment_id: int) -> int | None:
    """The id of the red event that announced the establishment's current red spell, if
    one did and no later alert ended it (a red still waiting in its group was not told)."""
    query = (
        select(AlertEvent.id, AlertEvent.kind, AlertEvent.created_at)
        .where(
            AlertEvent.establishment_id == establishment_id,
            AlertEvent.kind.in_((RED, RED_LIFTED, GREEN_AGAIN)),
        )
        .order_by(AlertEvent.id.desc())
        .limit(1)
    )
    row = session.execute(query).first()
    if row is None or row.kind != RED:
        return None
    entered = session.scalar(
        select(func.max(LevelChange.at)).where(
            LevelChange.establishment_id == establishment_id,
            LevelChange.to_colour == ROUGE,
            LevelChange.from_colour != ROUGE,
        )
    )
    # A red of an earlier spell, whose end was not told (a notice switched off then).
    return None if entered is not None and row.created_at < entered else int(row.id)


def red_told_since_green(session: DbSession, establishment_id: int) -> bool:
    """Whether the last red, red-lifted or green alert of the establishment was a red one."""
    return red_still_told(session, establishment_id) is not None


def open_situation_ids(session: DbSession, establishment_id: int) -> list[int]:
    """The establishment's open situations now (flushed: the level change was just stored)."""
    query = (
        select(Situation.id)
        .where(
            Situation.establishment_id == establishment_id,
            Situation.status == SituationState.OPEN,
        )
        .order_by(Situation.opened_at, Situation.id)
    )
    return list(session.scalars(query))


def _event_from_change(session: DbSession, change: LevelChange, kind: str) -> AlertEvent:
    return AlertEvent(
        establishment_id=change.establishment_id,
        kind=kind,
        created_at=clock.now(),
        from_colour=change.from_colour,
        from_step=change.from_step,
        to_colour=change.to_colour,
        to_step=change.to_step,
        open_situations=change.open_situations,
        offer_types=change.offer_types,
        red_blocked=change.red_blocked,
        level_change_ids=[change.id],
        new_situation_ids=list(change.new_situation_ids or []),
        open_situation_ids=open_situation_ids(session, change.establishment_id),
    )


def record_event(
    session: DbSession,
    event: AlertEvent,
    was_red: bool = False,
    recipients: list[Recipient] | None = None,
) -> list[Notification]:
    """Store the event and one notification per recipient; deliver them after commit.

    `was_red`: a back-to-green notice also goes to red-only contacts, who were told of the red.
    `recipients`: who gets it, when not the establishment's alert recipients (R10).
    """
    session.add(event)
    session.flush()
    if recipients is None:
        recipients = alert_recipients(session, event.establishment_id, event.kind, was_red)
    rows: dict[str, Notification] = {}
    for recipient in recipients:
        row = new_notification(event.kind, recipient, clock.now(), event_id=event.id)
        rows.setdefault(row.recipient, row)  # unique per (event, recipient)
    session.add_all(rows.values())
    session.flush()
    handoff.after_commit(
        session, [n.id for n in rows.values() if n.state == NotificationState.PENDING]
    )
    return list(rows.values())


def new_notification(
    kind: str,
    recipient: Recipient,
    now: datetime,
    event_id: int | None = None,
    digest_run_id: int | None = None,
) -> Notification:
    """A pending row, or a failed one at once for an address that cannot be sent to."""
    try:
        address, error = sendable(recipient.address), ""
    except AddressRefused as refused:
        address, error = None, refused.note
    shown = recipient.address.replace("\r", "\\r").replace("\n", "\\n")[:MAX_ADDRESS]
    return Notification(
        kind=kind,
        event_id=event_id,
        digest_run_id=digest_run_id,
        recipient=address or shown,
        recipient_kind=recipient.kind,
        language=recipient.language,
        state=NotificationState.PENDING if address else NotificationState.FAILED,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
        give_up_at=now + DELIVERY_WINDOW,
        last_error=error,
    )


# --- closing groups ----------------------------------------------------------------------


def due_groups(session: DbSession, now: datetime) -> list[int]:
    query = select(AlertGroup.id).where(
        AlertGroup.state == GroupState.OPEN, AlertGroup.send_after <= now
    )
    return list(session.scalars(query.order_by(AlertGroup.send_after)))


def close_group(session: DbSession, group_id: int) -> AlertEvent | None:
    """Turn a due group into one event stating the level now (safe to run twice)."""
    group = session.get(AlertGroup, group_id)
    if group is None:
        return None
    # Same lock order as recompute: establishment first, then the group.
    establishment = lock_establishment(session, group.establishment_id)
    now = clock.now()
    claimed = session.execute(
        update(AlertGroup)
        .where(
            AlertGroup.id == group_id,
            AlertGroup.state == GroupState.OPEN,
            AlertGroup.send_after <= now,
        )
        .values(state=GroupState.SENT, closed_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    session.refresh(group)
    level = establishment.level
    if level.rank <= group.rank_before:
        # Fell back meanwhile: nothing new to announce.
        group.state = GroupState.CANCELLED
        session.flush()
        return None
    event = _event_from_group(group, establishment)
    event.open_situation_ids = open_situation_ids(session, establishment.id)
    record_event(session, event)
    return event


def _event_from_group(group: AlertGroup, establishment: Establishment) -> AlertEvent:
    level = establishment.level
    became_red = level.colour == ROUGE and group.from_colour != ROUGE
    return AlertEvent(
        establishment_id=establishment.id,
        kind=RED if became_red else RISE,
        created_at=clock.now(),
        group_id=group.id,
        from_colour=group.from_colour,
        from_step=group.from_step,
        to_colour=level.colour,
        to_step=level.step,
        open_situations=level.open_situations,
        offer_types=",".join(level.offer_types),
        red_blocked=level.red_blocked_by_diversity,
        level_change_ids=list(group.level_change_ids),
        new_situation_ids=list(dict.fromkeys(group.new_situation_ids)),
    )
