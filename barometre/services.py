"""The services of the barometer core: record, review and close, recompute.

Every service takes the session explicitly, flushes but never commits: the
caller commits once, so that a report, the situations it opens, the level
change it causes and the work it schedules are one transaction. Each change of
an establishment's level goes through `recompute`, under a lock on the
establishment's row, so two concurrent reports cannot both compute from stale
facts.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Select, insert, null, select, text, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from . import clock
from .errors import Conflict, NotFound, ValidationFailed
from .extensions import DbSession
from .levels import Level, Thresholds, compute_level, ordered_types
from .models import (
    REVIEW_REJECTED,
    REVIEW_UNREVIEWED,
    REVIEW_VALIDATED,
    SITUATION_EXPIRED,
    SITUATION_OPEN,
    SITUATION_RESOLVED,
    SITUATION_WITHDRAWN,
    AuditEntry,
    Condition,
    Establishment,
    LevelChange,
    OfferType,
    Report,
    ReportCondition,
    Situation,
    User,
    report_condition,
    report_offer_type,
    situation_report,
)
from .routing import MAX_DB_ID
from .settings import Settings
from .text import printable, refusal

MAX_DESCRIPTION = 2000
MAX_COUNT = 100_000
# The cause of the level changes replayed from the committee's history (barometre.history_import).
CAUSE_IMPORT = "import"


@dataclass(frozen=True)
class ImpactedCondition:
    """One condition a report names, with the offer types it impacted (R1)."""

    code: str
    offer_types: Sequence[str]


@dataclass(frozen=True)
class ReportInput:
    establishment: str
    visit_date: date
    conditions: Sequence[ImpactedCondition]
    description: str = ""
    minutes_waited: int | None = None
    activity_cancelled: bool | None = None
    detainees_not_seen: int | None = None
    submission_id: str | None = None
    # The offer types when they were given once for every condition (the old shape,
    # see `uniform`): errors about them then go to `offer_types`, not to each condition.
    shared_offer_types: Sequence[str] | None = None

    @classmethod
    def uniform(
        cls,
        establishment: str,
        visit_date: date,
        conditions: Sequence[str],
        offer_types: Sequence[str],
        **optional: Any,
    ) -> ReportInput:
        """The old shape: condition codes and offer types every one of them impacted."""
        impacted = [ImpactedCondition(code, list(offer_types)) for code in conditions]
        return cls(establishment, visit_date, impacted, shared_offer_types=offer_types, **optional)

    @property
    def condition_codes(self) -> list[str]:
        return [c.code for c in self.conditions]

    @property
    def offer_types(self) -> tuple[str, ...]:
        """Every offer type named, over all conditions."""
        return ordered_types(t for c in self.conditions for t in c.offer_types)


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


def audit(
    session: DbSession,
    actor: User | None,
    action: str,
    target: Any = None,
    **detail: Any,
) -> None:
    """Record who did what; never report text."""
    session.add(
        AuditEntry(
            actor_id=actor.id if actor else None,
            action=action,
            target_type=type(target).__name__.lower() if target is not None else "",
            target_id=getattr(target, "id", None),
            detail=detail,
        )
    )


# --- validation ---------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedReport:
    establishment: Establishment
    conditions: list[Condition]
    offer_types: list[OfferType]
    # The offer type codes of each condition, by condition code.
    types_by_condition: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def links(self) -> list[ReportCondition]:
        return [
            ReportCondition(
                condition=c,
                condition_id=c.id,
                offer_types=",".join(self.types_by_condition[c.code]),
            )
            for c in self.conditions
        ]


def valid_submission_id(value: str) -> bool:
    """The 36-character form only (either case): it is stored in a 36-character column."""
    return canonical_submission_id(value) is not None


def canonical_submission_id(value: str | None) -> str | None:
    """The id in lower case, so that one UUID written in either case is one id; None if invalid."""
    if value is None or len(value) != 36:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def check_report(
    session: DbSession,
    data: ReportInput,
    settings: Settings,
    located: tuple[Establishment | None] | None = None,
    known: tuple[list[Condition], list[OfferType]] | None = None,
) -> ResolvedReport:
    """Check R1 against the database; raise every field error at once.

    `located`: the establishment the caller has already read for `data.establishment`;
    `known`: the conditions and offer types it has read for the codes of `data`
    (`_complete_pair`: None when a code was missing).
    """
    errors: dict[str, list[str]] = {}
    if located is not None:
        establishment = located[0]
    else:
        establishment = None
        if printable(data.establishment, multiline=False):
            establishment = session.scalar(
                select(Establishment).where(Establishment.slug == data.establishment)
            )
    if establishment is None or not establishment.active:
        errors["establishment"] = [_("Établissement inconnu.")]
    today = clock.today()
    if data.visit_date > today:
        errors["visit_date"] = [_("La date de visite ne peut pas être dans le futur.")]
    elif data.visit_date < today - timedelta(days=settings.max_visit_age_days):
        errors["visit_date"] = [
            _(
                "La date de visite ne peut pas dater de plus de %(days)d jours.",
                days=settings.max_visit_age_days,
            )
        ]
    codes = data.condition_codes
    named_types = [*(data.shared_offer_types or ()), *data.offer_types]
    if known is None:
        known = _known_pair(session, codes, named_types)
    conditions, offer_types = known
    if not codes:
        errors["conditions"] = [_("Choisissez au moins une condition non respectée.")]
    elif unknown := _unknown_codes(codes, conditions):
        errors["conditions"] = [_("Condition inconnue : %(codes)s.", codes=", ".join(unknown))]
    errors.update(_offer_type_errors(data, offer_types))
    errors.update(check_free_fields(data))
    if errors:
        raise ValidationFailed(errors)
    assert establishment is not None  # noqa: S101 - narrowed by the checks above
    by_condition: dict[str, tuple[str, ...]] = {}
    for condition in data.conditions:  # a condition named twice gets the types of both
        by_condition[condition.code] = ordered_types(
            [*by_condition.get(condition.code, ()), *condition.offer_types]
        )
    return ResolvedReport(establishment, conditions, offer_types, by_condition)


def _offer_type_errors(data: ReportInput, known: Iterable[OfferType]) -> dict[str, list[str]]:
    """At least one known offer type for each condition (R1), under the field that gave it."""
    if data.shared_offer_types is not None:
        groups = [("offer_types", data.shared_offer_types)]
    else:
        groups = [
            (f"conditions[{index}].offer_types", condition.offer_types)
            for index, condition in enumerate(data.conditions)
        ]
    errors: dict[str, list[str]] = {}
    for name, types in groups:
        if not types:
            errors[name] = [_("Choisissez au moins un type d'offre impacté.")]
        elif unknown := _unknown_codes(types, known):
            errors[name] = [_("Type d'offre inconnu : %(codes)s.", codes=", ".join(unknown))]
    return errors


def check_free_fields(data: ReportInput) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if len(data.description) > MAX_DESCRIPTION:
        errors["description"] = [
            _("La description ne peut dépasser %(max)d caractères.", max=MAX_DESCRIPTION)
        ]
    elif refused := refusal(data.description):
        errors["description"] = [refused]
    for name in ("minutes_waited", "detainees_not_seen"):
        value = getattr(data, name)
        if value is not None and not 0 <= value <= MAX_COUNT:
            errors[name] = [_("Indiquez un nombre entre 0 et %(max)d.", max=MAX_COUNT)]
    if data.submission_id is not None and not valid_submission_id(data.submission_id):
        errors["submission_id"] = [_("Identifiant de soumission invalide (UUID attendu).")]
    return errors


def _known_pair(
    session: DbSession, condition_codes: Iterable[str], offer_codes: Iterable[str]
) -> tuple[list[Condition], list[OfferType]]:
    """The named conditions and offer types; one statement when every code is known.

    The usual report names a few of each: their cross join is a handful of rows.
    When a code is missing from it (unknown, retired, or none sent on one side),
    each kind is read on its own so that the errors name exactly what is wrong.
    """
    wanted_conditions, wanted_offers = _wanted(condition_codes), _wanted(offer_codes)
    if wanted_conditions and wanted_offers:
        rows = session.execute(
            select(Condition, OfferType)
            .join(OfferType, true())
            .where(Condition.code.in_(wanted_conditions), OfferType.code.in_(wanted_offers))
        ).all()
        if complete := _complete_pair(rows, wanted_conditions, wanted_offers):
            return complete
    return _known(session, Condition, condition_codes), _known(session, OfferType, offer_codes)


def _complete_pair(
    rows: Iterable[Any], wanted_conditions: Sequence[str], wanted_offers: Sequence[str]
) -> tuple[list[Condition], list[OfferType]] | None:
    """The conditions and offer types of (condition, offer type) rows, if every wanted code
    is among them (and no condition is retired); None otherwise."""
    conditions = list({r[0].id: r[0] for r in rows if r[0] and r[0].retired_at is None}.values())
    offer_types = list({r[1].id: r[1] for r in rows if r[1]}.values())
    if len(conditions) == len(wanted_conditions) and len(offer_types) == len(wanted_offers):
        return conditions, offer_types
    return None


def _wanted(codes: Iterable[str]) -> list[str]:
    return sorted({c for c in codes if isinstance(c, str) and printable(c, multiline=False)})


def _known(session: DbSession, model: Any, codes: Iterable[str]) -> list[Any]:
    wanted = _wanted(codes)
    if not wanted:
        return []
    rows = session.scalars(select(model).where(model.code.in_(wanted))).all()
    return [r for r in rows if getattr(r, "retired_at", None) is None]


def _unknown_codes(codes: Iterable[str], found: Iterable[Any]) -> list[str]:
    """The unknown codes, cut short: the message echoes what was sent."""
    known = {row.code for row in found}
    return [c[:30] for c in sorted({str(c) for c in codes} - known)[:5]]


# --- recording ------------------------------------------------------------------------


def record_report(
    session: DbSession,
    data: ReportInput,
    author: User | None,
    settings: Settings,
    import_reference: str | None = None,
) -> Outcome:
    """Store one report (R1), attach it to situations (R2) and recompute (R4, R5).

    A `submission_id` its author already used returns that first report and
    stores nothing; the unique index on (author, id) also catches a concurrent
    repeat at flush. Another author's report under the same id is a new report.
    `import_reference`: a report of the committee's history, replayed by the
    import: it comes validated and its level change has the cause "import".
    """
    submission_id = canonical_submission_id(data.submission_id)
    found, existing_id, known = _locate_with_codes(session, data, submission_id, author)
    if existing_id is not None:
        return _unchanged(session.get_one(Report, existing_id), settings)
    renamed = found is None and submission_id is not None
    if renamed and (existing := _by_submission(session, submission_id or "", author)):
        return _unchanged(existing, settings)  # a repeat naming an establishment since renamed
    resolved = check_report(session, data, settings, located=(found,), known=known)
    establishment = resolved.establishment
    before = establishment.level
    situations = open_situations(session, establishment.id)
    changes = expire_stale(session, establishment, settings, situations)
    report = Report(
        establishment=establishment,
        establishment_id=establishment.id,
        author=author,
        service_id=author.service_id if author else None,
        visit_date=data.visit_date,
        description=data.description.strip(),
        minutes_waited=data.minutes_waited,
        activity_cancelled=data.activity_cancelled,
        detainees_not_seen=data.detainees_not_seen,
        submission_id=submission_id,
        review_state=REVIEW_VALIDATED if import_reference else REVIEW_UNREVIEWED,
        import_reference=import_reference,
    )
    session.add(report)
    situations = still_open(situations)
    links = resolved.links()
    new: list[Situation] = []
    supported: list[Situation] = []
    if counts(report, settings):
        new, supported = group_report(session, report, links, settings, situations)
    confirmed = _defer_updates(session, [s for s in supported if s not in new])
    try:
        session.flush()  # the report and its new situations
    except IntegrityError:
        # The submission_id is stored already (a repeat, or a concurrent request).
        session.rollback()
        existing = _by_submission(session, submission_id, author) if submission_id else None
        if existing is None:
            raise
        return _unchanged(existing, settings)
    insert_report_rows(session, report, links, resolved.offer_types, supported, confirmed)
    cause = CAUSE_IMPORT if import_reference else "report"
    change = recompute(session, establishment, settings, cause, report.id, new, [*situations, *new])
    changes += [change] if change else []
    outcome = Outcome(establishment, before, establishment.level, changes, report, True, new)
    return _with_lateness(outcome, report.visit_date, settings)


def too_late(visit_date: date, settings: Settings) -> bool:
    """A visit older than the TTL opens and confirms nothing (R3): the report is history only."""
    return visit_date < ttl_cutoff(settings)


def was_late(report: Report, settings: Settings) -> bool:
    """Whether the report's visit was too old to count when it was sent (for the pages)."""
    submitted = report.submitted_at or clock.now()
    sent = submitted.replace(tzinfo=UTC).astimezone(clock.zone()).date()
    return report.visit_date < sent - timedelta(days=settings.situation_ttl_days)


