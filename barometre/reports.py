"""Recording a report: its establishment locked, its rows, the situations it opens or
confirms (R2), the level it moves (R4, R5): one way, on both databases, for every writer."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, date, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import (
    ColumnElement,
    Executable,
    Insert,
    Table,
    Update,
    bindparam,
    insert,
    null,
    select,
)
from sqlalchemy.exc import IntegrityError

from . import clock
from .extensions import DbSession
from .levels import ordered_types
from .models import (
    Establishment,
    Report,
    ReportCondition,
    Situation,
    User,
    report_condition,
    report_offer_type,
    situation_report,
)
from .recompute import CAUSE_IMPORT, Outcome, expire_stale, recompute
from .settings import Settings
from .situations import locking, open_situations, still_open, ttl_cutoff
from .states import ReviewState
from .text import printable
from .validation import ReportInput, ResolvedReport, canonical_submission_id, check_report


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
    repeat. Another author's report under the same id is a new report.
    `import_reference`: a report of the committee's history, replayed by the
    import: it comes validated and its level change has the cause "import".
    """
    submission_id = canonical_submission_id(data.submission_id)
    found, existing_id = locate_for_report(session, data.establishment, submission_id, author)
    if existing_id is not None:
        return _unchanged(session.get_one(Report, existing_id), settings)
    renamed = found is None and submission_id is not None
    if renamed and (existing := _by_submission(session, submission_id or "", author)):
        return _unchanged(existing, settings)  # a repeat naming an establishment since renamed
    resolved = check_report(session, data, settings, located=(found,))
    establishment = resolved.establishment
    before = establishment.level
    situations = open_situations(session, establishment.id)
    changes = expire_stale(session, establishment, settings, situations)
    situations = still_open(situations)
    try:
        report = _insert_report(session, data, resolved, author, submission_id, import_reference)
    except IntegrityError:
        # The submission_id is stored already (a concurrent request sent it first).
        session.rollback()
        existing = _by_submission(session, submission_id, author) if submission_id else None
        if existing is None:
            raise
        return _unchanged(existing, settings)
    links = _insert_links(session, report, resolved)
    new = support_situations(session, report, links, settings, situations)
    cause = CAUSE_IMPORT if import_reference else "report"
    change = recompute(session, establishment, settings, cause, report.id, new, [*situations, *new])
    changes += [change] if change else []
    outcome = Outcome(establishment, before, establishment.level, changes, report, True, new)
    return _with_lateness(outcome, report.visit_date, settings)


def _insert_report(
    session: DbSession,
    data: ReportInput,
    resolved: ResolvedReport,
    author: User | None,
    submission_id: str | None,
    import_reference: str | None,
) -> Report:
    """The report's row, returned as the session's object (the columns not given take
    the model's defaults)."""
    values = {
        "establishment_id": resolved.establishment.id,
        "author_id": author.id if author else None,
        "service_id": author.service_id if author else None,
        "visit_date": data.visit_date,
        "description": data.description.strip(),
        "minutes_waited": data.minutes_waited,
        "activity_cancelled": data.activity_cancelled,
        "detainees_not_seen": data.detainees_not_seen,
        "submission_id": submission_id,
        "review_state": ReviewState.VALIDATED if import_reference else ReviewState.UNREVIEWED,
        "import_reference": import_reference,
    }
    return session.scalars(_insert_returning(Report), values).one()


def _insert_links(
    session: DbSession, report: Report, resolved: ResolvedReport
) -> list[ReportCondition]:
    """The report's conditions, each with its offer types, and every offer type it named."""
    links = resolved.links()
    rows = [
        {"report_id": report.id, "condition_id": link.condition_id, "offer_types": link.offer_types}
        for link in links
    ]
    session.execute(_insert(report_condition), rows)
    types = [{"report_id": report.id, "offer_type_id": t.id} for t in resolved.offer_types]
    session.execute(_insert(report_offer_type), types)
    return links


@functools.cache
def _insert(table: Table) -> Insert:
    """INSERT into `table`, built once (each report runs it: a statement built anew
    would be traversed again for its cache key)."""
    return insert(table)


@functools.cache
def _insert_returning(model: type[Any]) -> Executable:
    """INSERT of `model`'s rows, returned as the session's objects (with every column:
    the ones not given take their defaults), built once (see `_insert`)."""
    table = model.__table__
    return select(model).from_statement(insert(table).returning(*table.c))


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
    return _submission_match(submission_id, None if author is None else author.id)


