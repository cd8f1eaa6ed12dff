"""The committee's review: resolve situations, reject or validate reports (R11)."""

from __future__ import annotations

from flask_babel import gettext as _

from . import clock
from .audit import audit
from .errors import Conflict, NotFound, ValidationFailed
from .extensions import DbSession
from .levels import ordered_types
from .models import Establishment, LevelChange, Report, Situation, User
from .recompute import CAUSE_IMPORT, Outcome, expire_stale, recompute
from .reports import counts, support_situations
from .routing import MAX_DB_ID
from .settings import Settings
from .situations import close_situation, lock_establishment, open_situations, still_open
from .states import ReviewState, SituationState
from .text import refusal
from .validation import MAX_DESCRIPTION


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
    if situation.status != SituationState.OPEN:
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
    close_situation(situation, SituationState.RESOLVED, actor, note)
    situation.closed_by_import = cause == CAUSE_IMPORT
    session.flush()
    return recompute(session, establishment, settings, cause, situation.id, closed=[situation])


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
    if report.review_state == ReviewState.REJECTED:
        raise Conflict(_("Ce signalement est déjà rejeté."))
    before = establishment.level
    report.review_state = ReviewState.REJECTED
    report.review_reason = reason
    report.reviewed_by_id = actor.id
    report.reviewed_at = clock.now()
    withdrawn = []
    for situation in report.situations:
        if situation.status == SituationState.OPEN:
            _rebuild_situation(situation, settings, actor)
            if situation.status == SituationState.WITHDRAWN:
                withdrawn.append(situation)
    session.flush()
    change = recompute(session, establishment, settings, "rejection", report.id, closed=withdrawn)
    audit(session, actor, "report.reject", report, establishment=establishment.slug)
    return Outcome(establishment, before, establishment.level, [change] if change else [], report)


def _rebuild_situation(situation: Situation, settings: Settings, actor: User) -> None:
    supporting = [r for r in situation.reports if counts(r, settings)]
    if not supporting:
        close_situation(situation, SituationState.WITHDRAWN, actor, "")
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
    if report.review_state != ReviewState.UNREVIEWED:
        raise Conflict(_("Ce signalement a déjà été revu."))
    before = establishment.level
    counted_before = counts(report, settings)
    report.review_state = ReviewState.VALIDATED
    report.reviewed_by_id = actor.id
    report.reviewed_at = clock.now()
    situations = open_situations(session, establishment.id)
    changes = expire_stale(session, establishment, settings, situations)
    situations = still_open(situations)
    new: list[Situation] = []
    if not counted_before:
        new = support_situations(session, report, report.condition_links, settings, situations)
    situations += new
    change = recompute(session, establishment, settings, "validation", report.id, new, situations)
    changes += [change] if change else []
    audit(session, actor, "report.validate", report, establishment=establishment.slug)
    return Outcome(establishment, before, establishment.level, changes, report, True, new)