def late_note(report: Report, settings: Settings) -> str:
    """Why the report does not count when its visit was too old; empty otherwise."""
    return late_reason(settings) if was_late(report, settings) else ""


def late_reason(settings: Settings) -> str:
    return _(
        "La visite date de plus de %(days)d jours : le signalement est gardé dans "
        "l'historique, mais il n'ouvre ni ne confirme aucune situation et ne change pas "
        "le niveau.",
        days=settings.situation_ttl_days,
    )


def _with_lateness(outcome: Outcome, visit_date: date, settings: Settings) -> Outcome:
    if too_late(visit_date, settings):
        outcome.counted = False
        outcome.reason = late_reason(settings)
    return outcome


def _by_submission(session: DbSession, submission_id: str, author: User | None) -> Report | None:
    return session.scalar(select(Report).where(_same_submission(submission_id, author)))


def _same_submission(submission_id: str, author: User | None) -> ColumnElement[bool]:
    """The report its author already sent under this id (ids are scoped to their author)."""
    by_author = Report.author_id.is_(None) if author is None else Report.author_id == author.id
    return (Report.submission_id == submission_id) & by_author


def _unchanged(report: Report, settings: Settings) -> Outcome:
    level = report.establishment.level
    outcome = Outcome(report.establishment, level, level, report=report, created=False)
    return _with_lateness(outcome, report.visit_date, settings)