def _submission_match(submission_id: Any, author_id: Any) -> ColumnElement[bool]:
    """Values or bound parameters; `author_id` None: a report without an author."""
    by_author = Report.author_id.is_(None) if author_id is None else Report.author_id == author_id
    return (Report.submission_id == submission_id) & by_author


def _unchanged(report: Report, settings: Settings) -> Outcome:
    level = report.establishment.level
    outcome = Outcome(report.establishment, level, level, report=report, created=False)
    return _with_lateness(outcome, report.visit_date, settings)


def counts(report: Report, settings: Settings) -> bool:
    """Whether a report supports situations (R11)."""
    if report.review_state == ReviewState.REJECTED:
        return False
    return not settings.reports_require_review or report.review_state == ReviewState.VALIDATED


def locate_for_report(
    session: DbSession, slug: str, submission_id: str | None, author: User | None = None
) -> tuple[Establishment | None, int | None]:
    """The establishment a report names, locked as `lock_establishment` locks it, and the
    id of the report `author` already stored under `submission_id` (a repeat), in one
    statement. `submission_id`: canonical (see canonical_submission_id)."""
    if not printable(slug, multiline=False):
        return None, None
    parameters = {
        "named_slug": slug,
        "submission_id": submission_id,
        "author_id": author.id if author is not None else None,
    }
    repeat = None if not submission_id else author is not None
    row = session.execute(_locate(repeat), parameters).first()
    return (row[0], row[1]) if row else (None, None)


@functools.cache
def _locate(repeat: bool | None) -> Update:
    """`locate_for_report`'s statement, built once per shape (see `_insert`).

    `repeat`: None without a submission id; else whether its author is a user.
    """
    if repeat is None:
        repeated: Any = null()
    else:
        author_id: Any = bindparam("author_id") if repeat else None
        same = _submission_match(bindparam("submission_id"), author_id)
        repeated = select(Report.id).where(same).scalar_subquery()
    return locking(Establishment.slug == bindparam("named_slug"), repeated)


def support_situations(
    session: DbSession,
    report: Report,
    links: Sequence[ReportCondition],
    settings: Settings,
    situations: Sequence[Situation],
) -> list[Situation]:
    """The report supports the open situation of each condition it names, opening the
    ones not open yet (R2); returns those it opened. Nothing when it does not count
    (R11) or when its visit is older than the TTL (R3): it is kept in history only.

    `situations`: the establishment's open situations, read under its lock. The
    situations it confirms take their new values here; the session writes them
    with the establishment's level at its next flush.
    """
    if not counts(report, settings) or too_late(report.visit_date, settings):
        return []
    open_by_condition = {s.condition_id: s for s in situations}
    confirmed = [
        open_by_condition[k.condition_id] for k in links if k.condition_id in open_by_condition
    ]
    opened = _open_situations(
        session, report, [k for k in links if k.condition_id not in open_by_condition]
    )
    supported = [*confirmed, *opened]
    rows = [{"situation_id": s.id, "report_id": report.id} for s in supported]
    session.execute(_insert(situation_report), rows)
    # Both sides of the links are read again when wanted (a lazy load reads what is written).
    session.expire(report, ["situations"])
    for situation in confirmed:
        session.expire(situation, ["reports"])
    by_condition = {link.condition_id: link for link in links}
    for situation in confirmed:
        _confirm(situation, report, by_condition[situation.condition_id])
    return opened


def _open_situations(
    session: DbSession, report: Report, links: Sequence[ReportCondition]
) -> list[Situation]:
    """The situations the report opens, one per condition in `links`, in their order."""
    if not links:
        return []
    rows = [
        {
            "establishment_id": report.establishment_id,
            "condition_id": link.condition_id,
            "offer_types": ",".join(ordered_types(link.offer_type_codes)),
            "first_visit": report.visit_date,
            "last_confirmed": report.visit_date,
            "report_count": 1,
        }
        for link in links
    ]
    made = {s.condition_id: s for s in session.scalars(_insert_returning(Situation), rows)}
    return [made[link.condition_id] for link in links]


def _confirm(situation: Situation, report: Report, link: ReportCondition) -> None:
    """One more report supports an open situation (R2): its count, dates and offer types."""
    situation.report_count += 1
    situation.last_confirmed = max(situation.last_confirmed, report.visit_date)
    situation.first_visit = min(situation.first_visit, report.visit_date)
    types = ordered_types([*situation.offer_type_codes, *link.offer_type_codes])
    situation.offer_types = ",".join(types)
