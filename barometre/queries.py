"""Read side: what the pages and the API show, in a constant number of queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from .extensions import DbSession
from .levels import Breakdown, Level, breakdown
from .models import Category, Condition, Establishment, LevelChange, OfferType, Situation
from .states import SituationState


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


def barometer(
    session: DbSession,
    slugs: Sequence[str] | None = None,
    changes_per_establishment: int = 0,
    with_situations: bool = True,
    known_referentiel: ReferentielKey | None = None,
) -> list[EstablishmentView]:
    """Every active establishment (or the given ones), with level and breakdown.

    A constant number of queries whatever the number of establishments.
    `with_situations=False` leaves `EstablishmentView.situations` empty and takes
    the breakdown from what each establishment keeps of its open situations
    (`Establishment.open_facts`, written with its level): lists of many
    establishments then read no situation at all. `known_referentiel` spares
    reading the référentiel's shape again when the caller has just read it.
    """
    query = select(Establishment).where(Establishment.active.is_(True)).order_by(Establishment.name)
    if slugs is not None:
        query = select(Establishment).where(Establishment.slug.in_(slugs))
    establishments = list(session.scalars(query))
    ids = [e.id for e in establishments]
    referentiel = known_referentiel or referentiel_key(session)
    categories = list(referentiel[0])
    category_of = dict(referentiel[1])
    situations: dict[int, list[Situation]] = {}
    if with_situations:
        situations = _open_situations(session, ids)
    changes = _recent_changes(session, ids, changes_per_establishment)
    views = []
    for establishment in establishments:
        mine = situations.get(establishment.id, [])
        if with_situations:
            facts = [(s.condition.category.code, s.offer_type_codes) for s in mine]
            counts = breakdown(facts, categories)
        else:
            # What the establishment keeps of its open situations: (condition id, offer types).
            kept = establishment.open_facts or ()
            counts = breakdown(
                (
                    (category_of[condition], types.split(",") if types else ())
                    for condition, types in kept
                ),
                categories,
            )
        views.append(
            EstablishmentView(
                establishment,
                establishment.level,
                counts,
                mine,
                changes.get(establishment.id, []),
            )
        )
    return views


ReferentielKey = tuple[tuple[str, ...], tuple[tuple[int, str], ...]]


def referentiel_key(session: DbSession) -> ReferentielKey:
    """Category codes in order, and the category of each condition, in one query."""
    rows = session.execute(
        select(Category.code, Condition.id)
        .outerjoin(Condition, Condition.category_id == Category.id)
        .order_by(Category.position, Category.id)
    )
    codes: list[str] = []
    category_of: dict[int, str] = {}
    for code, condition_id in rows:
        if not codes or codes[-1] != code:
            codes.append(code)
        if condition_id is not None:
            category_of[condition_id] = code
    return tuple(codes), tuple(sorted(category_of.items()))


# (kind, code, label_fr, label_nl, label_en) of every category, condition and offer type.
Wording = tuple[tuple[Any, ...], ...]


WORDING_COLUMN = {"fr": 2, "nl": 3, "en": 4}


def wording_labels(wording: Wording, kind: str, lang: str) -> dict[str, str]:
    """code -> label of one kind in `lang` (French where it is not translated)."""
    column = WORDING_COLUMN.get(lang, 2)
    return {row[1]: row[column] or row[2] for row in wording if row[0] == kind}


def _open_situations(session: DbSession, ids: list[int]) -> dict[int, list[Situation]]:
    if not ids:
        return {}
    query = (
        select(Situation)
        .where(Situation.establishment_id.in_(ids), Situation.status == SituationState.OPEN)
        .options(joinedload(Situation.condition).joinedload(Condition.category))
        .order_by(Situation.opened_at, Situation.id)
    )
    grouped: dict[int, list[Situation]] = defaultdict(list)
    for situation in session.scalars(query):
        grouped[situation.establishment_id].append(situation)
    return grouped


def _recent_changes(session: DbSession, ids: list[int], limit: int) -> dict[int, list[LevelChange]]:
    if not ids or limit <= 0:
        return {}
    if len(ids) == 1:
        # One establishment (its detail page): read the newest rows off the
        # (establishment, at) index, whatever the length of its history.
        latest = (
            select(LevelChange)
            .where(LevelChange.establishment_id == ids[0])
            .order_by(LevelChange.at.desc(), LevelChange.id.desc())
            .limit(limit)
        )
        return {ids[0]: list(session.scalars(latest))}
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