def counts(report: Report, settings: Settings) -> bool:
    """Whether a report supports situations (R11)."""
    if report.review_state == REVIEW_REJECTED:
        return False
    return not settings.reports_require_review or report.review_state == REVIEW_VALIDATED


def locate_for_report(
    session: DbSession, slug: str, submission_id: str | None, author: User | None = None
) -> tuple[Establishment | None, int | None]:
    """The establishment a report names, locked as lock_establishment does, and the id
    of the report `author` already stored under `submission_id` (a repeat), in one
    statement. `submission_id`: canonical (see canonical_submission_id)."""
    if not printable(slug, multiline=False):
        return None, None
    by_slug = Establishment.slug == slug
    query = select(Establishment, _repeat(submission_id, author))
    row = session.execute(_locking(session, query, by_slug)).first()
    return (row[0], row[1]) if row else (None, None)


def _locate_with_codes(
    session: DbSession, data: ReportInput, submission_id: str | None, author: User | None
) -> tuple[Establishment | None, int | None, tuple[list[Condition], list[OfferType]] | None]:
    """`locate_for_report`, and the conditions and offer types `data` names, in one statement.

    The establishment's row is outer-joined to the few named codes (their cross
    join, as `_known_pair` reads them); the lock is on the establishment only.
    The codes are None when one is missing: `check_report` then reads each kind
    on its own, so that its errors name exactly what is wrong.
    """
    conditions = _wanted(data.condition_codes)
    offers = _wanted([*(data.shared_offer_types or ()), *data.offer_types])
    if not (conditions and offers and printable(data.establishment, multiline=False)):
        return (*locate_for_report(session, data.establishment, submission_id, author), None)
    by_slug = Establishment.slug == data.establishment
    query = (
        select(Establishment, _repeat(submission_id, author), Condition, OfferType)
        .select_from(Establishment)
        .outerjoin(Condition, Condition.code.in_(conditions))
        .outerjoin(OfferType, OfferType.code.in_(offers))
    )
    rows = session.execute(_locking(session, query, by_slug)).all()
    if not rows:
        return None, None, None
    first = rows[0]
    return first[0], first[1], _complete_pair([r[2:] for r in rows], conditions, offers)


