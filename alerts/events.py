"""From level changes to alert events and notification rows (R6, R7, R10).

`on_level_change` runs inside `barometre.services.recompute`, in the same
transaction and under the establishment's row lock:

- a rise with `ALERT_GROUP_WAIT` = 0 becomes an event at once (red when it
  reaches rouge); otherwise it joins the establishment's open alert group
  (opened on the first rise, due `ALERT_GROUP_WAIT` seconds later);
- a return to green becomes a "back to green" event, unless the rise it ends
  was never announced (its group was still waiting: the group is cancelled);
- each event gets one notification row per recipient, unique on the pair.

A due group is closed by `close_group`, which states the level of that moment
and every new situation of the group's rises.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app, has_app_context
from sqlalchemy import select, update

from barometre import clock
from barometre.addresses import MAX_ADDRESS, clean_address
from barometre.extensions import DbSession
from barometre.levels import ROUGE, VERT
from barometre.models import Establishment, LevelChange
from barometre.services import lock_establishment
from barometre.settings import Settings

from . import dispatch
from .models import (
    FAILED,
    GREEN_AGAIN,
    GROUP_CANCELLED,
    GROUP_OPEN,
    GROUP_SENT,
    PENDING,
    RED,
    RISE,
    AlertEvent,
    AlertGroup,
    Notification,
)
from .recipients import Recipient, alert_recipients

DELIVERY_WINDOW = timedelta(hours=24)


def current_settings() -> Settings:
    if has_app_context():
        settings: Settings = current_app.config["SETTINGS"]
        return settings
    return Settings.from_env()


def on_level_change(session: DbSession, change: LevelChange) -> None:
    """The hook registered in `barometre.services.LEVEL_CHANGE_HOOKS`."""
    settings = current_settings()
    if change.is_rise:
        record_rise(session, change, settings)
    elif change.to_colour == VERT and change.from_colour != VERT:
        record_back_to_green(session, change, settings)


def open_group(session: DbSession, establishment_id: int) -> AlertGroup | None:
    query = select(AlertGroup).where(
        AlertGroup.establishment_id == establishment_id, AlertGroup.state == GROUP_OPEN
    )
    return session.scalar(query)


def record_rise(session: DbSession, change: LevelChange, settings: Settings) -> None:
    if settings.alert_group_wait <= 0:
        kind = RED if change.to_colour == ROUGE else RISE
        record_event(session, _event_from_change(change, kind))
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
        dispatch.group_after_commit(session, group.id, settings.alert_group_wait)
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
        group.state = GROUP_CANCELLED
        group.closed_at = clock.now()
        announced_before = group.from_colour != VERT
        session.flush()
    if settings.notify_back_to_green and announced_before:
        was_red = red_told_since_green(session, change.establishment_id)
        record_event(session, _event_from_change(change, GREEN_AGAIN), was_red)


def red_told_since_green(session: DbSession, establishment_id: int) -> bool:
    """Whether the last red-or-green alert of the establishment was a red one."""
    query = (
        select(AlertEvent.kind)
        .where(
            AlertEvent.establishment_id == establishment_id,
            AlertEvent.kind.in_((RED, GREEN_AGAIN)),
        )
        .order_by(AlertEvent.id.desc())
        .limit(1)
    )
    return session.scalar(query) == RED


def _event_from_change(change: LevelChange, kind: str) -> AlertEvent:
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
    )


def record_event(
    session: DbSession, event: AlertEvent, was_red: bool = False
) -> list[Notification]:
    """Store the event and one notification per recipient; deliver them after commit.

    `was_red`: a back-to-green notice also goes to red-only contacts, who were told of the red.
    """
    session.add(event)
    session.flush()
    recipients = alert_recipients(session, event.establishment_id, event.kind, was_red)
    rows: dict[str, Notification] = {}
    for recipient in recipients:
        row = new_notification(event.kind, recipient, clock.now(), event_id=event.id)
        rows.setdefault(row.recipient, row)  # unique per (event, recipient)
    session.add_all(rows.values())
    session.flush()
    dispatch.after_commit(session, [n.id for n in rows.values() if n.state == PENDING])
    return list(rows.values())


def new_notification(
    kind: str,
    recipient: Recipient,
    now: datetime,
    event_id: int | None = None,
    digest_run_id: int | None = None,
) -> Notification:
    """A pending row, or a failed one at once for an address that cannot be sent to."""
    address = clean_address(recipient.address)
    shown = recipient.address.replace("\r", "\\r").replace("\n", "\\n")[:MAX_ADDRESS]
    return Notification(
        kind=kind,
        event_id=event_id,
        digest_run_id=digest_run_id,
        recipient=address or shown,
        recipient_kind=recipient.kind,
        language=recipient.language,
        state=PENDING if address else FAILED,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
        give_up_at=now + DELIVERY_WINDOW,
        last_error="" if address else "Adresse refusée (invalide ou caractères de contrôle).",
    )


# --- closing groups ----------------------------------------------------------------------


def due_groups(session: DbSession, now: datetime) -> list[int]:
    query = select(AlertGroup.id).where(
        AlertGroup.state == GROUP_OPEN, AlertGroup.send_after <= now
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
            AlertGroup.state == GROUP_OPEN,
            AlertGroup.send_after <= now,
        )
        .values(state=GROUP_SENT, closed_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    session.refresh(group)
    level = establishment.level
    if level.rank <= group.rank_before:
        # Fell back meanwhile: nothing new to announce.
        group.state = GROUP_CANCELLED
        session.flush()
        return None
    event = _event_from_group(group, establishment)
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
