"""Establishments, their activation and the committee note (R12)."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select

from barometre.auth import COORDINATOR, access
from barometre.console import admin
from barometre.console.forms import ActiveForm, ContactForm, NameForm, NoteForm, WhatToDoForm
from barometre.errors import ValidationFailed
from barometre.extensions import db
from barometre.models import Contact, Establishment

from .base import INVALID, actor, bp, done, failed


@bp.route("/etablissements", methods=["GET", "POST"])
@access(COORDINATOR)
def establishments() -> ResponseReturnValue:
    form = NameForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                row = admin.add_establishment(
                    db.session, actor(), form.name.data, form.name_nl.data, form.name_en.data
                )
            except ValidationFailed as error:
                failed(form, error)
            else:
                return done(_("Établissement ajouté."), ".establishment", ident=row.id)
        status = INVALID
    rows = db.session.scalars(select(Establishment).order_by(Establishment.name)).all()
    return render_template("console/establishments.html", rows=rows, form=form), status


def establishment_page(ident: int, status: int = 200, **forms: Any) -> ResponseReturnValue:
    row = admin.establishment(db.session, ident)
    contacts = db.session.scalars(
        select(Contact).where(Contact.establishment_id == row.id).order_by(Contact.email)
    ).all()
    page = render_template(
        "console/establishment.html",
        row=row,
        contacts=contacts,
        name_form=forms.get("name_form") or NameForm(obj=row),
        note_form=forms.get("note_form")
        or NoteForm(
            note=row.committee_note,
            note_nl=row.committee_note_nl,
            note_en=row.committee_note_en,
        ),
        what_form=forms.get("what_form") or what_to_do_form(row),
        contact_form=forms.get("contact_form") or ContactForm(prefix="new"),
        active_form=ActiveForm(),
    )
    return page, status


@bp.route("/etablissements/<id:ident>", methods=["GET", "POST"])
@access(COORDINATOR)
def establishment(ident: int) -> ResponseReturnValue:
    if request.method != "POST":  # GET, HEAD: the page; only a POST changes anything
        return establishment_page(ident)
    form = NameForm()
    if form.validate_on_submit():
        try:
            admin.rename_establishment(
                db.session, actor(), ident, form.name.data, form.name_nl.data, form.name_en.data
            )
        except ValidationFailed as error:
            failed(form, error)
        else:
            return done(_("Nom enregistré."), ".establishment", ident=ident)
    return establishment_page(ident, INVALID, name_form=form)


@bp.post("/etablissements/<id:ident>/activation")
@access(COORDINATOR)
def establishment_activation(ident: int) -> ResponseReturnValue:
    form = ActiveForm()
    if not form.validate_on_submit():
        abort(400)
    active = form.active.data == "1"
    admin.set_establishment_active(db.session, actor(), ident, active)
    message = _("Établissement réactivé.") if active else _("Établissement désactivé.")
    return done(message, ".establishment", ident=ident)


@bp.post("/etablissements/<id:ident>/note")
@access(COORDINATOR)
def committee_note(ident: int) -> ResponseReturnValue:
    form = NoteForm()
    if form.validate_on_submit():
        remove = bool(request.form.get("remove"))
        note = "" if remove else form.note.data
        note_nl = "" if remove else form.note_nl.data
        note_en = "" if remove else form.note_en.data
        try:
            admin.set_committee_note(db.session, actor(), ident, note, note_nl, note_en)
        except ValidationFailed as error:
            failed(form, error)
        else:
            message = _("Note du comité publiée.") if note else _("Note du comité retirée.")
            return done(message, ".establishment", ident=ident)
    return establishment_page(ident, INVALID, note_form=form)


def what_to_do_form(row: Establishment) -> WhatToDoForm:
    return WhatToDoForm(**{f: getattr(row, c) for f, c in admin.WHAT_TO_DO_COLUMNS.items()})


@bp.post("/etablissements/<id:ident>/a-faire")
@access(COORDINATOR)
def what_to_do(ident: int) -> ResponseReturnValue:
    """Whom at Fidex the contacts answer and what the committee asks of them (issue 26)."""
    form = WhatToDoForm()
    if form.validate_on_submit():
        data = admin.WhatToDo(**{f: form[f].data or "" for f in admin.WHAT_TO_DO_COLUMNS})
        try:
            admin.set_what_to_do(db.session, actor(), ident, data)
        except ValidationFailed as error:
            failed(form, error)
        else:
            message = _("Contact à Fidex et demande du comité enregistrés.")
            return done(message, ".establishment", ident=ident)
    return establishment_page(ident, INVALID, what_form=form)
