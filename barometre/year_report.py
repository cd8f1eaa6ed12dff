"""The year told (issue 27): what the level history says about a period, in figures.

For a period of local days [first, last] (the product's time zone, Europe/Brussels):
per establishment the days at each level and, per offer type, at each step (R13),
the days in red and the number of level changes; the conditions most often
broken; reports per month; how long situations took to close, by cause.

One path for every figure: `year_report` computes them, the report's pages, its
CSV/XLSX tables and `/api/v1/report` only show them. No report's text, author or
service is ever read here: every figure is public.

Days are local days. A day counts 1 whatever its length (23 or 25 hours on the
days the clocks change), a part of a day its share of that day's real length
(`local_days`): the days of a period always sum to its number of calendar days.
An establishment's days are counted from its first record (`history.first_record`),
or the period's start if later; before it the barometer knows nothing: « sans
données », never vert. The period ends at the end of its last day, or now if earlier.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from . import clock, history
from .charts import RANK_MAX, Change, Span, level_stretches, offer_type_stretches
from .extensions import DbSession
from .levels import MAX_ORANGE_STEP, OFFER_TYPES, level_at, rank_of
from .models import Condition, Establishment, LevelChange, Report, Situation
from .states import ReviewState, SituationState

MAX_YEARS = 5
FIRST_YEAR, LAST_YEAR = 2000, 2100
RANKS = tuple(range(RANK_MAX + 1))  # vert 0, orange 1..5, rouge 6
STEPS = tuple(range(MAX_ORANGE_STEP + 1))  # an offer type alone: vert 0, orange 1..5
# The causes a situation closes by, in the order the report gives them.
CLOSE_CAUSES = (SituationState.RESOLVED, SituationState.EXPIRED, SituationState.WITHDRAWN)


# --- local days ------------------------------------------------------------------------


def midnight(day: date, zone: ZoneInfo) -> datetime:
    """The start of a local day, as naive UTC (as stored)."""
    local = datetime(day.year, day.month, day.day, tzinfo=zone)
    return local.astimezone(UTC).replace(tzinfo=None)


def _local_date(moment: datetime, zone: ZoneInfo) -> date:
    return moment.replace(tzinfo=UTC).astimezone(zone).date()


def local_days(start: datetime, end: datetime, zone: ZoneInfo) -> float:
    """The length of [start, end) (naive UTC) in local days: each whole local day counts
    1 (23, 24 or 25 hours), a part of a day its share of that day's real length."""
    if end <= start:
        return 0.0
    first, last = _local_date(start, zone), _local_date(end, zone)

    def length(day: date) -> timedelta:
        return midnight(day + timedelta(days=1), zone) - midnight(day, zone)

    if first == last:
        return (end - start) / length(first)
    head = (midnight(first + timedelta(days=1), zone) - start) / length(first)
    tail = (end - midnight(last, zone)) / length(last)
    return head + (last - first).days - 1 + tail


# --- the period ------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Local days `first` to `last`, both included."""

    first: date
    last: date

    def bounds(self, zone: ZoneInfo, now: datetime) -> tuple[datetime, datetime]:
        """[start, end) in naive UTC: the first day's midnight to the end of the last day,
        or now if earlier (never before the start)."""
        start = midnight(self.first, zone)
        end = min(midnight(self.last + timedelta(days=1), zone), now)
        return start, max(start, end)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def default_period(today: date) -> Period:
    """The current calendar year up to today: a report the committee can open any day
    (the previous year: `?du=` and `?au=`)."""
    return Period(date(today.year, 1, 1), today)


class PeriodError(ValueError):
    """A period the report refuses; its message is the French sentence shown."""


def parse_period(
    first: str | None, last: str | None, today: date, names: tuple[str, str] = ("du", "au")
) -> Period:
    """`du` and `au` (YYYY-MM-DD; the API's `from` and `to`: `names`); either None: the
    default's (a form's empty field is None). Years from 2000 to 2100 (the time zone's
    rules hold there). Raises `PeriodError`, its sentence in the reader's language."""

    default = default_period(today)

    def parsed(value: str | None, fallback: date, name: str) -> date:
        if value is None:
            return fallback
        try:
            day = date.fromisoformat(value.strip()) if len(value) == 10 else None
        except ValueError:
            day = None
        if day is None or not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise PeriodError(
                _(
                    "Date « %(field)s » invalide : écrivez-la AAAA-MM-JJ, "
                    "entre %(first)d et %(last)d.",
                    field=name,
                    first=FIRST_YEAR,
                    last=LAST_YEAR,
                )
            )
        return day

    period = Period(parsed(first, default.first, names[0]), parsed(last, default.last, names[1]))
    if period.last < period.first:
        raise PeriodError(
            _("La date « %(last)s » précède la date « %(first)s ».", first=names[0], last=names[1])
        )
    if period.days > MAX_YEARS * 366:
        raise PeriodError(_("Période trop longue : %(years)d ans au plus.", years=MAX_YEARS))
    return period


