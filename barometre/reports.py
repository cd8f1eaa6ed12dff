"""Recording a report: its establishment locked, its conditions, the situations it opens
or confirms, the level it moves, in as few statements as the rules allow."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Select, bindparam, insert, null, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from . import clock
from .extensions import DbSession
from .levels import ordered_types
from .models import (
    Condition,
    Establishment,
    OfferType,
    Report,
    ReportCondition,
    Situation,
    User,
    report_condition,
    report_offer_type,
    situation_report,
)
from .recompute import (
    CAUSE_IMPORT,
    Outcome,
    expire_stale,
    level_and_facts,
    recompute,
    same_level,
)
from .settings import Settings
from .situations import (
    lock_on_sqlite,
    locked,
    locking,
    open_situations,
    still_open,
    ttl_cutoff,
)
from .states import ReviewState, SituationState
from .text import printable
from .validation import (
    ReportInput,
    canonical_submission_id,
    check_report,
    complete_pair,
    wanted_codes,
)


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
        author_id=author.id if author else None,  # the one statement of PostgreSQL reads it
        service_id=author.service_id if author else None,
        visit_date=data.visit_date,
        description=data.description.strip(),
        minutes_waited=data.minutes_waited,
        activity_cancelled=data.activity_cancelled,
        detainees_not_seen=data.detainees_not_seen,
        submission_id=submission_id,
        review_state=ReviewState.VALIDATED if import_reference else ReviewState.UNREVIEWED,
        import_reference=import_reference,
    )
    one_statement = session.get_bind().dialect.name == "postgresql"
    if not one_statement:
        session.add(report)
    situations = still_open(situations)
    links = resolved.links()
    new: list[Situation] = []
    supported: list[Situation] = []
    if counts(report, settings):
        new, supported = group_report(
            session, report, links, settings, situations, written_apart=one_statement
        )
    try:
        if one_statement:
            rows = ReportRows(report, links, resolved.offer_types, new, supported)
            write_report(session, rows, _level_kept(establishment, [*situations, *new], settings))
        else:
            session.flush()  # the report and its new situations
            insert_report_rows(session, report, links, resolved.offer_types, supported)
    except IntegrityError:
        # The submission_id is stored already (a repeat, or a concurrent request).
        session.rollback()
        existing = _by_submission(session, submission_id, author) if submission_id else None
        if existing is None:
            raise
        return _unchanged(existing, settings)
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
    """The establishment a report names, locked as lock_establishment does, and the id
    of the report `author` already stored under `submission_id` (a repeat), in one
    statement. `submission_id`: canonical (see canonical_submission_id)."""
    if not printable(slug, multiline=False):
        return None, None
    by_slug = Establishment.slug == slug
    query = select(Establishment, _repeat(submission_id, author))
    row = session.execute(locking(session, query, by_slug)).first()
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
    conditions = wanted_codes(data.condition_codes)
    offers = wanted_codes([*(data.shared_offer_types or ()), *data.offer_types])
    if not (conditions and offers and printable(data.establishment, multiline=False)):
        return (*locate_for_report(session, data.establishment, submission_id, author), None)
    lock_on_sqlite(session, Establishment.slug == data.establishment)
    repeat = None if not submission_id else author is not None
    parameters = {
        "slug": data.establishment,
        "conditions": conditions,
        "offers": offers,
        "submission_id": submission_id,
        "author_id": author.id if author is not None else None,
    }
    rows = session.execute(_located_with_codes(repeat), parameters).all()
    if not rows:
        return None, None, None
    first = rows[0]
    return first[0], first[1], complete_pair([r[2:] for r in rows], conditions, offers)


@functools.cache
def _located_with_codes(repeat: bool | None) -> Select[Any]:
    """`_locate_with_codes`'s statement, built once per shape (it runs for every report).

    `repeat`: None without a submission id; else whether its author is a user.
    """
    if repeat is None:
        repeated: Any = null()
    else:
        author_id: Any = bindparam("author_id") if repeat else None
        repeated = _repeat_of(_submission_match(bindparam("submission_id"), author_id))
    query = (
        select(Establishment, repeated, Condition, OfferType)
        .select_from(Establishment)
        .outerjoin(Condition, Condition.code.in_(bindparam("conditions", expanding=True)))
        .outerjoin(OfferType, OfferType.code.in_(bindparam("offers", expanding=True)))
        .where(Establishment.slug == bindparam("slug"))
    )
    return locked(query)


def _repeat(submission_id: str | None, author: User | None) -> Any:
    if not submission_id:
        return null()
    return _repeat_of(_same_submission(submission_id, author))


def _repeat_of(same: ColumnElement[bool]) -> Any:
    """The id of the report already stored under this submission, as a column."""
    return select(Report.id).where(same).scalar_subquery()


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
    written_apart: bool = False,
) -> tuple[list[Situation], list[Situation]]:
    """The situations `report` opens and every one it supports, updated for it (R2).

    The report's side of the links is left to the caller: `attach_report` appends
    them, `record_report` writes them with the report's other rows in one statement.
    `written_apart`: the caller writes the open situations' new values itself
    (`write_report`): they are set as the rows' values, with nothing left to flush.
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
                status=SituationState.OPEN,
                first_visit=report.visit_date,
                last_confirmed=report.visit_date,
                report_count=0,
                offer_types="",
                opened_at=clock.now(),
            )
            session.add(situation)
            opened.append(situation)
        supported.append(situation)
        values = {
            "report_count": (situation.report_count or 0) + 1,
            "last_confirmed": max(situation.last_confirmed, report.visit_date),
            "first_visit": min(situation.first_visit, report.visit_date),
            "offer_types": ",".join(
                ordered_types([*situation.offer_type_codes, *link.offer_type_codes])
            ),
        }
        assign = set_committed_value if written_apart and situation.id else setattr
        for name, value in values.items():
            assign(situation, name, value)
    return opened, supported


