"""From level changes to alert events and notification rows (R6, R7, R10).

`on_level_change` runs inside `barometre.services.recompute`, in the same
transaction and under the establishment's row lock:

- with `ALERT_GROUP_WAIT` = 0 each change is told at once (`net_kind`): a rise
  (red when it reaches rouge), a return to green, a fall out of red that stays
  orange ("red lifted", to the recipients of the red it ends, if that red was sent);
- otherwise every change (rise or fall) joins the establishment's open alert
  group, opened by the first change and due `ALERT_GROUP_WAIT` seconds later
  (SPEC R15: no bursts);
- each event gets one notification row per recipient, unique on the pair, and
  keeps the ids of the situations open at that moment: its emails list them all.

A due group is closed once by `close_group`: the net change from the level its
recipients last heard of (the group's start) to the level now picks the email
(`net_kind`, the same rules), which tells every step of the group with its time
and cause. Back at the level last told, nothing is sent: a red within the window
was never told, so there is nothing to take back.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app, has_app_context
from sqlalchemy import select, update

from barometre import clock
from barometre.addresses import MAX_ADDRESS
from barometre.extensions import DbSession
from barometre.levels import ROUGE, rank_of
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
RED_RANK = rank_of(ROUGE, 0)


def current_settings() -> Settings:
    if has_app_context():
        settings: Settings = current_app.config["SETTINGS"]
        return settings
    return Settings.from_env()


def on_level_change(session: DbSession, change: LevelChange) -> None:
    """The receiver of `barometre.signals.level_changed`: the alerts a change makes."""
    settings = current_settings()
    if settings.alert_group_wait <= 0:
        announce_change(session, change, settings)
    else:
        join_group(session, change, settings)


def open_group(session: DbSession, establishment_id: int) -> AlertGroup | None:
    query = select(AlertGroup).where(
        AlertGroup.establishment_id == establishment_id, AlertGroup.state == GroupState.OPEN
    )
    return session.scalar(query)


def join_group(session: DbSession, change: LevelChange, settings: Settings) -> None:
    """Every change (rise or fall) joins the establishment's open group, or opens one; a
    change of the same position (orange 5 blocked or not) opens none: it tells nothing."""
    group = open_group(session, change.establishment_id)
    if group is None:
        if change.rank_after == change.rank_before:
            return
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


def net_kind(from_rank: int, to_rank: int, settings: Settings) -> str | None:
    """The alert a change from one position to another makes, None for none: a rise (red
    when it reaches rouge), a return to green, a fall out of red that stays orange; a fall
    within orange, or no change at all, tells nothing (R6)."""
    if to_rank > from_rank:
        return RED if to_rank == RED_RANK else RISE
    if to_rank == from_rank:
        return None
    if to_rank == 0:
        return GREEN_AGAIN if settings.notify_back_to_green else None
    if from_rank == RED_RANK:
        return RED_LIFTED if settings.notify_red_lifted else None
    return None


def announce_change(session: DbSession, change: LevelChange, settings: Settings) -> None:
    """`ALERT_GROUP_WAIT` = 0: each change is told at once."""
    kind = net_kind(change.rank_before, change.rank_after, settings)
    if kind is not None:
        record_told(session, _event_from_change(session, change, kind))


def record_told(session: DbSession, event: AlertEvent) -> AlertEvent | None:
    """Record an event of a net change with its recipients: a fall out of red to those the
    red it ends reached, and only if that red was told; a return to green also to the
    red-only contacts when the last thing told was a red."""
    if event.kind == RED_LIFTED:
        red = red_still_told(session, event.establishment_id)
        if red is None:
            return None  # that red was never sent (it waited in a group), or already ended
        record_event(session, event, recipients=event_recipients(session, red))
        return event
    was_red = event.kind == GREEN_AGAIN and red_told_since_green(session, event.establishment_id)
    record_event(session, event, was_red)
    return event


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
    later = session.scalars(
        select(LevelChange.id).where(
            LevelChange.establishment_id == establishment_id,
            LevelChange.to_colour == ROUGE,
            LevelChange.from_colour != ROUGE,
            LevelChange.at > row.created_at,
        )
    )
    # A red of an earlier spell, whose end was not told (a notice switched off then); a
    # return to red within a window that started in red is the same spell.
    resumed = resumed_red_changes(session, establishment_id, row.created_at)
    return None if any(i not in resumed for i in later) else int(row.id)


def resumed_red_changes(session: DbSession, establishment_id: int, since: datetime) -> set[int]:
    """The changes of groups that started in red: a return to red within such a window
    is no new red for its recipients, who heard of no end to the first (the group closes
    on red: the red goes on, its reminders too; or out of red: its end is told to those
    the first red reached)."""
    query = select(AlertGroup.level_change_ids).where(
        AlertGroup.establishment_id == establishment_id,
        AlertGroup.from_colour == ROUGE,
        AlertGroup.opened_at >= since,
    )
    return {i for ids in session.scalars(query) for i in ids}


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
    """A pending row, or a failed one at once for an address that cannot be sent to; a
    channel's row is named by its channel (its URL was checked when it was saved)."""
    if recipient.channel_id is not None:
        address, error = recipient.address[:MAX_ADDRESS], ""
    else:
        try:
            address, error = sendable(recipient.address), ""
        except AddressRefused as refused:
            address, error = None, refused.note
    shown = recipient.address.replace("\r", "\\r").replace("\n", "\\n")[:MAX_ADDRESS]
    return Notification(
        channel_id=recipient.channel_id,
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
    """Turn a due group into one event telling the net change from the level its recipients
    last heard of (the group's start) to the level now, with every step (safe to run twice:
    the group is claimed by a conditional UPDATE, so it is closed once)."""
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
    kind = net_kind(group.rank_before, establishment.level.rank, current_settings())
    event = None
    if kind is not None:
        event = _event_from_group(group, establishment, kind)
        event.open_situation_ids = open_situation_ids(session, establishment.id)
        event = record_told(session, event)
    if event is None:
        # Back where the recipients last heard of it (a red within the window was never
        # told), a fall within orange, or a notice switched off: nothing to announce.
        group.state = GroupState.CANCELLED
        session.flush()
    return event


def _event_from_group(group: AlertGroup, establishment: Establishment, kind: str) -> AlertEvent:
    level = establishment.level
    return AlertEvent(
        establishment_id=establishment.id,
        kind=kind,
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