# --- figures ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Stretch:
    """A stretch of time at one level within the period, in local days."""

    rank: int | None  # None: before the establishment's first record (« sans données »)
    start: datetime
    end: datetime
    days: float


@dataclass(frozen=True)
class EstablishmentYear:
    establishment: Establishment
    stretches: tuple[Stretch, ...]  # in time order, tiling the period (the bar)
    days: dict[int, float]  # rank -> days (every rank)
    offer_types: dict[str, dict[int, float]]  # offer type -> step -> days (every step)
    changes: int
    period_days: float

    @property
    def no_data(self) -> float:
        return sum(s.days for s in self.stretches if s.rank is None)

    @property
    def red(self) -> float:
        return self.days[RANK_MAX]


@dataclass(frozen=True)
class ConditionYear:
    condition: Condition
    count: int
    median_days: float
    longest_days: float


@dataclass(frozen=True)
class CauseYear:
    cause: str
    count: int
    median_days: float | None


@dataclass(frozen=True)
class YearReport:
    period: Period
    start: datetime
    end: datetime
    establishments: tuple[EstablishmentYear, ...]
    conditions: dict[str, list[ConditionYear]]  # category code -> conditions, most first
    reports_per_month: dict[date, int]  # the first of each month of the period -> count
    causes: tuple[CauseYear, ...]


def days_per_level(
    changes: Sequence[Change],
    current_rank: int,
    start: datetime,
    end: datetime,
    first_record: datetime | None,
    zone: ZoneInfo,
) -> tuple[Stretch, ...]:
    """The one computation of days per level: the level's stretches over [start, end),
    each measured in local days, a « sans données » stretch first while the barometer
    knew nothing of the establishment. Sum them per rank with `totals`."""
    known = end if first_record is None else min(max(first_record, start), end)
    found: list[Stretch] = []
    if known > start:
        found.append(Stretch(None, start, known, local_days(start, known, zone)))
    if known < end:
        found += [
            Stretch(rank, since, until, local_days(since, until, zone))
            for since, until, rank in level_stretches(changes, current_rank, known, end)
            if until > since
        ]
    return tuple(found)


def totals(stretches: Sequence[Stretch], keys: Sequence[int]) -> dict[int, float]:
    days = dict.fromkeys(keys, 0.0)
    for stretch in stretches:
        if stretch.rank is not None:
            days[stretch.rank] = days.get(stretch.rank, 0.0) + stretch.days
    return days


def offer_type_days(
    spans: Sequence[Span], start: datetime, end: datetime, zone: ZoneInfo
) -> dict[str, dict[int, float]]:
    """Days at each step of every offer type over [start, end): what its open situations
    alone give (R13), as the chart's strips (`charts.offer_type_stretches`)."""
    found: dict[str, dict[int, float]] = {}
    for offer_type in OFFER_TYPES:
        days = dict.fromkeys(STEPS, 0.0)
        if end > start:
            for since, until, count in offer_type_stretches(spans, offer_type, start, end):
                days[min(count, MAX_ORANGE_STEP)] += local_days(since, until, zone)
        found[offer_type] = days
    return found


def establishment_year(
    establishment: Establishment,
    changes: Sequence[LevelChange],
    spans: Sequence[Span],
    first_record: datetime | None,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
) -> EstablishmentYear:
    steps = history.chart_changes(changes)
    current = rank_of(establishment.colour, establishment.step)
    stretches = days_per_level(steps, current, start, end, first_record, zone)
    known = next((s.start for s in stretches if s.rank is not None), end)
    return EstablishmentYear(
        establishment=establishment,
        stretches=stretches,
        days=totals(stretches, RANKS),
        offer_types=offer_type_days(spans, known, end, zone),
        changes=sum(1 for c in changes if start <= c.at < end),
        period_days=local_days(start, end, zone),
    )


def condition_ranking(
    situations: Sequence[Situation], end: datetime, zone: ZoneInfo
) -> dict[str, list[ConditionYear]]:
    """Situations opened in the period per condition, per category: the most first.

    Time open: until closed (even after the period), or until the period's end for one
    still open. Situations withdrawn (every report rejected) broke nothing and are left
    out."""
    by_condition: dict[int, list[float]] = defaultdict(list)
    conditions: dict[int, Condition] = {}
    for situation in situations:
        if situation.status == SituationState.WITHDRAWN:
            continue
        until = situation.closed_at or end
        by_condition[situation.condition_id].append(local_days(situation.opened_at, until, zone))
        conditions[situation.condition_id] = situation.condition
    ranked = sorted(
        (
            ConditionYear(conditions[i], len(days), median(days), max(days))
            for i, days in by_condition.items()
        ),
        key=lambda c: (
            c.condition.category.position,
            c.condition.category.code,
            -c.count,
            c.condition.position,
            c.condition.code,
        ),
    )
    found: dict[str, list[ConditionYear]] = {}
    for row in ranked:
        found.setdefault(row.condition.category.code, []).append(row)
    return found


