"""The questionnaire: a report filed in two minutes from a phone."""

from __future__ import annotations

from datetime import timedelta

from flask import abort, current_app, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from barometre import clock, services
from barometre.auth import USER, access
from barometre.errors import ValidationFailed
from barometre.extensions import db
from barometre.models import OfferType, Report
from barometre.presentation import label_map
from barometre.settings import current as settings
from barometre.states import ReviewState

from . import queries
from .blueprint import bp, current_language
from .forms import ReportForm


def _page(form: ReportForm, status: int = 200) -> ResponseReturnValue:
    choices = queries.questionnaire_choices(db.session)
    today = clock.today()
    html = render_template(
        "intake/questionnaire.html",
        form=form,
        choices=choices,
        lang=current_language(),
        max_date=today.isoformat(),
        min_date=(today - timedelta(days=settings().max_visit_age_days)).isoformat(),
        # Visits before this date count only as history (R3): the page says so before sending.
        late_before=services.ttl_cutoff(settings()).isoformat(),
        late_warning=_late_warning(form),
        ttl_days=settings().situation_ttl_days,
    )
    return html, status


def _late_warning(form: ReportForm) -> bool:
    """Whether the visit date typed is older than the TTL, but not too old to be sent."""
    visit = form.visit_date.data
    if visit is None or form.visit_date.errors or not services.too_late(visit, settings()):
        return False
    return visit >= clock.today() - timedelta(days=settings().max_visit_age_days)


@bp.get("/signalement")
@access(USER)
def questionnaire() -> ResponseReturnValue:
    return _page(ReportForm(formdata=None))


@bp.post("/signalement")
@access(USER)
def submit_report() -> ResponseReturnValue:
    form = ReportForm()
    if form.website.data:
        # A robot filled the honeypot: store nothing, say little.
        current_app.logger.info("questionnaire honeypot filled; nothing stored")
        form.general_errors.append(_("Envoi refusé."))
        return _page(form, 400)
    data = form.report_input()
    if not form.validate():
        # Type errors first; the domain adds what it can judge of the rest.
        form.add_domain_errors(_domain_errors(data))
        return _page(form, 422)
    repeat = queries.recent_repeat(db.session, current_user.id, data)
    if repeat is not None:
        return redirect(url_for("intake.thanks", report_id=repeat.id), 303)
    if _late_warning(form) and not form.confirm_late.data:
        # Nothing is stored before the worker knows the report will not count (R3):
        # the page comes back with the warning and a box to tick (no JavaScript needed).
        form.add_domain_errors(_domain_errors(data))
        return _page(form, 422 if form.has_errors else 200)
    try:
        outcome = services.record_report(db.session, data, current_user, settings())
    except ValidationFailed as failed:
        db.session.rollback()
        form.add_domain_errors(failed.errors)
        return _page(form, 422)
    assert outcome.report is not None  # noqa: S101 - record_report always returns the report
    report_id = outcome.report.id  # read before the commit expires it: no reload after
    db.session.commit()
    return redirect(url_for("intake.thanks", report_id=report_id), 303)


def _domain_errors(data: services.ReportInput) -> dict[str, list[str]]:
    try:
        services.check_report(db.session, data, settings())
    except ValidationFailed as failed:
        return failed.errors
    finally:
        db.session.rollback()
    return {}


@bp.get("/signalement/<id:report_id>/merci")
@access(USER)
def thanks(report_id: int) -> ResponseReturnValue:
    report = db.session.get(Report, report_id)
    if report is None:
        abort(404)
    if report.author_id != current_user.id and not current_user.is_coordinator:
        abort(403)
    summary = queries.confirmation(db.session, report, settings())
    return render_template(
        "intake/thanks.html",
        report=report,
        summary=summary,
        offer_labels=label_map(db.session.scalars(select(OfferType))),
        counted=services.counts(report, settings()),
        late_reason=services.late_note(report, settings()),
        lang=current_language(),
    )


@bp.get("/mes-signalements")
@access(USER)
def my_reports() -> ResponseReturnValue:
    reports = queries.my_reports(db.session, current_user.id)
    offer_labels = label_map(db.session.scalars(select(OfferType)))
    lang = current_language()
    return render_template(
        "intake/my_reports.html",
        reports=reports,
        offer_labels=offer_labels,
        lang=lang,
        late={r.id for r in reports if services.was_late(r, settings())},
        state_note=state_note,
    )


def state_note(report: Report, late: bool) -> str:
    """Where a report stands, in one sentence for its author: reviewed or not, and whether
    it counts in the level (R11; a visit too old is history only, R3)."""
    if report.review_state == ReviewState.REJECTED:
        return _("Rejeté par le comité baromètre : ce signalement ne compte pas dans le niveau.")
    if late:
        return services.late_reason(settings())
    if report.review_state == ReviewState.VALIDATED:
        return _("Validé par le comité baromètre : ce signalement compte dans le niveau.")
    if services.counts(report, settings()):
        return _("Pas encore examiné par le comité baromètre ; il compte déjà dans le niveau.")
    return _("Pas encore examiné par le comité baromètre ; il comptera après sa validation.")
