"""Read side of an establishment's history: level changes, closed situations, causes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, literal, or_, select, union_all
from sqlalchemy.orm import joinedload

from . import clock
from .charts import Change, Span
from .extensions import DbSession
from .models import AuditEntry, Condition, Establishment, LevelChange, Report, Situation
from .states import SituationState

RECENTLY_CLOSED_DAYS = 90
FEED_SIZE = 50


def level_changes(session: DbSession, establishment_id: int) -> list[LevelChange]:
    """Every recorded change of one establishment, oldest first (R5)."""
    query = (
        select(LevelChange)
        .where(LevelChange.establishment_id == establishment_id)
        .order_by(LevelChange.at, LevelChange.id)
    )
    return list(session.scalars(query))


def first_record(session: DbSession, establishment_id: int) -> datetime | None:
    """When the barometer first knew of the establishment: the earliest of its creation (the
    console's audit entry, while kept), its first report, situation and level change
    (imported history included: it carries its records' dates). None: no record at all.
    One statement.
    """
    firsts = [
        select(func.min(LevelChange.at)).where(LevelChange.establishment_id == establishment_id),
        select(func.min(Situation.opened_at)).where(Situation.establishment_id == establishment_id),
        select(func.min(Report.submitted_at)).where(Report.establishment_id == establishment_id),
        select(func.min(AuditEntry.at)).where(
            AuditEntry.action == "establishment.create",
            AuditEntry.target_type == "establishment",
            AuditEntry.target_id == establishment_id,
        ),
    ]
    found = session.execute(select(*(query.scalar_subquery() for query in firsts))).one()
    known = [at for at in found if at is not None]
    return min(known) if known else None


def chart_changes(changes: Sequence[LevelChange]) -> list[Change]:
    return [Change(c.at, c.rank_before, c.rank_after) for c in changes]


def level_durations(changes: Sequence[LevelChange]) -> dict[int, int]:
    """Whole days each recorded level lasted: until the next change, or until now."""
    if not changes:
        return {}
    ends = [c.at for c in changes[1:]] + [clock.now()]
    return {
        c.id: max(0, (end - c.at) // timedelta(days=1))
        for c, end in zip(changes, ends, strict=True)
    }


def situation_spans(session: DbSession, establishment_id: int, since: datetime) -> list[Span]:
    """Every situation open at some point since `since`, for the per-offer-type strips.

    A situation's offer types are those it has now (the union of its reports'):
    the strips do not replay when each type joined.
    """
    query = select(Situation.opened_at, Situation.closed_at, Situation.offer_types).where(
        Situation.establishment_id == establishment_id,
        or_(Situation.closed_at.is_(None), Situation.closed_at >= since),
    )
    return [
        Span(opened, closed, tuple(t for t in (types or "").split(",") if t))
        for opened, closed, types in session.execute(query)
    ]


def spans_by_establishment(
    session: DbSession, establishment_ids: Sequence[int], since: datetime
) -> dict[int, list[Span]]:
    """`situation_spans` of many establishments in one statement (the digest's strips)."""
    if not establishment_ids:
        return {}
    query = select(
        Situation.establishment_id, Situation.opened_at, Situation.closed_at, Situation.offer_types
    ).where(
        Situation.establishment_id.in_(establishment_ids),
        or_(Situation.closed_at.is_(None), Situation.closed_at >= since),
    )
    found: dict[int, list[Span]] = {i: [] for i in establishment_ids}
    for establishment_id, opened, closed, types in session.execute(query):
        found[establishment_id].append(
            Span(opened, closed, tuple(t for t in (types or "").split(",") if t))
        )
    return found


def recently_closed(
    session: DbSession, establishment_id: int, days: int = RECENTLY_CLOSED_DAYS
) -> list[Situation]:
    since = clock.now() - timedelta(days=days)
    query = (
        select(Situation)
        .where(
            Situation.establishment_id == establishment_id,
            Situation.status != SituationState.OPEN,
            Situation.closed_at >= since,
        )
        .options(joinedload(Situation.condition).joinedload(Condition.category))
        .order_by(Situation.closed_at.desc(), Situation.id.desc())
    )
    return list(session.scalars(query))


def cause_situations(
    session: DbSession, changes: Sequence[LevelChange]
) -> dict[int, list[Situation]]:
    """The situations each change is about (R15): those its cause opened or closed (for a
    resolution recorded before the closed ones were kept, the one resolved). What
    `presentation.cause_words` takes."""
    wanted: dict[int, list[int]] = {}
    for change in changes:
        ids = [*(change.new_situation_ids or []), *(change.closed_situation_ids or [])]
        if change.cause == "resolution" and change.cause_id and not ids:
            ids.append(change.cause_id)
        if ids:
            wanted[change.id] = ids
    every_id = {i for ids in wanted.values() for i in ids}
    if not every_id:
        return {}
    query = (
        select(Situation)
        .where(Situation.id.in_(every_id))
        .options(joinedload(Situation.condition).joinedload(Condition.category))
    )
    found = {s.id: s for s in session.scalars(query)}
    return {cid: [found[i] for i in ids if i in found] for cid, ids in wanted.items()}


def levels_at(
    session: DbSession, when: datetime, establishment_ids: Sequence[int] | None = None
) -> dict[int, tuple[str, int]]:
    """(colour, step) of every establishment (or of those given) at `when`, for those with
    a recorded change: "a week ago" on `/` and in the digest.

    The level after the newest change up to `when`; with none before, the level
    before the first change after it. An establishment never changed is missing:
    its level now is its level then. One statement, whatever the number of them.
    """

    def newest(before: bool) -> Any:
        order = (
            (LevelChange.at.desc(), LevelChange.id.desc())
            if before
            else (LevelChange.at, LevelChange.id)
        )
        return select(
            LevelChange.establishment_id.label("establishment_id"),
            literal(0 if before else 1).label("priority"),
            (LevelChange.to_colour if before else LevelChange.from_colour).label("colour"),
            (LevelChange.to_step if before else LevelChange.from_step).label("step"),
            func.row_number()
            .over(partition_by=LevelChange.establishment_id, order_by=order)
            .label("rank"),
        ).where(LevelChange.at <= when if before else LevelChange.at > when, *only)

    only = (
        [] if establishment_ids is None else [LevelChange.establishment_id.in_(establishment_ids)]
    )
    both = union_all(newest(True), newest(False)).subquery()
    rows = session.execute(
        select(both.c.establishment_id, both.c.priority, both.c.colour, both.c.step)
        .where(both.c.rank == 1)
        .order_by(both.c.priority.desc())
    )
    # Ordered so that a change up to `when` (priority 0) overwrites one after it.
    return {establishment_id: (colour, step) for establishment_id, _p, colour, step in rows}


def feed_changes(
    session: DbSession, limit: int = FEED_SIZE, establishment_id: int | None = None
) -> list[LevelChange]:
    """The newest level changes of every active establishment, or of one."""
    query = (
        select(LevelChange)
        .join(LevelChange.establishment)
        .where(Establishment.active.is_(True))
        .options(joinedload(LevelChange.establishment))
        .order_by(LevelChange.at.desc(), LevelChange.id.desc())
        .limit(limit)
    )
    if establishment_id is not None:
        query = query.where(LevelChange.establishment_id == establishment_id)
    return list(session.scalars(query))
