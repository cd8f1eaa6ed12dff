"""Situations: the list, one situation, resolve."""

from __future__ import annotations

from flask import abort, redirect, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from barometre import services
from barometre.auth import COORDINATOR, access
from barometre.console.filters import situation_clauses
from barometre.console.forms import ExportForm, ResolveForm
from barometre.errors import ValidationFailed
from barometre.extensions import db
from barometre.models import Situation
from barometre.presentation import SITUATION_STATES
from barometre.settings import current as settings
from barometre.states import SituationState

from .base import INVALID, actor, bp, done, failed, filter_form, labels, list_url, paginate


@bp.get("/situations")
@access(COORDINATOR)
def situations() -> ResponseReturnValue:
    if "state" not in request.args:
        return redirect(list_url(".situations", state=SituationState.OPEN))
    form, filters = filter_form(SITUATION_STATES)
    query = (
        select(Situation)
        .where(*situation_clauses(filters))
        .options(joinedload(Situation.establishment), joinedload(Situation.condition))
        .order_by(Situation.opened_at.desc(), Situation.id.desc())
    )
    page = paginate(query)
    return render_template(
        "console/situations.html",
        form=form,
        filters=filters,
        page=page,
        export_form=ExportForm(kind="situations"),
        **labels(),
    )


def situation_page(situation_id: int, form: ResolveForm | None = None) -> str:
    situation = db.session.get(Situation, situation_id)
    if situation is None:
        abort(404)
    return render_template(
        "console/situation.html", situation=situation, form=form or ResolveForm(), **labels()
    )


@bp.get("/situations/<id:situation_id>")
@access(COORDINATOR)
def situation(situation_id: int) -> ResponseReturnValue:
    return situation_page(situation_id)


@bp.post("/situations/<id:situation_id>/resoudre")
@access(COORDINATOR)
def resolve_situation(situation_id: int) -> ResponseReturnValue:
    form = ResolveForm()
    if form.validate_on_submit():
        try:
            services.resolve_situation(
                db.session, situation_id, actor(), form.note.data, settings()
            )
        except ValidationFailed as error:
            failed(form, error)
        else:
            return done(
                _("Situation résolue ; le niveau est recalculé."),
                ".situation",
                situation_id=situation_id,
            )
    return situation_page(situation_id, form), INVALID
