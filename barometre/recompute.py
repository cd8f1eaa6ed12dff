"""The level of an establishment, recomputed from its open situations (R5), each change
announced (`signals.level_changed`); expiry of the situations no report confirmed (R3)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from . import clock, signals
from .extensions import DbSession
from .levels import Level, Thresholds, compute_level
from .models import Establishment, LevelChange, Report, Situation
from .settings import Settings
from .situations import close_situation, lock_establishment, open_situations, still_open, ttl_cutoff
from .states import SituationState

# The cause of the level changes replayed from the committee's history (barometre.history_import).
CAUSE_IMPORT = "import"
# The change that joins an imported history to the live one, at the establishment's first
# live record: the archive's level gives way to the level the live history starts from.
CAUSE_HISTORY_END = "history_end"


@dataclass
class Outcome:
    """What a service changed: the level before and after, and the changes recorded."""

    establishment: Establishment
    before: Level
    after: Level
    changes: list[LevelChange] = field(default_factory=list)
    report: Report | None = None
    created: bool = True
    new_situations: list[Situation] = field(default_factory=list)
    # Whether the report can support situations; when not, why (a visit too old).
    counted: bool = True
    reason: str = ""


def thresholds(settings: Settings) -> Thresholds:
    return Thresholds(settings.red_threshold, settings.red_min_offer_types)


def recompute(
    session: DbSession,
    establishment: Establishment,
    settings: Settings,
    cause: str,
    cause_id: int | None = None,
    new_situations: Sequence[Situation] = (),
    situations: Sequence[Situation] | None = None,
    closed: Sequence[Situation] = (),
) -> LevelChange | None:
    """Compute the level from the open situations; record a change if it moved (R5).

    `situations`: the establishment's open situations when the caller keeps them
    up to date under the establishment's lock; read from the database otherwise.
    `new_situations`, `closed`: the situations the cause opened and closed, kept with
    the change so that it says its cause (R15).
    """
    if situations is None:
        situations = open_situations(session, establishment.id)
    before = establishment.level
    after, facts = level_and_facts(situations, settings)
    establishment.store_level(after, facts)
    if same_level(before, after):
        return None
    if any(s.id is None for s in new_situations):
        session.flush()  # their ids go into the change
    at = clock.now()
    establishment.level_changed_at = at
    change = level_change(establishment, at, before, after, cause, cause_id, new_situations, closed)
    session.add(change)
    session.flush()
    if cause != CAUSE_IMPORT:  # imported history is not news: nobody is alerted
        signals.level_changed.send(session, change=change)
    return change


def level_change(
    establishment: Establishment,
    at: datetime,
    before: Level,
    after: Level,
    cause: str,
    cause_id: int | None = None,
    new_situations: Sequence[Situation] = (),
    closed: Sequence[Situation] = (),
) -> LevelChange:
    """The row that records a change of level, with what says its cause (R15)."""
    return LevelChange(
        establishment_id=establishment.id,
        at=at,
        from_colour=before.colour,
        from_step=before.step,
        to_colour=after.colour,
        to_step=after.step,
        open_situations=after.open_situations,
        offer_types=",".join(after.offer_types),
        red_blocked=after.red_blocked_by_diversity,
        cause=cause,
        cause_id=cause_id,
        new_situation_ids=[s.id for s in new_situations],
        closed_situation_ids=[s.id for s in closed],
    )


def same_level(before: Level, after: Level) -> bool:
    """No change to record: the same colour, step and diversity block (R5)."""
    return (before.colour, before.step, before.red_blocked_by_diversity) == (
        after.colour,
        after.step,
        after.red_blocked_by_diversity,
    )


def level_and_facts(
    situations: Sequence[Situation], settings: Settings
) -> tuple[Level, list[list[Any]]]:
    """The level the open `situations` give (R4), and the facts the establishment keeps."""
    after = compute_level((s.offer_type_codes for s in situations), thresholds(settings))
    return after, sorted([s.condition_id, s.offer_types] for s in situations)


def expire_stale(
    session: DbSession,
    establishment: Establishment,
    settings: Settings,
    situations: Sequence[Situation] | None = None,
    cause: str = "expiry",
) -> list[LevelChange]:
    """Close the situations no report confirmed within the TTL (R3).

    `situations`: the establishment's open situations, if the caller has them.
    """
    if situations is None:
        situations = open_situations(session, establishment.id)
    cutoff = ttl_cutoff(settings)
    stale = [s for s in situations if s.last_confirmed < cutoff]
    if not stale:
        return []
    for situation in stale:
        close_situation(situation, SituationState.EXPIRED, None, "")
    session.flush()
    change = recompute(
        session, establishment, settings, cause, None, (), still_open(situations), stale
    )
    return [change] if change else []


def expire_all(session: DbSession, settings: Settings) -> list[LevelChange]:
    changes: list[LevelChange] = []
    for establishment_id in session.scalars(select(Establishment.id)).all():
        changes += expire_stale(session, lock_establishment(session, establishment_id), settings)
    return changes


def recompute_all(session: DbSession, settings: Settings) -> list[LevelChange]:
    changes = expire_all(session, settings)
    for establishment_id in session.scalars(select(Establishment.id)).all():
        establishment = lock_establishment(session, establishment_id)
        change = recompute(session, establishment, settings, "recompute")
        changes += [change] if change else []
    return changes
