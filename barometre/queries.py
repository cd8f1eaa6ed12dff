"""Read side: what the pages and the API show, in a constant number of queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from .extensions import DbSession
from .levels import Breakdown, Level, breakdown
from .models import (
    SITUATION_OPEN,
    Category,
    Condition,
    Establishment,
    LevelChange,
    OfferType,
    Situation,
)


@dataclass
class EstablishmentView:
    establishment: Establishment
    level: Level
    breakdown: Breakdown
    situations: list[Situation] = field(default_factory=list)
    changes: list[LevelChange] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return self.establishment.slug


# (category code, offer types) of one open situation: what the breakdown needs.
Facts = list[tuple[str, Sequence[str]]]


def category_codes(session: DbSession) -> list[str]:
    return list(session.scalars(select(Category.code).order_by(Category.position)))


def barometer(
    session: DbSession,
    slugs: Sequence[str] | None = None,
    changes_per_establishment: int = 0,
    with_situations: bool = True,
) -> list[EstablishmentView]:
    """Every active establishment (or the given ones), with level and breakdown.

    A constant number of queries whatever the number of establishments.
    `with_situations=False` leaves `EstablishmentView.situations` empty and
    reads only what the breakdown needs, as plain rows: lists of many
    establishments do not pay for loading every open situation as an object.
    """
    query = select(Establishment).where(Establishment.active.is_(True)).order_by(Establishment.name)
    if slugs is not None:
        query = select(Establishment).where(Establishment.slug.in_(slugs))
    establishments = list(session.scalars(query))
    ids = [e.id for e in establishments]
    categories = category_codes(session)
    facts: dict[int, Facts]
    if with_situations:
        situations = _open_situations(session, ids)
        facts = {
            key: [(s.condition.category.code, s.offer_type_codes) for s in mine]
            for key, mine in situations.items()
        }
    else:
        situations, facts = {}, _open_facts(session, ids)
    changes = _recent_changes(session, ids, changes_per_establishment)
    return [
        EstablishmentView(
            establishment,
            establishment.level,
            breakdown(facts.get(establishment.id, ()), categories),
            situations.get(establishment.id, []),
            changes.get(establishment.id, []),
        )
        for establishment in establishments
    ]


def _open_situations(session: DbSession, ids: list[int]) -> dict[int, list[Situation]]:
    if not ids:
        return {}
    query = (
        select(Situation)
        .where(Situation.establishment_id.in_(ids), Situation.status == SITUATION_OPEN)
        .options(joinedload(Situation.condition).joinedload(Condition.category))
        .order_by(Situation.opened_at, Situation.id)
    )
    grouped: dict[int, list[Situation]] = defaultdict(list)
    for situation in session.scalars(query):
        grouped[situation.establishment_id].append(situation)
    return grouped


def _open_facts(session: DbSession, ids: list[int]) -> dict[int, Facts]:
    """(category code, offer types) of each open situation, per establishment."""
    if not ids:
        return {}
    query = (
        select(Situation.establishment_id, Category.code, Situation.offer_types)
        .join(Condition, Condition.id == Situation.condition_id)
        .join(Category, Category.id == Condition.category_id)
        .where(Situation.establishment_id.in_(ids), Situation.status == SITUATION_OPEN)
    )
    grouped: dict[int, Facts] = defaultdict(list)
    for establishment_id, category, offer_types in session.execute(query):
        grouped[establishment_id].append((category, [t for t in offer_types.split(",") if t]))
    return grouped


def _recent_changes(session: DbSession, ids: list[int], limit: int) -> dict[int, list[LevelChange]]:
    if not ids or limit <= 0:
        return {}
    ranked = (
        select(
            LevelChange.id,
            func.row_number()
            .over(partition_by=LevelChange.establishment_id, order_by=LevelChange.at.desc())
            .label("rank"),
        )
        .where(LevelChange.establishment_id.in_(ids))
        .subquery()
    )
    query = (
        select(LevelChange)
        .join(ranked, ranked.c.id == LevelChange.id)
        .where(ranked.c.rank <= limit)
        .order_by(LevelChange.at.desc(), LevelChange.id.desc())
    )
    grouped: dict[int, list[LevelChange]] = defaultdict(list)
    for change in session.scalars(query):
        grouped[change.establishment_id].append(change)
    return grouped


def referentiel(session: DbSession) -> tuple[list[Category], list[OfferType]]:
    categories = list(
        session.scalars(
            select(Category).options(joinedload(Category.conditions)).order_by(Category.position)
        ).unique()
    )
    offer_types = list(session.scalars(select(OfferType).order_by(OfferType.position)))
    return categories, offer_types


def iso(value: datetime | None) -> str | None:
    return value.isoformat() + "Z" if value else None
