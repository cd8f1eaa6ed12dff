"""Reports: the review queue, one report, validate and reject (R11)."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from barometre import services
from barometre.auth import COORDINATOR, access
from barometre.console.filters import report_clauses
from barometre.console.forms import ExportForm, RejectForm, ReviewForm
from barometre.errors import ValidationFailed
from barometre.extensions import db
from barometre.models import Report, ReportCondition
from barometre.presentation import REVIEW_STATES
from barometre.settings import current as settings

from .base import INVALID, actor, bp, done, failed, filter_form, labels, paginate


@bp.get("/signalements")
@access(COORDINATOR)
def reports() -> ResponseReturnValue:
    form, filters = filter_form(REVIEW_STATES)
    query = (
        select(Report)
        .where(*report_clauses(filters))
        .options(
            joinedload(Report.establishment),
            joinedload(Report.service),
            selectinload(Report.condition_links).joinedload(ReportCondition.condition),
            selectinload(Report.offer_types),
        )
        .order_by(Report.submitted_at.desc(), Report.id.desc())
    )
    page = paginate(query)
    return render_template(
        "console/reports.html",
        form=form,
        filters=filters,
        page=page,
        late=lambda report: services.was_late(report, settings()),
        review_form=ReviewForm(),
        export_form=ExportForm(),
        **labels(),
    )


def report_page(report_id: int, **forms: Any) -> str:
    report = db.session.get(Report, report_id)
    if report is None:
        abort(404)
    return render_template(
        "console/report.html",
        report=report,
        late_reason=services.late_note(report, settings()),
        review_form=forms.get("review_form") or ReviewForm(),
        reject_form=forms.get("reject_form") or RejectForm(),
        **labels(),
    )


@bp.get("/signalements/<id:report_id>")
@access(COORDINATOR)
def report(report_id: int) -> ResponseReturnValue:
    return report_page(report_id)


@bp.post("/signalements/<id:report_id>/valider")
@access(COORDINATOR)
def validate_report(report_id: int) -> ResponseReturnValue:
    form = ReviewForm()
    if not form.validate_on_submit():
        return report_page(report_id, review_form=form), INVALID
    services.validate_report(db.session, report_id, actor(), settings())
    return done(_("Signalement validé ; le niveau est recalculé."), ".report", report_id=report_id)


@bp.post("/signalements/<id:report_id>/rejeter")
@access(COORDINATOR)
def reject_report(report_id: int) -> ResponseReturnValue:
    form = RejectForm()
    if form.validate_on_submit():
        try:
            services.reject_report(db.session, report_id, actor(), form.reason.data, settings())
        except ValidationFailed as error:
            failed(form, error)
        else:
            return done(
                _("Signalement rejeté ; il ne compte plus et le niveau est recalculé."),
                ".report",
                report_id=report_id,
            )
    return report_page(report_id, reject_form=form), INVALID
