"""The history import as a console page (coordinators): upload, job page, templates.

Thin: the upload stores the files and records a job (`import_jobs`), which
replays them in the background, dry run or not; the job's page shows its
progress, then what it did or every bad line.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import BooleanField

from barometre import history_files, history_template
from barometre.auth import COORDINATOR, access
from barometre.extensions import db
from barometre.models import ROLE_COORDINATOR

from ..webforms import Form
from . import import_jobs
from .models import ImportJob

bp = Blueprint("history_import", __name__, url_prefix="/coordination/import")

TEMPLATE_NAMES = {
    history_files.REPORTS: "modele-signalements.csv",
    history_files.RESOLUTIONS: "modele-resolutions.csv",
}
# The workbook to fill in, by the language of its headers and lists.
WORKBOOK_NAMES = {
    "modele-historique.xlsx": "fr",
    "modele-historique-nl.xlsx": "nl",
    "modele-historique-en.xlsx": "en",
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
RECENT_JOBS = 20


class ImportForm(Form):
    reports = FileField(
        _l("Signalements (CSV ou XLSX)"),
        validators=[FileRequired(_l("Choisissez le fichier des signalements."))],
    )
    resolutions = FileField(_l("Résolutions (CSV ou XLSX, facultatif)"))
    dry_run = BooleanField(_l("Simulation : montrer ce que l'import ferait, sans rien enregistrer"))


@bp.url_value_preprocessor
def allow_large_files(_endpoint: str | None, _values: dict[str, Any] | None) -> None:
    """The upload's own size limit, set before anything reads the body (the CSRF check
    does, in the app's first before_request: this hook runs earlier)."""
    if request.endpoint == "history_import.upload":
        request.max_content_length = import_jobs.MAX_UPLOAD_BYTES


@bp.errorhandler(RequestEntityTooLarge)
def too_large(_error: RequestEntityTooLarge) -> ResponseReturnValue:
    message = _(
        "Fichiers trop volumineux : l'import accepte au plus %(megabytes)d Mo par envoi. "
        "Coupez le fichier en plusieurs parties (dans l'ordre des dates) et importez-les "
        "l'une après l'autre.",
        megabytes=import_jobs.MAX_UPLOAD_BYTES // (1024 * 1024),
    )
    # Raised while the body is read, before `access` ran: the page is for coordinators.
    if current_user.is_authenticated and current_user.role == ROLE_COORDINATOR:
        return page(ImportForm(formdata=None), 413, too_large=message)
    return render_template("error.html", code=413, message=message), 413


def page(form: ImportForm, status: int = 200, **context: Any) -> ResponseReturnValue:
    recent = db.session.scalars(
        select(ImportJob).order_by(ImportJob.id.desc()).limit(RECENT_JOBS)
    ).all()
    return (
        render_template(
            "console/import.html",
            form=form,
            columns=history_files.COLUMNS,
            headers=_french_headers(),
            recent=recent,
            max_megabytes=import_jobs.MAX_UPLOAD_BYTES // (1024 * 1024),
            **context,
        ),
        status,
    )


def _french_headers() -> dict[str, str]:
    """Each table's header in French, as the page shows it."""
    return {
        kind: ";".join(history_files.header_name(kind, c) for c in columns)
        for kind, columns in history_files.COLUMNS.items()
    }


@bp.get("")
@access(COORDINATOR)
def form_page() -> ResponseReturnValue:
    return page(ImportForm())


@bp.post("")
@access(COORDINATOR)
def upload() -> ResponseReturnValue:
    """Store the files, record the job, answer at once: the job's page follows it."""
    form = ImportForm()
    if not form.validate_on_submit():
        return page(form, 422)
    if (busy := import_jobs.job_in_progress(db.session)) is not None:
        return page(form, 409, busy=busy)
    resolutions = form.resolutions.data.read() if form.resolutions.data else None
    job = import_jobs.create_import(
        db.session,
        current_user._get_current_object(),
        form.reports.data.read(),
        resolutions or None,
        bool(form.dry_run.data),
    )
    db.session.commit()
    import_jobs.dispatch(job.id)
    return redirect(url_for(".job", ident=job.id), 303)


@bp.get("/<id:ident>")
@access(COORDINATOR)
def job(ident: int) -> ResponseReturnValue:
    row = db.session.get(ImportJob, ident)
    if row is None:
        abort(404)
    number = min(max(request.args.get("page", 1, type=int) or 1, 1), 10**6)
    response = current_app.make_response(
        render_template(
            "console/import_job.html",
            row=row,
            progress=import_jobs.progress(row),
            lost=import_jobs.lost(row),
            summary=import_jobs.summary_lines(row),
            problems=import_jobs.problem_page(row, number),
        )
    )
    if not row.finished and not import_jobs.lost(row):
        response.headers["Refresh"] = "2"  # the page polls until the job is done
    return response


@bp.get("/<name>")
@access(COORDINATOR)
def template(name: str) -> ResponseReturnValue:
    """A file to fill in: the workbook (headers and lists in one language) or a CSV."""
    if name in WORKBOOK_NAMES:
        content, mimetype = history_template.workbook(db.session, WORKBOOK_NAMES[name]), XLSX
    else:
        kinds = {file_name: kind for kind, file_name in TEMPLATE_NAMES.items()}
        if name not in kinds:
            abort(404)
        content, mimetype = history_files.template(kinds[name]), "text/csv"
    return Response(
        content,
        mimetype=mimetype,
        headers={"Content-Disposition": f"attachment; filename={name}"},
    )
