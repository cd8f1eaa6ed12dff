"""Exports: asked for, listed, downloaded."""

from __future__ import annotations

from pathlib import Path

from flask import abort, current_app, flash, redirect, render_template, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select

from barometre.auth import COORDINATOR, access
from barometre.console import details, exports
from barometre.console.forms import ExportForm
from barometre.console.models import Export
from barometre.extensions import db
from barometre.presentation import REVIEW_STATES, SITUATION_STATES
from barometre.states import JobState

from .base import actor, bp, filter_form


@bp.get("/exports")
@access(COORDINATOR)
def export_list() -> ResponseReturnValue:
    rows = db.session.scalars(select(Export).order_by(Export.id.desc()).limit(50)).all()
    return render_template("console/exports.html", rows=rows, form=ExportForm())


@bp.post("/exports")
@access(COORDINATOR)
def create_export() -> ResponseReturnValue:
    form = ExportForm()
    states = REVIEW_STATES if form.kind.data == "reports" else SITUATION_STATES
    _filters_form, filters = filter_form(states)
    if not form.validate_on_submit():
        flash(_("Export impossible : choix invalide."), "error")
        return redirect(url_for(".export_list"))
    row = exports.create_export(
        db.session, actor(), form.kind.data or "", form.format.data or "", filters
    )
    db.session.commit()
    exports.dispatch(row.id)
    flash(_("Export lancé : le fichier sera prêt dans un instant."), "success")
    return redirect(url_for(".export", ident=row.id))


@bp.get("/exports/<id:ident>")
@access(COORDINATOR)
def export(ident: int) -> ResponseReturnValue:
    row = db.session.get(Export, ident)
    if row is None:
        abort(404)
    filters = details.Words(db.session).pairs(row.filters)
    page = render_template("console/export.html", row=row, filters=filters)
    response = current_app.make_response(page)
    if not row.finished:
        response.headers["Refresh"] = "2"  # the page polls until the file is ready
    return response


@bp.get("/exports/<id:ident>/fichier")
@access(COORDINATOR)
def export_file(ident: int) -> ResponseReturnValue:
    row = db.session.get(Export, ident)
    if row is None or row.state != JobState.DONE or not row.file_path:
        abort(404)
    path = Path(row.file_path).resolve()
    if path.parent != exports.exports_dir().resolve() or not path.exists():
        abort(404)
    name = {"reports": _("signalements"), "situations": _("situations")}[row.kind]
    return send_file(path, as_attachment=True, download_name=f"{name}-{row.id}.{row.format}")