def months(period: Period) -> list[date]:
    month = date(period.first.year, period.first.month, 1)
    found = []
    while month <= period.last:
        found.append(month)
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return found


def reports_per_month(visits: Sequence[date], period: Period) -> dict[date, int]:
    counts = dict.fromkeys(months(period), 0)
    for visit in visits:
        if period.first <= visit <= period.last:
            counts[date(visit.year, visit.month, 1)] += 1
    return counts


def time_to_close(situations: Sequence[Situation], zone: ZoneInfo) -> tuple[CauseYear, ...]:
    """Situations closed in the period, per cause: how many, the median days open."""
    by_cause: dict[str, list[float]] = defaultdict(list)
    for situation in situations:
        if situation.closed_at is not None:
            by_cause[str(situation.status)].append(
                local_days(situation.opened_at, situation.closed_at, zone)
            )
    causes = [*CLOSE_CAUSES, *sorted(set(by_cause) - set(CLOSE_CAUSES))]
    return tuple(
        CauseYear(cause, len(by_cause[cause]), median(by_cause[cause]) if by_cause[cause] else None)
        for cause in causes
    )


# --- from the database -----------------------------------------------------------------


def year_report(
    session: DbSession, period: Period, public: bool, zone: ZoneInfo | None = None
) -> YearReport:
    """Every figure of the period. `public`: active establishments only."""
    zone = zone or clock.zone()
    start, end = period.bounds(zone, clock.now())
    query = select(Establishment).order_by(Establishment.name, Establishment.id)
    if public:
        query = query.where(Establishment.active.is_(True))
    establishments = list(session.scalars(query))
    ids = [e.id for e in establishments]
    changes: dict[int, list[LevelChange]] = {i: [] for i in ids}
    if ids:
        for change in session.scalars(
            select(LevelChange)
            .where(LevelChange.establishment_id.in_(ids), LevelChange.at < end)
            .order_by(LevelChange.at, LevelChange.id)
        ):
            changes[change.establishment_id].append(change)
    spans = history.spans_by_establishment(session, ids, start)
    years = tuple(
        establishment_year(
            e,
            changes[e.id],
            spans[e.id],
            history.first_record(session, e.id),
            start,
            end,
            zone,
        )
        for e in establishments
    )
    situation = (
        select(Situation)
        .where(Situation.establishment_id.in_(ids))
        .options(joinedload(Situation.condition).joinedload(Condition.category))
    )
    opened = list(
        session.scalars(situation.where(Situation.opened_at >= start, Situation.opened_at < end))
    )
    closed = list(
        session.scalars(situation.where(Situation.closed_at >= start, Situation.closed_at < end))
    )
    visits = list(
        session.scalars(
            select(Report.visit_date).where(
                Report.establishment_id.in_(ids),
                Report.review_state != ReviewState.REJECTED,
                Report.visit_date >= period.first,
                Report.visit_date <= period.last,
            )
        )
    )
    return YearReport(
        period=period,
        start=start,
        end=end,
        establishments=years,
        conditions=condition_ranking(opened, end, zone),
        reports_per_month=reports_per_month(visits, period),
        causes=time_to_close(closed, zone),
    )


def whole_days(days: float | None) -> int | None:
    """Days as shown: to the nearest whole day, a half day up (0.5 -> 1, 65.5 -> 66)."""
    return None if days is None else math.floor(days + 0.5)


def report_json(report: YearReport) -> dict[str, Any]:
    """The report's figures for `/api/v1/report`: codes, not words; days with 3 decimals."""

    def level_key(rank: int) -> str:
        colour, step = level_at(rank)
        return f"orange_{step}" if colour == "orange" else colour

    def days(value: float | None) -> float | None:
        return None if value is None else round(value, 3)

    return {
        "from": report.period.first.isoformat(),
        "to": report.period.last.isoformat(),
        "establishments": [
            {
                "slug": year.establishment.slug,
                "name": year.establishment.name,
                "no_data_days": days(year.no_data),
                "days": {level_key(r): days(year.days[r]) for r in RANKS},
                "red_days": days(year.red),
                "changes": year.changes,
                "offer_types": {
                    offer_type: {str(s): days(d) for s, d in steps.items()}
                    for offer_type, steps in year.offer_types.items()
                },
            }
            for year in report.establishments
        ],
        "conditions": [
            {
                "category": category,
                "condition": row.condition.code,
                "situations": row.count,
                "median_days": days(row.median_days),
                "longest_days": days(row.longest_days),
            }
            for category, rows in report.conditions.items()
            for row in rows
        ],
        "reports_per_month": {
            month.isoformat()[:7]: count for month, count in report.reports_per_month.items()
        },
        "time_to_close": [
            {"cause": c.cause, "situations": c.count, "median_days": days(c.median_days)}
            for c in report.causes
        ],
    }
