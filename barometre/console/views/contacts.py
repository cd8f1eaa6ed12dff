"""An establishment's contacts and the member services' alert addresses."""

from __future__ import annotations

from flask import abort, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select

from barometre.auth import COORDINATOR, access
from barometre.console import admin
from barometre.console.forms import ContactForm, ReviewForm, ServiceForm
from barometre.errors import ValidationFailed
from barometre.extensions import db
from barometre.models import MemberService

from .base import INVALID, actor, bp, done, failed
from .establishments import establishment_page


def contact_data(form: ContactForm) -> admin.ContactData:
    return admin.ContactData(
        email=form.email.data or "",
        name=form.name.data or "",
        language=form.language.data or "fr",
        alerts=bool(form.alerts.data),
        digest=bool(form.digest.data),
        red_only=bool(form.red_only.data),
    )


@bp.post("/etablissements/<id:ident>/contacts")
@access(COORDINATOR)
def add_contact(ident: int) -> ResponseReturnValue:
    form = ContactForm(prefix="new")
    if form.validate_on_submit():
        try:
            admin.add_contact(db.session, actor(), ident, contact_data(form))
        except ValidationFailed as error:
            failed(form, error)
        else:
            return done(_("Contact ajouté."), ".establishment", ident=ident)
    return establishment_page(ident, INVALID, contact_form=form)


@bp.route("/contacts/<id:ident>", methods=["GET", "POST"])
@access(COORDINATOR)
def contact(ident: int) -> ResponseReturnValue:
    row = admin.contact(db.session, ident)
    form = ContactForm(obj=row)
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                admin.update_contact(db.session, actor(), ident, contact_data(form))
            except ValidationFailed as error:
                failed(form, error)
            else:
                return done(_("Contact enregistré."), ".establishment", ident=row.establishment_id)
        return render_template("console/contact.html", row=row, form=form), INVALID
    return render_template("console/contact.html", row=row, form=form)


@bp.post("/contacts/<id:ident>/supprimer")
@access(COORDINATOR)
def remove_contact(ident: int) -> ResponseReturnValue:
    row = admin.contact(db.session, ident)
    establishment_id = row.establishment_id
    if not ReviewForm().validate_on_submit():
        abort(400)
    admin.remove_contact(db.session, actor(), ident)
    return done(_("Contact supprimé."), ".establishment", ident=establishment_id)


@bp.route("/services", methods=["GET", "POST"])
@access(COORDINATOR)
def member_services() -> ResponseReturnValue:
    form = ServiceForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                admin.add_service(db.session, actor(), form.name.data, form.alert_emails.data)
            except ValidationFailed as error:
                failed(form, error)
            else:
                return done(_("Service membre ajouté."), ".member_services")
        status = INVALID
    rows = db.session.scalars(select(MemberService).order_by(MemberService.name)).all()
    return render_template("console/services.html", rows=rows, form=form), status


@bp.route("/services/<id:ident>", methods=["GET", "POST"])
@access(COORDINATOR)
def member_service(ident: int) -> ResponseReturnValue:
    row = admin.member_service(db.session, ident)
    form = ServiceForm(obj=row)
    if request.method != "POST":  # GET and HEAD: the page; only POST writes
        form.alert_emails.data = ", ".join(row.alert_addresses)
        return render_template("console/service.html", row=row, form=form)
    if form.validate_on_submit():
        try:
            admin.update_service(
                db.session,
                actor(),
                ident,
                form.name.data,
                form.alert_emails.data,
                bool(form.active.data),
            )
        except ValidationFailed as error:
            failed(form, error)
        else:
            return done(_("Service membre enregistré."), ".member_services")
    return render_template("console/service.html", row=row, form=form), INVALID
