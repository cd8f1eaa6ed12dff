"""Situations: the establishment's lock, the open ones, the time-to-live, closing one."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, select, update

from . import clock
from .extensions import DbSession
from .models import Establishment, Situation, User
from .settings import Settings
from .states import SituationState


def lock_establishment(session: DbSession, establishment_id: int) -> Establishment:
    """Serialise the changes of one establishment until the transaction ends.

    PostgreSQL: SELECT … FOR UPDATE. SQLite ignores FOR UPDATE; a no-op UPDATE
    takes its database write lock instead (waiting up to the busy timeout).
    """
    by_id = Establishment.id == establishment_id
    return session.execute(locking(session, select(Establishment), by_id)).scalar_one()


def locking(session: DbSession, query: Select[Any], where: ColumnElement[bool]) -> Select[Any]:
    """`query` of the establishment(s) matching `where`, locked until the transaction ends.

    PostgreSQL: FOR UPDATE. SQLite ignores it: a no-op UPDATE takes its write
    lock now instead (waiting up to the busy timeout).
    """
    lock_on_sqlite(session, where)
    return locked(query.where(where))


def locked(query: Select[Any]) -> Select[Any]:
    """`query` of establishments, FOR UPDATE of them (see `locking`; built once by some)."""
    return query.with_for_update(of=Establishment).execution_options(populate_existing=True)


def lock_on_sqlite(session: DbSession, where: ColumnElement[bool]) -> None:
    """SQLite ignores FOR UPDATE: a no-op UPDATE of the rows takes its write lock now."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(Establishment)
            .where(where)
            .values(id=Establishment.id)
            .execution_options(synchronize_session=False)
        )


def ttl_cutoff(settings: Settings) -> date:
    """Situations last confirmed before this date are stale (R3)."""
    return clock.today() - timedelta(days=settings.situation_ttl_days)


def open_situations(session: DbSession, establishment_id: int) -> list[Situation]:
    return list(session.scalars(_open_situations(), {"establishment_id": establishment_id}))


@functools.cache
def _open_situations() -> Select[Situation]:
    """Built once: every report runs it."""
    return select(Situation).where(
        Situation.establishment_id == bindparam("establishment_id"),
        Situation.status == SituationState.OPEN,
    )


def still_open(situations: Iterable[Situation]) -> list[Situation]:
    return [s for s in situations if s.status == SituationState.OPEN]


def close_situation(situation: Situation, status: str, actor: User | None, note: str) -> None:
    situation.status = status
    situation.closed_at = clock.now()
    situation.closed_by_id = actor.id if actor else None
    situation.close_note = note
