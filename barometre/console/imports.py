"""The history import as a console page (coordinators): upload, dry run, templates.

Thin: the form gives the files, `barometre.history_import` reads and replays
them; the view commits (or rolls back after a dry run or a refusal).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField

from barometre import history_files, history_import
from barometre.auth import COORDINATOR, access
from barometre.extensions import db
from barometre.settings import current as settings

from ..webforms import Form

bp = Blueprint("history_import", __name__, url_prefix="/coordination/import")

TEMPLATE_NAMES = {
    history_files.REPORTS: "modele-signalements.csv",
    history_files.RESOLUTIONS: "modele-resolutions.csv",
}


class ImportForm(Form):
    reports = FileField(
        _l("Signalements (CSV)"),
        validators=[FileRequired(_l("Choisissez le fichier des signalements."))],
    )
    resolutions = FileField(_l("Résolutions (CSV, facultatif)"))
    dry_run = BooleanField(_l("Simulation : montrer ce que l'import ferait, sans rien enregistrer"))


def page(form: ImportForm, status: int = 200, **context: Any) -> ResponseReturnValue:
    columns = history_files.COLUMNS
    return render_template("console/import.html", form=form, columns=columns, **context), status


@bp.get("")
@access(COORDINATOR)
def form_page() -> ResponseReturnValue:
    return page(ImportForm())


@bp.post("")
@access(COORDINATOR)
def upload() -> ResponseReturnValue:
    form = ImportForm()
    if not form.validate_on_submit():
        return page(form, 422)
    resolutions = form.resolutions.data.read() if form.resolutions.data else None
    dry_run = bool(form.dry_run.data)
    try:
        summary = history_import.import_history(
            db.session,
            form.reports.data.read(),
            resolutions or None,
            current_user._get_current_object(),
            settings(),
            dry_run,
        )
    except history_files.ImportRefused as refused:
        db.session.rollback()
        return page(form, 422, refused=refused)
    lines = history_import.summary_lines(summary, dry_run)
    if dry_run:
        db.session.rollback()
        return page(form, summary=lines)
    db.session.commit()
    flash(_("Historique importé."), "success")
    for line in lines:
        flash(line, "success")
    return redirect(url_for(".form_page"))


@bp.get("/<name>")
@access(COORDINATOR)
def template(name: str) -> ResponseReturnValue:
    kinds = {file_name: kind for kind, file_name in TEMPLATE_NAMES.items()}
    if name not in kinds:
        abort(404)
    return Response(
        history_files.template(kinds[name]),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={name}"},
    )