def _repeat(submission_id: str | None, author: User | None) -> Any:
    if not submission_id:
        return null()
    return select(Report.id).where(_same_submission(submission_id, author)).scalar_subquery()


def lock_establishment(session: DbSession, establishment_id: int) -> Establishment:
    """Serialise the changes of one establishment until the transaction ends.

    PostgreSQL: SELECT … FOR UPDATE. SQLite ignores FOR UPDATE; a no-op UPDATE
    takes its database write lock instead (waiting up to the busy timeout).
    """
    by_id = Establishment.id == establishment_id
    return session.execute(_locking(session, select(Establishment), by_id)).scalar_one()


def _locking(session: DbSession, query: Select[Any], where: ColumnElement[bool]) -> Select[Any]:
    """`query` of the establishment(s) matching `where`, locked until the transaction ends.

    PostgreSQL: FOR UPDATE. SQLite ignores it: a no-op UPDATE takes its write
    lock now instead (waiting up to the busy timeout).
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(Establishment)
            .where(where)
            .values(id=Establishment.id)
            .execution_options(synchronize_session=False)
        )
    return (
        query.where(where)
        .with_for_update(of=Establishment)
        .execution_options(populate_existing=True)
    )


def ttl_cutoff(settings: Settings) -> date:
    """Situations last confirmed before this date are stale (R3)."""
    return clock.today() - timedelta(days=settings.situation_ttl_days)


def attach_report(
    session: DbSession,
    report: Report,
    settings: Settings,
    situations: Sequence[Situation] | None = None,
) -> list[Situation]:
    """Group a stored report into (establishment, condition) situations (R2).

    A report whose visit is already older than the TTL is kept in history but
    opens nothing and confirms nothing. `situations`: the establishment's open
    situations when the caller has them (it holds the establishment's lock).
    Nothing is flushed here: the caller's next flush writes the links and the
    situations together.
    """
    opened, supported = group_report(session, report, report.condition_links, settings, situations)
    # From the report's side: appending to situation.reports would load every
    # report the situation ever had, a cost that grows with history.
    report.situations.extend(supported)
    return opened


def group_report(
    session: DbSession,
    report: Report,
    links: Sequence[ReportCondition],
    settings: Settings,
    situations: Sequence[Situation] | None = None,
) -> tuple[list[Situation], list[Situation]]:
    """The situations `report` opens and every one it supports, updated for it (R2).

    The report's side of the links is left to the caller: `attach_report` appends
    them, `record_report` writes them with the report's other rows in one statement.
    """
    if too_late(report.visit_date, settings):
        return [], []
    opened: list[Situation] = []
    supported: list[Situation] = []
    if situations is None:
        situations = open_situations(session, report.establishment_id)
    open_by_condition = {s.condition_id: s for s in situations}
    for link in links:
        condition = link.condition
        situation = open_by_condition.get(condition.id)
        if situation is None:
            situation = Situation(
                establishment_id=report.establishment_id,
                condition_id=condition.id,
                condition=condition,
                status=SITUATION_OPEN,
                first_visit=report.visit_date,
                last_confirmed=report.visit_date,
                report_count=0,
                offer_types="",
                opened_at=clock.now(),
            )
            session.add(situation)
            opened.append(situation)
        supported.append(situation)
        situation.report_count = (situation.report_count or 0) + 1
        situation.last_confirmed = max(situation.last_confirmed, report.visit_date)
        situation.first_visit = min(situation.first_visit, report.visit_date)
        situation.offer_types = ",".join(
            ordered_types([*situation.offer_type_codes, *link.offer_type_codes])
        )
    return opened, supported


def insert_report_rows(
    session: DbSession,
    report: Report,
    links: Sequence[ReportCondition],
    offer_types: Sequence[OfferType],
    situations: Sequence[Situation],
    confirmed: Sequence[dict[str, Any]] = (),
) -> None:
    """Write a flushed report's conditions, offer types and situation links, and the
    `confirmed` situations' new values (`_defer_updates`).

    The ORM would send one statement per table; on PostgreSQL these are one
    statement (`REPORT_ROWS`), a round trip instead of four, under the
    establishment's lock like the rest of the report. The report's collections
    are expired, so reading them afterwards loads what was written.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            REPORT_ROWS,
            {
                "report_id": report.id,
                "condition_ids": [link.condition_id for link in links],
                "condition_types": [link.offer_types for link in links],
                "offer_type_ids": [t.id for t in offer_types],
                "situation_ids": [s.id for s in situations],
                **{f"confirmed_{name}": [row[name] for row in confirmed] for name in CONFIRMED},
            },
        )
    else:
        for statement in _report_rows(report, links, offer_types, situations, confirmed):
            session.execute(statement)
    session.expire(report, ["condition_links", "conditions", "offer_types", "situations"])