def insert_report_rows(
    session: DbSession,
    report: Report,
    links: Sequence[ReportCondition],
    offer_types: Sequence[OfferType],
    situations: Sequence[Situation],
) -> None:
    """SQLite: write a flushed report's conditions, offer types and situation links,
    one statement per table (PostgreSQL writes all of it at once: `write_report`).

    The report's collections are expired, so reading them afterwards loads what was written.
    """
    rows = [{"situation_id": s.id, "report_id": report.id} for s in situations]
    statements = [
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
        *([insert(situation_report).values(rows)] if rows else []),
    ]
    for statement in statements:
        session.execute(statement)
    session.expire(report, ["condition_links", "conditions", "offer_types", "situations"])


@dataclass
class ReportRows:
    """What `write_report` writes: the report, its links, the situations it opens and
    every one it supports (their new values already set, see `group_report`)."""

    report: Report
    links: Sequence[ReportCondition]
    offer_types: Sequence[OfferType]
    new: Sequence[Situation]
    supported: Sequence[Situation]


def _level_kept(
    establishment: Establishment, situations: Sequence[Situation], settings: Settings
) -> dict[str, Any]:
    """The establishment's columns the report changes while its level stays (the count, the
    offer types, the facts), for `write_report` to write with the rest: all of them when
    one differs; nothing when the level moves (`recompute` records the change) or when
    nothing differs."""
    after, facts = level_and_facts(situations, settings)
    if not same_level(establishment.level, after):
        return {}
    values = establishment.level_values(after, facts)
    return values if any(getattr(establishment, k) != v for k, v in values.items()) else {}


def write_report(session: DbSession, rows: ReportRows, level: Mapping[str, Any]) -> None:
    """PostgreSQL: the report, the situations it opens, its conditions, offer types and
    situation links, the supported situations' new values and the establishment's
    `level` columns in one statement (`WRITE_REPORT`), under the establishment's lock
    like the rest of the report.

    The ORM's flush would send the report and each new situation on their own
    and spend more time sorting its unit of work than the database spends
    writing; here the report (transient) and the new situations (pending) are
    written by the statement, then handed to the session as the rows they now
    are, and the values written elsewhere are set as the rows' values: nothing is
    left for a flush.
    """
    report, new = rows.report, rows.new
    establishment = report.establishment
    for situation in new:
        session.expunge(situation)  # written below, not by a flush
    report.submitted_at = clock.now()
    for name, value in REPORT_EMPTY.items():
        setattr(report, name, value)
    for situation in new:
        for name, value in SITUATION_EMPTY.items():
            setattr(situation, name, value)
    confirmed = [s for s in rows.supported if s not in new]
    parameters = {
        **{name: getattr(report, name) for name in REPORT_COLUMNS},
        "situation_status": SituationState.OPEN,
        **SITUATION_EMPTY,
        **{f"new_{name}": [getattr(s, name) for s in new] for name in NEW_SITUATION},
        "condition_ids": [link.condition_id for link in rows.links],
        "condition_types": [link.offer_types for link in rows.links],
        "offer_type_ids": [t.id for t in rows.offer_types],
        **{f"confirmed_{name}": [getattr(s, name) for s in confirmed] for name in CONFIRMED},
        "level_written": bool(level),
        **{f"level_{name}": level.get(name) for name in LEVEL},
        "level_open_facts": json.dumps(level["open_facts"]) if level else None,
    }
    # No flush first: nothing of the report is left to one.
    with session.no_autoflush:
        written = session.execute(WRITE_REPORT, parameters).all()
    by_condition = {s.condition_id: s for s in new}
    for kind, row_id, condition_id in written:
        if kind == "revision":
            for name, value in {**level, "revision": row_id}.items():
                set_committed_value(establishment, name, value)
            continue
        made: Report | Situation = report if kind == "report" else by_condition[condition_id]
        made.id = row_id
        make_transient_to_detached(made)
        session.add(made)
    session.expire(report, ["condition_links", "conditions", "offer_types", "situations"])


