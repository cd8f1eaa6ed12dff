"""Situations: the establishment's lock, the open ones, the time-to-live, closing one."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, Update, bindparam, select, update

from . import clock
from .extensions import DbSession
from .models import Establishment, Situation, User
from .settings import Settings
from .states import SituationState


def lock_establishment(session: DbSession, establishment_id: int) -> Establishment:
    """Serialise the changes of one establishment until the transaction ends (see `locking`)."""
    return session.scalars(_lock(), {"establishment_id": establishment_id}).one()


@functools.cache
def _lock() -> Update:
    """`lock_establishment`'s statement, built once."""
    return locking(Establishment.id == bindparam("establishment_id"))


def locking(where: ColumnElement[bool], *columns: Any) -> Update:
    """An UPDATE of the establishment(s) matching `where` that changes nothing, returning
    them as they are now (and `columns`): it locks them until the transaction ends.

    The same statement takes the lock on both databases: PostgreSQL locks the rows it
    updates (the lock a row referring to them, a report, does not wait for); SQLite,
    which has no row locks, takes its database write lock (waiting up to the busy
    timeout) before this transaction reads anything its change depends on. Read what
    the change depends on in the statements after it: on PostgreSQL a statement sees
    what was committed when it started, so rows joined to this one would miss what
    the previous holder of the lock wrote. The revision is kept: the lists cached
    under it stay valid.
    """
    return (
        update(Establishment)
        .where(where)
        .values(revision=Establishment.revision)
        .returning(Establishment, *columns)
        .execution_options(populate_existing=True, synchronize_session=False)
    )


def ttl_cutoff(settings: Settings) -> date:
    """Situations last confirmed before this date are stale (R3)."""
    return clock.today() - timedelta(days=settings.situation_ttl_days)


def open_situations(session: DbSession, establishment_id: int) -> list[Situation]:
    return list(session.scalars(_open_situations(), {"establishment_id": establishment_id}))


@functools.cache
def _open_situations() -> Select[Situation]:
    """Built once: every report runs it. In the order of their ids, not the table's: a
    level change names the situations it closed in this order, the same on every database."""
    return (
        select(Situation)
        .where(
            Situation.establishment_id == bindparam("establishment_id"),
            Situation.status == SituationState.OPEN,
        )
        .order_by(Situation.id)
    )


def still_open(situations: Iterable[Situation]) -> list[Situation]:
    return [s for s in situations if s.status == SituationState.OPEN]


def close_situation(situation: Situation, status: str, actor: User | None, note: str) -> None:
    situation.status = status
    situation.closed_at = clock.now()
    situation.closed_by_id = actor.id if actor else None
    situation.close_note = note
