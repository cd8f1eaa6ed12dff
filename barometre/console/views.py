"""The coordinators' console under /coordination/ (every view: COORDINATOR).

Thin views: validate the form, call one service, commit once, flash in French,
redirect (POST -> redirect -> GET). Invalid forms are shown again with their
field errors (422).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload, selectinload

from barometre import services
from barometre.auth import COORDINATOR, access
from barometre.errors import DomainError, NotFound, ValidationFailed
from barometre.extensions import db
from barometre.models import (
    ROLES,
    SITUATION_OPEN,
    AuditEntry,
    Category,
    Contact,
    Establishment,
    MemberService,
    OfferType,
    Report,
    ReportCondition,
    Situation,
    User,
)
from barometre.presentation import REVIEW_STATES, ROLE_LABELS, SITUATION_STATES, label_map, lang
from barometre.states import ExportState

from ..settings import current as settings
from . import admin, exports, status
from .filters import Filters, report_clauses, situation_clauses
from .forms import (
    ActiveForm,
    ConditionForm,
    ContactForm,
    ExportForm,
    FilterForm,
    NameForm,
    NoteForm,
    RejectForm,
    ResolveForm,
    ReviewForm,
    ServiceForm,
    UserForm,
    apply_errors,
    options,
)
from .models import Export

bp = Blueprint("console", __name__, url_prefix="/coordination")

PER_PAGE = 50
MAX_PAGE = 1_000_000
INVALID = 422


EXPORT_STATES = ExportState.labels()

AUDIT_LABELS = {
    "report.reject": _l("Signalement rejeté"),
    "report.validate": _l("Signalement validé"),
    "situation.resolve": _l("Situation résolue"),
    "establishment.create": _l("Établissement ajouté"),
    "establishment.rename": _l("Établissement renommé"),
    "establishment.activate": _l("Établissement réactivé"),
    "establishment.deactivate": _l("Établissement désactivé"),
    "establishment.note.set": _l("Note du comité publiée"),
    "establishment.note.remove": _l("Note du comité retirée"),
    "contact.create": _l("Contact ajouté"),
    "contact.update": _l("Contact modifié"),
    "contact.remove": _l("Contact supprimé"),
    "service.create": _l("Service membre ajouté"),
    "service.update": _l("Service membre modifié"),
    "service.deactivate": _l("Service membre désactivé"),
    "user.create": _l("Compte créé"),
    "user.update": _l("Compte modifié"),
    "token.create": _l("Jeton d'API créé"),
    "condition.create": _l("Condition ajoutée"),
    "condition.update": _l("Libellé de condition modifié"),
    "condition.retire": _l("Condition retirée"),
    "condition.reinstate": _l("Condition remise"),
    "export.create": _l("Export demandé"),
    "service.alert_emails": _l("Adresses d'alerte modifiées"),
    "contact.save": _l("Contact enregistré"),
    "notification.retry": _l("Nouvel essai d'envoi demandé"),
    "notification.dismiss": _l("Échec d'envoi ignoré"),
    "address.preferences": _l("Préférences d'une adresse modifiées"),
    "user.invite": _l("Invitation envoyée"),
    "user.disable": _l("Compte désactivé"),
    "user.enable": _l("Compte réactivé"),
    "user.password_change": _l("Mot de passe changé"),
    "token.revoke": _l("Jeton d'API révoqué"),
    "retention.purge": _l("Données effacées en fin de conservation"),
    "history.import": _l("Historique du comité importé"),
}

# What an audit entry is about: `type(target).__name__.lower()` in services.audit.
AUDIT_TARGETS = {
    "report": _l("Signalement"),
    "situation": _l("Situation"),
    "establishment": _l("Établissement"),
    "contact": _l("Contact"),
    "memberservice": _l("Service membre"),
    "user": _l("Compte"),
    "apitoken": _l("Jeton d'API"),
    "condition": _l("Condition"),
    "export": _l("Export"),
    "notification": _l("Notification"),
    "addresspreference": _l("Adresse"),
}


@bp.context_processor
def console_helpers() -> dict[str, Any]:
    return {
        "export_states": EXPORT_STATES,
        "audit_label": lambda action: AUDIT_LABELS.get(action, action),
        "audit_target": lambda kind: AUDIT_TARGETS.get(kind, kind),
    }


def actor() -> User:
    user: User = current_user._get_current_object()
    return user


@bp.errorhandler(DomainError)
def domain_error(error: DomainError) -> ResponseReturnValue:
    db.session.rollback()
    if isinstance(error, NotFound):
        return render_template("error.html", code=404, message=error.message), 404
    flash(error.message or _("Action impossible."), "error")
    back = request.referrer or ""
    return redirect(back if back.startswith(request.host_url) else url_for(".home"))


def done(message: str, endpoint: str, **values: Any) -> ResponseReturnValue:
    db.session.commit()
    flash(message, "success")
    return redirect(url_for(endpoint, **values))


def failed(form: Any, error: ValidationFailed) -> None:
    db.session.rollback()
    apply_errors(form, error)


# --- filters --------------------------------------------------------------------------------


def filter_form(states: dict[str, Any]) -> tuple[FilterForm, Filters]:
    form = FilterForm(formdata=request.args)
    every = [("", _("Tous"))]
    form.establishment.choices = options(
        every
        + [
            (e.slug, e.name)
            for e in db.session.scalars(select(Establishment).order_by(Establishment.name))
        ]
    )
    form.category.choices = options(
        every
        + [
            (c.code, c.label(lang()))
            for c in db.session.scalars(select(Category).order_by(Category.position))
        ]
    )
    form.offer_type.choices = options(
        every
        + [
            (o.code, o.label(lang()))
            for o in db.session.scalars(select(OfferType).order_by(OfferType.position))
        ]
    )
    form.service.choices = options(
        every
        + [
            (str(s.id), s.name)
            for s in db.session.scalars(select(MemberService).order_by(MemberService.name))
        ]
    )
    form.state.choices = options(every + [(key, str(label)) for key, label in states.items()])
    form.validate()

    def chosen(field: Any) -> str:
        value = field.data or ""
        return value if value in {str(choice.value) for choice in field.choices} else ""

    service = chosen(form.service)
    filters = Filters(
        establishment=chosen(form.establishment),
        date_from=None if form.date_from.errors else form.date_from.data,
        date_to=None if form.date_to.errors else form.date_to.data,
        category=chosen(form.category),
        offer_type=chosen(form.offer_type),
        service=int(service) if service else None,
        state=chosen(form.state),
    )
    return form, filters


def paginate(query: Select[Any]) -> Pagination:
    """One page of a list; a page number past the end shows the last page.

    The number is bounded before it becomes an OFFSET (`?page=10**20` is no error).
    """
    number = min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_PAGE)
    page = db.paginate(query, page=number, per_page=PER_PAGE, error_out=False)
    if number > 1 and not page.items and page.pages:
        page = db.paginate(query, page=page.pages, per_page=PER_PAGE, error_out=False)
    return page


def labels() -> dict[str, Any]:
    offer_types = db.session.scalars(select(OfferType)).all()
    return {"offer_labels": label_map(offer_types)}


# --- home -----------------------------------------------------------------------------------


@bp.get("/")
@access(COORDINATOR)
def home() -> ResponseReturnValue:
    return render_template("console/home.html", lines=status.home_status(db.session))


@bp.app_template_global()
def console_troubles() -> list[status.Status]:
    """The banner of every console page (console/base.html), whichever blueprint renders it."""
    return status.troubles(db.session)


# --- review (R11) ---------------------------------------------------------------------------


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


# --- situations -----------------------------------------------------------------------------


@bp.get("/situations")
@access(COORDINATOR)
def situations() -> ResponseReturnValue:
    if "state" not in request.args:
        args: dict[str, Any] = {**request.args.to_dict(), "state": SITUATION_OPEN}
        return redirect(url_for(".situations", **args))
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


# --- establishments, committee note (R12), contacts ----------------------------------------


@bp.route("/etablissements", methods=["GET", "POST"])
@access(COORDINATOR)
def establishments() -> ResponseReturnValue:
    form = NameForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                row = admin.add_establishment(db.session, actor(), form.name.data)
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
        name_form=forms.get("name_form") or NameForm(name=row.name),
        note_form=forms.get("note_form") or NoteForm(note=row.committee_note),
        contact_form=forms.get("contact_form") or ContactForm(prefix="new"),
        active_form=ActiveForm(),
    )
    return page, status


@bp.route("/etablissements/<id:ident>", methods=["GET", "POST"])
@access(COORDINATOR)
def establishment(ident: int) -> ResponseReturnValue:
    if request.method == "GET":
        return establishment_page(ident)
    form = NameForm()
    if form.validate_on_submit():
        try:
            admin.rename_establishment(db.session, actor(), ident, form.name.data)
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
        note = "" if request.form.get("remove") else form.note.data
        try:
            admin.set_committee_note(db.session, actor(), ident, note)
        except ValidationFailed as error:
            failed(form, error)
        else:
            message = _("Note du comité publiée.") if note else _("Note du comité retirée.")
            return done(message, ".establishment", ident=ident)
    return establishment_page(ident, INVALID, note_form=form)


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


# --- member services ------------------------------------------------------------------------


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
    if request.method == "GET":
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


# --- users ----------------------------------------------------------------------------------


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
    if request.method == "GET":
        return render_template("console/user.html", row=row, form=user_form(row, False))
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
    return render_template("console/user.html", row=row, form=form), INVALID


# --- référentiel ----------------------------------------------------------------------------


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
    if request.method == "GET":
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


# --- audit log ------------------------------------------------------------------------------


@bp.get("/journal")
@access(COORDINATOR)
def journal() -> ResponseReturnValue:
    query = (
        select(AuditEntry)
        .options(joinedload(AuditEntry.actor))
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    )
    page = paginate(query)
    return render_template("console/journal.html", page=page)


# --- exports --------------------------------------------------------------------------------


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
    response = current_app.make_response(render_template("console/export.html", row=row))
    if not row.finished:
        response.headers["Refresh"] = "2"  # the page polls until the file is ready
    return response


@bp.get("/exports/<id:ident>/fichier")
@access(COORDINATOR)
def export_file(ident: int) -> ResponseReturnValue:
    row = db.session.get(Export, ident)
    if row is None or row.state != "done" or not row.file_path:
        abort(404)
    path = Path(row.file_path).resolve()
    if path.parent != exports.exports_dir().resolve() or not path.exists():
        abort(404)
    name = {"reports": _("signalements"), "situations": _("situations")}[row.kind]
    return send_file(path, as_attachment=True, download_name=f"{name}-{row.id}.{row.format}")