# What the ORM's column defaults would have given the rows `WRITE_REPORT` makes (it sets
# them on the objects and passes them: one source for both).
REPORT_EMPTY: dict[str, Any] = {
    "description_purged_at": None,
    "reviewed_by_id": None,
    "reviewed_at": None,
    "review_reason": "",
}
SITUATION_EMPTY: dict[str, Any] = {
    "closed_at": None,
    "closed_by_id": None,
    "close_note": "",
    "closed_by_import": False,
}
# The report's columns `WRITE_REPORT` takes (the other empty ones are NULL).
REPORT_COLUMNS = (
    "establishment_id",
    "author_id",
    "service_id",
    "visit_date",
    "submitted_at",
    "description",
    "minutes_waited",
    "activity_cancelled",
    "detainees_not_seen",
    "submission_id",
    "review_state",
    "review_reason",
    "import_reference",
)
# The establishment's columns of its level (`open_facts` is passed as JSON).
LEVEL = ("colour", "step", "open_situations", "offer_types", "red_blocked")
# What a new situation is made of (see group_report).
NEW_SITUATION = (
    "condition_id",
    "offer_types",
    "opened_at",
    "first_visit",
    "last_confirmed",
    "report_count",
)

# One statement of one shape whatever the counts (arrays, so PostgreSQL and SQLAlchemy
# reuse its plan and its compilation): the report and its rows in six tables. The links
# to the situations it opens take their ids from the same statement.
WRITE_REPORT = text(
    """
WITH new_report AS (
    INSERT INTO report (
        establishment_id, author_id, service_id, visit_date, submitted_at, description,
        minutes_waited, activity_cancelled, detainees_not_seen, submission_id,
        review_state, review_reason, import_reference
    )
    VALUES (
        :establishment_id, :author_id, :service_id, :visit_date, :submitted_at, :description,
        :minutes_waited, :activity_cancelled, :detainees_not_seen, :submission_id,
        :review_state, :review_reason, :import_reference
    )
    RETURNING id
), opened AS (
    INSERT INTO situation (
        establishment_id, condition_id, status, offer_types, opened_at, first_visit,
        last_confirmed, report_count, close_note, closed_by_import
    )
    SELECT :establishment_id, n.condition_id, :situation_status, n.offer_types, n.opened_at,
        n.first_visit, n.last_confirmed, n.report_count, :close_note, :closed_by_import
    FROM unnest(
        CAST(:new_condition_id AS integer[]), CAST(:new_offer_types AS varchar[]),
        CAST(:new_opened_at AS timestamp[]), CAST(:new_first_visit AS date[]),
        CAST(:new_last_confirmed AS date[]), CAST(:new_report_count AS integer[])
    ) AS n(condition_id, offer_types, opened_at, first_visit, last_confirmed, report_count)
    RETURNING id, condition_id
), conditions AS (
    INSERT INTO report_condition (report_id, condition_id, offer_types)
    SELECT new_report.id, c.id, c.types
    FROM new_report, unnest(
        CAST(:condition_ids AS integer[]), CAST(:condition_types AS varchar[])
    ) AS c(id, types)
), offer_types AS (
    INSERT INTO report_offer_type (report_id, offer_type_id)
    SELECT new_report.id, t.id
    FROM new_report, unnest(CAST(:offer_type_ids AS integer[])) AS t(id)
), links AS (
    INSERT INTO situation_report (situation_id, report_id)
    SELECT s.id, new_report.id
    FROM new_report, unnest(CAST(:confirmed_id AS integer[])) AS s(id)
    UNION ALL
    SELECT opened.id, new_report.id FROM new_report, opened
), confirmed AS (
    UPDATE situation
    SET report_count = c.report_count, last_confirmed = c.last_confirmed,
        first_visit = c.first_visit, offer_types = c.offer_types
    FROM unnest(
        CAST(:confirmed_id AS integer[]), CAST(:confirmed_report_count AS integer[]),
        CAST(:confirmed_last_confirmed AS date[]), CAST(:confirmed_first_visit AS date[]),
        CAST(:confirmed_offer_types AS varchar[])
    ) AS c(id, report_count, last_confirmed, first_visit, offer_types)
    WHERE situation.id = c.id
), level AS (
    UPDATE establishment
    SET colour = :level_colour, step = :level_step, open_situations = :level_open_situations,
        offer_types = :level_offer_types, red_blocked = :level_red_blocked,
        open_facts = CAST(:level_open_facts AS json), revision = revision + 1
    WHERE id = :establishment_id AND :level_written
    RETURNING revision
)
SELECT 'report', id, CAST(NULL AS integer) FROM new_report
UNION ALL
SELECT 'situation', id, condition_id FROM opened
UNION ALL
SELECT 'revision', revision, NULL FROM level
"""
)


# What a report changes in an open situation it confirms (see group_report).
CONFIRMED = ("id", "report_count", "last_confirmed", "first_visit", "offer_types")