# What a report changes in an open situation it confirms (see group_report).
CONFIRMED_COLUMNS = ("report_count", "last_confirmed", "first_visit", "offer_types")
CONFIRMED = ("id", *CONFIRMED_COLUMNS)

# One statement of one shape whatever the counts (arrays, so PostgreSQL and SQLAlchemy
# reuse its plan and its compilation): the report's rows in four tables.
REPORT_ROWS = text(
    """
WITH conditions AS (
    INSERT INTO report_condition (report_id, condition_id, offer_types)
    SELECT :report_id, c.id, c.types
    FROM unnest(CAST(:condition_ids AS integer[]), CAST(:condition_types AS varchar[]))
        AS c(id, types)
), offer_types AS (
    INSERT INTO report_offer_type (report_id, offer_type_id)
    SELECT :report_id, unnest(CAST(:offer_type_ids AS integer[]))
), links AS (
    INSERT INTO situation_report (situation_id, report_id)
    SELECT unnest(CAST(:situation_ids AS integer[])), :report_id
)
UPDATE situation
SET report_count = c.report_count, last_confirmed = c.last_confirmed,
    first_visit = c.first_visit, offer_types = c.offer_types
FROM unnest(
    CAST(:confirmed_id AS integer[]), CAST(:confirmed_report_count AS integer[]),
    CAST(:confirmed_last_confirmed AS date[]), CAST(:confirmed_first_visit AS date[]),
    CAST(:confirmed_offer_types AS varchar[])
) AS c(id, report_count, last_confirmed, first_visit, offer_types)
WHERE situation.id = c.id
"""
)


