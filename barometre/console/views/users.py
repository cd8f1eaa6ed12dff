"""Accounts: the list and one account (role, language, activation, its sessions)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from barometre import account_access, user_sessions
from barometre.auth import COORDINATOR, access
from barometre.console import admin
from barometre.console.forms import UserForm, options
from barometre.errors import ValidationFailed
from barometre.extensions import db
from barometre.models import ROLES, MemberService, User
from barometre.presentation import ROLE_LABELS

from .base import INVALID, actor, bp, done, failed, paginate


@bp.get("/utilisateurs")
@access(COORDINATOR)
def users() -> ResponseReturnValue:
    query = select(User).options(joinedload(User.service)).order_by(User.email)
    page = paginate(query)
    return render_template("console/users.html", page=page)


def user_form(row: User, formdata: bool) -> UserForm:
    form = (
        UserForm()
        if formdata
        else UserForm(
            role=row.role,
            service=str(row.service_id or ""),
            language=row.language or "",
            active=row.active,
        )
    )
    form.role.choices = options([(r, str(ROLE_LABELS[r])) for r in ROLES])
    form.service.choices = options(
        [("", _("Aucun (coordinateur)"))]
        + [
            (str(s.id), s.name)
            for s in db.session.scalars(select(MemberService).order_by(MemberService.name))
        ]
    )
    return form


@bp.route("/utilisateurs/<id:ident>", methods=["GET", "POST"])
@access(COORDINATOR)
def user(ident: int) -> ResponseReturnValue:
    row = admin.user(db.session, ident)
    if request.method != "POST":  # GET, HEAD: the page; only a POST changes anything
        return _user_page(row, user_form(row, False))
    form = user_form(row, True)
    if form.validate_on_submit():
        try:
            admin.update_user(
                db.session,
                actor(),
                ident,
                form.role.data or "",
                form.service_id(),
                bool(form.active.data),
                language=form.language.data or None,
            )
        except ValidationFailed as error:
            failed(form, error)
        else:
            return done(_("Compte enregistré."), ".users")
    return _user_page(row, form), INVALID


def _user_page(row: User, form: UserForm) -> str:
    sessions = user_sessions.live(db.session, row)
    return render_template("console/user.html", row=row, form=form, sessions=sessions)


@bp.post("/utilisateurs/<id:ident>/sessions/terminer")
@access(COORDINATOR)
def end_user_sessions(ident: int) -> ResponseReturnValue:
    row = admin.user(db.session, ident)
    try:
        ended = account_access.end_user_sessions(db.session, actor(), row)
    except ValidationFailed as error:
        db.session.rollback()
        for message in error.errors.get("sessions", []):
            flash(message, "error")
        return redirect(url_for(".user", ident=ident), 303)
    db.session.commit()
    message = ngettext(
        "%(num)d session terminée pour %(email)s.",
        "%(num)d sessions terminées pour %(email)s.",
        ended,
        email=row.email,
    )
    flash(message, "success")
    return redirect(url_for(".user", ident=ident), 303)
