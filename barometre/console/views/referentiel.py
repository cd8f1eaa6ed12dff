"""The référentiel: conditions, their wording and retirement."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from barometre.auth import COORDINATOR, access
from barometre.console import admin
from barometre.console.forms import ConditionForm, ReviewForm, options
from barometre.errors import ValidationFailed
from barometre.extensions import db
from barometre.models import Category
from barometre.presentation import lang

from .base import INVALID, actor, bp, done, failed


def condition_form(**values: Any) -> ConditionForm:
    form = ConditionForm(**values)
    form.category.choices = options(
        [
            (c.code, c.label(lang()))
            for c in db.session.scalars(select(Category).order_by(Category.position))
        ]
    )
    return form


def wording(form: ConditionForm) -> admin.Wording:
    return admin.Wording(
        label_fr=form.label_fr.data or "",
        label_nl=form.label_nl.data or "",
        label_en=form.label_en.data or "",
        examples=form.examples.data or "",
        examples_nl=form.examples_nl.data or "",
        examples_en=form.examples_en.data or "",
        keywords=form.keywords.data or "",
    )


@bp.route("/referentiel", methods=["GET", "POST"])
@access(COORDINATOR)
def referentiel() -> ResponseReturnValue:
    form = condition_form()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                row = admin.add_condition(
                    db.session, actor(), form.category.data or "", wording(form)
                )
            except ValidationFailed as error:
                failed(form, error)
            else:
                return done(_("Condition %(code)s ajoutée.", code=row.code), ".referentiel")
        status = INVALID
    categories = db.session.scalars(
        select(Category).options(selectinload(Category.conditions)).order_by(Category.position)
    ).all()
    return render_template(
        "console/referentiel.html", categories=categories, form=form, toggle_form=ReviewForm()
    ), status


@bp.route("/referentiel/<id:ident>", methods=["GET", "POST"])
@access(COORDINATOR)
def condition(ident: int) -> ResponseReturnValue:
    row = admin.condition(db.session, ident)
    if request.method != "POST":  # GET and HEAD: the page; only POST writes
        form = condition_form(obj=row)
        return render_template("console/condition.html", row=row, form=form)
    form = condition_form(category=row.category.code)
    form.category.data = row.category.code  # the category of a code never changes
    if form.validate_on_submit():
        try:
            admin.update_condition(db.session, actor(), ident, wording(form))
        except ValidationFailed as error:
            failed(form, error)
        else:
            return done(_("Libellé de %(code)s enregistré.", code=row.code), ".referentiel")
    return render_template("console/condition.html", row=row, form=form), INVALID


@bp.post("/referentiel/<id:ident>/retrait")
@access(COORDINATOR)
def condition_retirement(ident: int) -> ResponseReturnValue:
    if not ReviewForm().validate_on_submit():
        abort(400)
    row = admin.condition(db.session, ident)
    retire = row.retired_at is None
    admin.set_condition_retired(db.session, actor(), ident, retire)
    message = (
        _("Condition %(code)s retirée du questionnaire.", code=row.code)
        if retire
        else _("Condition %(code)s remise dans le questionnaire.", code=row.code)
    )
    return done(message, ".referentiel")
