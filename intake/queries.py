"""Read side of the intake pages: what the questionnaire shows, and what a report changed."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.orm import selectinload

from barometre import clock
from barometre.extensions import DbSession
from barometre.levels import Level, compute_level, ordered_types
from barometre.models import (
    Category,
    Condition,
    Establishment,
    LevelChange,
    OfferType,
    Report,
    ReportCondition,
    Situation,
    situation_report,
)
from barometre.services import ReportInput, check_free_fields, thresholds
from barometre.settings import Settings
from barometre.text import printable


@dataclass(frozen=True)
class Choices:
    establishments: list[Establishment]
    categories: list[tuple[Category, list[Condition]]]
    offer_types: list[OfferType]


def questionnaire_choices(session: DbSession) -> Choices:
    """Active establishments, and active conditions grouped under their category."""
    establishments = session.scalars(
        select(Establishment).where(Establishment.active.is_(True)).order_by(Establishment.name)
    )
    categories = session.scalars(
        select(Category).options(selectinload(Category.conditions)).order_by(Category.position)
    )
    offer_types = session.scalars(select(OfferType).order_by(OfferType.position))
    grouped = [(c, [x for x in c.conditions if x.active]) for c in categories]
    return Choices(list(establishments), [g for g in grouped if g[1]], list(offer_types))


@dataclass
class Confirmation:
    """What a report did to its establishment's level."""

    after: Level
    before: Level | None = None
    new_situations: list[Situation] = field(default_factory=list)
    confirmed_situations: list[Situation] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.before is not None


def _level_after(change: LevelChange) -> Level:
    types = ordered_types(t for t in change.offer_types.split(",") if t)
    return Level(
        change.to_colour, change.to_step, change.open_situations, types, change.red_blocked
    )


def _level_before(change: LevelChange, previous: LevelChange | None) -> Level:
    if previous is not None:
        return _level_after(previous)
    return Level(change.from_colour, change.from_step, 0, (), False)


def confirmation(session: DbSession, report: Report, settings: Settings) -> Confirmation:
    change = session.scalar(
        select(LevelChange).where(LevelChange.cause == "report", LevelChange.cause_id == report.id)
    )
    new: list[Situation] = []
    confirmed: list[Situation] = []
    for situation in sorted(report.situations, key=lambda s: s.condition.position):
        opened_by_report = min(r.id for r in situation.reports) == report.id
        (new if opened_by_report else confirmed).append(situation)
    if change is None:
        # The level did not move: it is the level of the situations open just after it.
        return Confirmation(_level_after_report(session, report, settings), None, new, confirmed)
    previous = session.scalar(
        select(LevelChange)
        .where(LevelChange.establishment_id == change.establishment_id, LevelChange.id < change.id)
        .order_by(LevelChange.id.desc())
        .limit(1)
    )
    return Confirmation(_level_after(change), _level_before(change, previous), new, confirmed)


def _level_after_report(session: DbSession, report: Report, settings: Settings) -> Level:
    """The level the situations open just after `report` give.

    Not the last recorded change before it: a report that opens or widens a situation
    without moving the level (rouge stays rouge, orange 5 stays orange 5) records no
    change, and the count it added would be missing. The situations are those some
    report up to this one supported, not closed before it was sent (those closed as
    stale when it was recorded are closed at its sending time, before its row).
    """
    supported = select(situation_report.c.situation_id).where(
        situation_report.c.report_id <= report.id
    )
    situations = session.scalars(
        select(Situation).where(
            Situation.establishment_id == report.establishment_id,
            Situation.id.in_(supported),
            or_(Situation.closed_at.is_(None), Situation.closed_at > report.submitted_at),
        )
    )
    return compute_level((s.offer_type_codes for s in situations), thresholds(settings))


def my_reports(session: DbSession, user_id: int, limit: int = 200) -> list[Report]:
    query = (
        select(Report)
        .where(Report.author_id == user_id)
        .options(
            selectinload(Report.condition_links).joinedload(ReportCondition.condition),
            selectinload(Report.establishment),
        )
        .order_by(Report.submitted_at.desc(), Report.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


# A report identical to one the same author sent this recently is the same report
# sent again (the back button re-renders the form with a new submission id).
REPEAT_WINDOW = timedelta(minutes=10)


def recent_repeat(session: DbSession, author_id: int, data: ReportInput) -> Report | None:
    # The fields of the report itself are compared by the database, so that only
    # true candidates (almost always none) are loaded with their codes. Values the
    # core refuses (a forbidden character, a number out of range) were never stored:
    # they are not compared, the core refuses them next.
    if check_free_fields(data) or not printable(data.establishment, multiline=False):
        return None
    parameters = {
        "author_id": author_id,
        "since": clock.now() - REPEAT_WINDOW,
        "visit_date": data.visit_date,
        "slug": data.establishment,
        "description": data.description.strip(),
        "minutes_waited": data.minutes_waited,
        "activity_cancelled": data.activity_cancelled,
        "detainees_not_seen": data.detainees_not_seen,
    }
    # The ids first, without the ORM (almost always none); then the few candidates whole.
    found = session.connection().execute(_repeat_candidates(), parameters).scalars().all()
    if not found:
        return None
    candidates = select(Report).where(Report.id.in_(found)).order_by(Report.id)
    loaded = candidates.options(
        selectinload(Report.condition_links).joinedload(ReportCondition.condition)
    )
    for report in session.scalars(loaded):
        if _same(report, data):
            return report
    return None


@functools.cache
def _repeat_candidates() -> Select[int]:
    """Built once: every questionnaire POST runs it."""
    return (
        select(Report.id)
        .join(Establishment, Report.establishment_id == Establishment.id)
        .where(
            Report.author_id == bindparam("author_id"),
            Report.submitted_at >= bindparam("since"),
            Report.visit_date == bindparam("visit_date"),
            Establishment.slug == bindparam("slug"),
            Report.description == bindparam("description"),
            Report.minutes_waited.is_not_distinct_from(bindparam("minutes_waited")),
            Report.activity_cancelled.is_not_distinct_from(bindparam("activity_cancelled")),
            Report.detainees_not_seen.is_not_distinct_from(bindparam("detainees_not_seen")),
        )
        .order_by(Report.id)
    )


def _same(report: Report, data: ReportInput) -> bool:
    return (
        report.establishment.slug == data.establishment
        and _types_by_code(report) == _wanted_types(data)
        and report.description == data.description.strip()
        and report.minutes_waited == data.minutes_waited
        and report.activity_cancelled == data.activity_cancelled
        and report.detainees_not_seen == data.detainees_not_seen
    )


def _types_by_code(report: Report) -> dict[str, set[str]]:
    return {link.condition.code: set(link.offer_type_codes) for link in report.condition_links}


def _wanted_types(data: ReportInput) -> dict[str, set[str]]:
    wanted: dict[str, set[str]] = {}
    for condition in data.conditions:
        wanted.setdefault(condition.code, set()).update(condition.offer_types)
    return wanted