def _report_rows(
    report: Report,
    links: Sequence[ReportCondition],
    offer_types: Sequence[OfferType],
    situations: Sequence[Situation],
    confirmed: Sequence[dict[str, Any]],
) -> list[Any]:
    """`REPORT_ROWS` as one statement per table (the other databases)."""
    statements: list[Any] = [
        insert(report_condition).values(
            [
                {
                    "report_id": report.id,
                    "condition_id": link.condition_id,
                    "offer_types": link.offer_types,
                }
                for link in links
            ]
        ),
        insert(report_offer_type).values(
            [{"report_id": report.id, "offer_type_id": t.id} for t in offer_types]
        ),
    ]
    if situations:
        rows = [{"situation_id": s.id, "report_id": report.id} for s in situations]
        statements.append(insert(situation_report).values(rows))
    table = Situation.__table__
    for row in confirmed:
        values = {name: row[name] for name in CONFIRMED_COLUMNS}
        statements.append(update(table).where(table.c.id == row["id"]).values(values))
    return statements


def _defer_updates(session: DbSession, situations: Sequence[Situation]) -> list[dict[str, Any]]:
    """On PostgreSQL, the new values of these confirmed situations, taken from the ORM:
    its flush leaves them to `insert_report_rows`, which writes them with the report's
    other rows. Elsewhere nothing: the flush writes them."""
    if session.get_bind().dialect.name != "postgresql":
        return []
    rows = []
    for situation in situations:
        row = {name: getattr(situation, name) for name in CONFIRMED_COLUMNS}
        for name, value in row.items():
            set_committed_value(situation, name, value)  # written below, not by the flush
        rows.append({"id": situation.id, **row})
    return rows


