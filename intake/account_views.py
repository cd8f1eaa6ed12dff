"""Sign in and out, invitations, password links, profile and language."""

from __future__ import annotations

from typing import Any

from flask import (
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from barometre import password_links as links
from barometre import two_step
from barometre.auth import COORDINATOR, PUBLIC, USER, access, current_session
from barometre.errors import ValidationFailed
from barometre.extensions import db
from barometre.languages import LANGUAGES, supported
from barometre.models import MemberService, User
from barometre.settings import current as settings

from . import accounts, two_step_views
from .blueprint import bp, client_address, current_language, home_for, safe_next
from .forms import (
    ChangePasswordForm,
    ForgotPasswordForm,
    InviteForm,
    LanguageForm,
    LoginForm,
    SetPasswordForm,
)
from .signin import sign_in, sign_out, stay_signed_in

LANG_COOKIE_AGE = 365 * 24 * 3600

# The profile's language is the emails' (alerts, digest, links); the header's switch is not.
EMAILS_SENT_IN = {
    "fr": _l(
        "Les courriels vous sont envoyés en français ; le choix de langue en haut de page "
        "ne change que la langue des pages."
    ),
    "nl": _l(
        "Les courriels vous sont envoyés en néerlandais ; le choix de langue en haut de page "
        "ne change que la langue des pages."
    ),
    "en": _l(
        "Les courriels vous sont envoyés en anglais ; le choix de langue en haut de page "
        "ne change que la langue des pages."
    ),
}


@bp.route("/connexion", methods=["GET", "POST"])
@access(PUBLIC)
def login() -> ResponseReturnValue:
    form = LoginForm()
    if request.method != "POST":  # GET, HEAD: the page; only a POST changes anything
        form.next.data = request.args.get("next", "")
    if not form.validate_on_submit():
        return render_template("intake/login.html", form=form), 422 if form.errors else 200
    try:
        user = accounts.authenticate(
            db.session, form.email.data or "", form.password.data or "", client_address()
        )
    except accounts.Throttled:
        db.session.rollback()
        message = _("Trop de tentatives de connexion. Réessayez dans une minute.")
        return render_template("intake/login.html", form=form, refused=message), 429
    db.session.commit()
    if user is None:
        error = _("Adresse électronique ou mot de passe incorrect.")
        return render_template("intake/login.html", form=form, refused=error), 422
    return _after_password(user, safe_next(form.next.data, home_for(user)))


def _after_password(user: User, target: str) -> ResponseReturnValue:
    """The password is right: the second step when the account has one; else signed in,
    and sent to set one up first when REQUIRE_TWO_STEP asks it of this account."""
    if two_step.has_second_step(db.session, user):
        return two_step_views.begin(user, target)
    sign_in(user)
    if two_step.required(user, settings()):
        flash(
            _("Votre compte demande une deuxième étape : configurez-en une pour continuer."), "info"
        )
        return redirect(url_for("intake.two_step_setup"), 303)
    return redirect(target, 303)


@bp.post("/deconnexion")
@access(PUBLIC, before_two_step=True)
def logout() -> ResponseReturnValue:
    # This session ends on the server: a saved copy of its cookie signs no one in again.
    sign_out()
    flash(_("Vous êtes déconnecté."), "info")
    return redirect(url_for("intake.login"), 303)


@bp.route("/mot-de-passe/oubli", methods=["GET", "POST"])
@access(PUBLIC)
def forgot_password() -> ResponseReturnValue:
    form = ForgotPasswordForm()
    if not form.validate_on_submit():
        return render_template("intake/forgot.html", form=form), 422 if form.errors else 200
    try:
        accounts.request_reset(
            db.session, form.email.data or "", client_address(), current_language()
        )
    except accounts.Throttled:
        db.session.rollback()
        message = _("Trop de demandes de lien. Réessayez dans quelques minutes.")
        return render_template("intake/forgot.html", form=form, refused=message), 429
    db.session.commit()
    # The same answer whether the account exists or not.
    flash(_("Si un compte existe pour cette adresse, un lien vient de lui être envoyé."), "info")
    return redirect(url_for("intake.login"), 303)


@bp.route("/mot-de-passe/definir/<token>", methods=["GET", "POST"])
@access(PUBLIC)
def set_password(token: str) -> ResponseReturnValue:
    check = links.check_token(db.session, token)
    if check.user is None:
        if check.expired:
            message = _("Ce lien a expiré. Demandez-en un nouveau.")
        else:
            message = _("Ce lien n'est pas valide ou a déjà servi.")
        return render_template("intake/link_invalid.html", message=message), 400
    form = SetPasswordForm()
    if not form.validate_on_submit():
        status = 422 if form.errors else 200
        return render_template("intake/set_password.html", form=form, user=check.user), status
    accounts.set_password(db.session, check.user, form.password.data or "")
    db.session.commit()
    flash(_("Votre mot de passe est enregistré."), "success")
    return _after_password(check.user, home_for(check.user))


@bp.get("/profil")
@access(USER)
def profile() -> ResponseReturnValue:
    language = current_user.language or current_language()
    return _profile_page(LanguageForm(language=language), ChangePasswordForm())


def _profile_page(
    language_form: LanguageForm, password_form: ChangePasswordForm, status: int = 200
) -> ResponseReturnValue:
    return (
        render_template(
            "intake/profile.html",
            language_form=language_form,
            password_form=password_form,
            emails_sent_in=EMAILS_SENT_IN[supported(current_user.language)],
        ),
        status,
    )


@bp.post("/profil/langue")
@access(USER)
def profile_language() -> ResponseReturnValue:
    form = LanguageForm()
    if not form.validate_on_submit():
        return _profile_page(form, ChangePasswordForm(formdata=None), 422)
    accounts.set_language(db.session, current_user, form.language.data or "fr")
    db.session.commit()
    flash(_("Langue enregistrée."), "success")
    return redirect(url_for("intake.profile"), 303)


@bp.post("/profil/mot-de-passe")
@access(USER)
def profile_password() -> ResponseReturnValue:
    form = ChangePasswordForm()
    language = current_user.language or current_language()
    language_form = LanguageForm(formdata=None, language=language)
    if form.validate_on_submit():
        try:
            accounts.change_password(
                db.session,
                current_user,
                form.current_password.data or "",
                form.password.data or "",
                keep=current_session(),
            )
        except ValidationFailed as failed:
            db.session.rollback()
            form.current_password.errors = [
                *form.current_password.errors,
                *failed.errors.get("current_password", []),
            ]
        else:
            db.session.commit()
            # Other sessions end with the new session_version; this one goes on.
            stay_signed_in(current_user._get_current_object())
            flash(_("Mot de passe changé. Vos autres sessions sont fermées."), "success")
            return redirect(url_for("intake.profile"), 303)
    return _profile_page(language_form, form, 422)


@bp.post("/langue")
@access(PUBLIC, before_two_step=True)
def choose_language() -> ResponseReturnValue:
    """The header's language switch: the pages' language, a cookie, for everyone.

    It never changes a signed-in user's profile language, which is the language of
    their emails (the profile says so).
    """
    language = request.form.get("lang", "")
    if language not in LANGUAGES:
        abort(400)
    response = make_response(
        redirect(safe_next(request.form.get("next"), url_for("barometre.index")), 303)
    )
    response.set_cookie(
        "lang",
        language,
        max_age=LANG_COOKIE_AGE,
        samesite="Lax",
        secure=settings().base_url.startswith("https://"),
        httponly=True,
    )
    return response


def _service_choices() -> list[SelectChoice]:
    query = select(MemberService).where(MemberService.active.is_(True)).order_by(MemberService.name)
    services = db.session.scalars(query)
    return [SelectChoice("", "—")] + [SelectChoice(str(s.id), s.name) for s in services]


@bp.route("/coordination/utilisateurs/inviter", methods=["GET", "POST"])
@access(COORDINATOR)
def invite() -> ResponseReturnValue:
    form = InviteForm()
    form.service.choices = _service_choices()
    if not form.validate_on_submit():
        if form.errors:
            # Type errors first; the database adds what it knows of the other fields.
            _add_errors(form, accounts.invitation_errors(db.session, _invitation(form)))
        return render_template("intake/invite.html", form=form), 422 if form.errors else 200
    try:
        user = accounts.invite(db.session, current_user, _invitation(form))
    except ValidationFailed as failed:
        db.session.rollback()
        _add_errors(form, failed.errors)
        return render_template("intake/invite.html", form=form), 422
    invitation = links.email_link(db.session, user, links.INVITE)
    db.session.commit()
    _say_where(user, invitation.state(db.session))
    return redirect(url_for("intake.invite"), 303)


def _say_where(user: User, state: links.EmailState) -> None:
    """Where the invitation is: sent (embedded), queued (a worker sends it) or not yet."""
    if state.sent:
        flash(_("Invitation envoyée à %(email)s.", email=user.email), "success")
    elif state.waiting:
        message = _(
            "Invitation à %(email)s en file d'envoi : son état est sur la page Notifications.",
            email=user.email,
        )
        flash(message, "info")
    elif state.state == "pending":
        message = _(
            "Le compte %(email)s est créé mais le courriel n'a pas pu partir : nouvel essai "
            "automatique, son état est sur la page Notifications.",
            email=user.email,
        )
        flash(message, "error")
    else:
        message = _(
            "Le compte %(email)s est créé mais le courriel n'a pas pu partir : "
            "la page Notifications dit pourquoi et permet de le relancer.",
            email=user.email,
        )
        flash(message, "error")


def _invitation(form: InviteForm) -> accounts.Invitation:
    """The form as an invitation; a value that failed its own checks is left empty."""

    def usable(field: Any) -> Any:
        return None if field.errors else field.data

    return accounts.Invitation(
        email=usable(form.email) or "",
        role=usable(form.role) or "",
        service_id=usable(form.service),
        language=usable(form.language) or current_language(),
        name=usable(form.name) or "",
    )


def _add_errors(form: InviteForm, errors: dict[str, list[str]]) -> None:
    """Errors next to their fields, unless the field already shows one."""
    for name, messages in errors.items():
        field = form._fields[name]
        if not field.errors:
            field.errors = [*field.errors, *messages]