def open_situations(session: DbSession, establishment_id: int) -> list[Situation]:
    query = select(Situation).where(
        Situation.establishment_id == establishment_id, Situation.status == SITUATION_OPEN
    )
    return list(session.scalars(query))


def still_open(situations: Iterable[Situation]) -> list[Situation]:
    return [s for s in situations if s.status == SITUATION_OPEN]


def recompute(
    session: DbSession,
    establishment: Establishment,
    settings: Settings,
    cause: str,
    cause_id: int | None = None,
    new_situations: Sequence[Situation] = (),
    situations: Sequence[Situation] | None = None,
) -> LevelChange | None:
    """Compute the level from the open situations; record a change if it moved (R5).

    `situations`: the establishment's open situations when the caller keeps them
    up to date under the establishment's lock; read from the database otherwise.
    """
    if situations is None:
        situations = open_situations(session, establishment.id)
    before = establishment.level
    after = compute_level((s.offer_type_codes for s in situations), thresholds(settings))
    facts = sorted([s.condition_id, s.offer_types] for s in situations)
    establishment.store_level(after, facts)
    if (before.colour, before.step, before.red_blocked_by_diversity) == (
        after.colour,
        after.step,
        after.red_blocked_by_diversity,
    ):
        return None
    if any(s.id is None for s in new_situations):
        session.flush()  # their ids go into the change
    at = clock.now()
    establishment.level_changed_at = at
    change = LevelChange(
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
    )
    session.add(change)
    session.flush()
    if cause != CAUSE_IMPORT:  # imported history is not news: nobody is alerted
        for hook in LEVEL_CHANGE_HOOKS:
            hook(session, change)
    return change


# Callbacks run in the same transaction as each recorded level change
# (the alerts package registers one that records notifications).
LevelChangeHook = Callable[[DbSession, LevelChange], None]
LEVEL_CHANGE_HOOKS: list[LevelChangeHook] = []


def _close(situation: Situation, status: str, actor: User | None, note: str) -> None:
    situation.status = status
    situation.closed_at = clock.now()
    situation.closed_by_id = actor.id if actor else None
    situation.close_note = note


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
        _close(situation, SITUATION_EXPIRED, None, "")
    session.flush()
    change = recompute(session, establishment, settings, cause, None, (), still_open(situations))
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


# --- review and closing ------------------------------------------------------------------


def _required_note(note: str | None, field_name: str) -> str:
    note = (note or "").strip()
    if not note:
        raise ValidationFailed({field_name: [_("Ce champ est obligatoire.")]})
    if len(note) > MAX_DESCRIPTION:
        raise ValidationFailed(
            {field_name: [_("%(max)d caractères au maximum.", max=MAX_DESCRIPTION)]}
        )
    if refused := refusal(note):
        raise ValidationFailed({field_name: [refused]})
    return note


def resolve_situation(
    session: DbSession, situation_id: int, actor: User, note: str | None, settings: Settings
) -> Outcome:
    """A coordinator closes a situation with a note (R3)."""
    note = _required_note(note, "note")
    situation = session.get(Situation, situation_id) if situation_id <= MAX_DB_ID else None
    if situation is None:
        raise NotFound(_("Situation inconnue."))
    establishment = lock_establishment(session, situation.establishment_id)
    session.refresh(situation)  # decided under the lock: a concurrent close has committed
    if situation.status != SITUATION_OPEN:
        raise Conflict(_("Cette situation n'est plus ouverte."))
    before = establishment.level
    change = close_resolved(session, establishment, situation, actor, note, settings)
    audit(session, actor, "situation.resolve", situation, establishment=establishment.slug)
    return Outcome(establishment, before, establishment.level, [change] if change else [])


def close_resolved(
    session: DbSession,
    establishment: Establishment,
    situation: Situation,
    actor: User | None,
    note: str,
    settings: Settings,
    cause: str = "resolution",
) -> LevelChange | None:
    """Close an open situation of the locked `establishment` as resolved, and recompute."""
    _close(situation, SITUATION_RESOLVED, actor, note)
    situation.closed_by_import = cause == CAUSE_IMPORT
    session.flush()
    return recompute(session, establishment, settings, cause, situation.id)


def reject_report(
    session: DbSession, report_id: int, actor: User, reason: str | None, settings: Settings
) -> Outcome:
    """The committee rejects a report: it stops counting (R11).

    Each situation it supported keeps the offer types of its other reports, and
    closes when no other report supports it. The level falls through a new level
    change; history is not rewritten.
    """
    reason = _required_note(reason, "reason")
    report = session.get(Report, report_id) if report_id <= MAX_DB_ID else None
    if report is None:
        raise NotFound(_("Signalement inconnu."))
    establishment = lock_establishment(session, report.establishment_id)
    session.refresh(report)  # decided under the lock: a concurrent review has committed
    if report.review_state == REVIEW_REJECTED:
        raise Conflict(_("Ce signalement est déjà rejeté."))
    before = establishment.level
    report.review_state = REVIEW_REJECTED
    report.review_reason = reason
    report.reviewed_by_id = actor.id
    report.reviewed_at = clock.now()
    for situation in report.situations:
        if situation.status == SITUATION_OPEN:
            _rebuild_situation(situation, settings, actor)
    session.flush()
    change = recompute(session, establishment, settings, "rejection", report.id)
    audit(session, actor, "report.reject", report, establishment=establishment.slug)
    return Outcome(establishment, before, establishment.level, [change] if change else [], report)


def _rebuild_situation(situation: Situation, settings: Settings, actor: User) -> None:
    supporting = [r for r in situation.reports if counts(r, settings)]
    if not supporting:
        _close(situation, SITUATION_WITHDRAWN, actor, "")
        return
    situation.report_count = len(supporting)
    situation.offer_types = ",".join(
        ordered_types(t for r in supporting for t in r.types_for(situation.condition_id))
    )
    situation.last_confirmed = max(r.visit_date for r in supporting)
    situation.first_visit = min(r.visit_date for r in supporting)


def validate_report(session: DbSession, report_id: int, actor: User, settings: Settings) -> Outcome:
    """The committee validates a report; with REPORTS_REQUIRE_REVIEW it starts counting."""
    report = session.get(Report, report_id)
    if report is None:
        raise NotFound(_("Signalement inconnu."))
    establishment = lock_establishment(session, report.establishment_id)
    session.refresh(report)  # decided under the lock: a concurrent review has committed
    if report.review_state != REVIEW_UNREVIEWED:
        raise Conflict(_("Ce signalement a déjà été revu."))
    before = establishment.level
    counted_before = counts(report, settings)
    report.review_state = REVIEW_VALIDATED
    report.reviewed_by_id = actor.id
    report.reviewed_at = clock.now()
    changes = expire_stale(session, establishment, settings)
    new: list[Situation] = []
    if counts(report, settings) and not counted_before:
        new = attach_report(session, report, settings)
    change = recompute(session, establishment, settings, "validation", report.id, new)
    changes += [change] if change else []
    audit(session, actor, "report.validate", report, establishment=establishment.slug)
    return Outcome(establishment, before, establishment.level, changes, report, True, new)
