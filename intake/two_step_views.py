"""The second step of a sign-in (« Deuxième étape ») and its setup on the profile.

After the right password an account with a second step is not signed in yet: the
session holds a pending marker (the account, its session version, when), good for
five minutes, and the page asks a code of the code app, a recovery code, or a
passkey (`static/two_step.js`; without JavaScript the code form works alone).
Failures are throttled per account and per client like passwords, and audited.

The setup page (`/profil/deuxieme-etape`) sets up a code app (a QR code and the
secret in text, confirmed by one code), shows the ten recovery codes once, adds and
removes passkeys, and turns the second step off unless REQUIRE_TWO_STEP requires it.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from barometre import clock, services, two_step
from barometre.auth import PUBLIC, USER, access, check_password
from barometre.errors import ValidationFailed
from barometre.extensions import DbSession, db
from barometre.models import PasskeyCredential, User
from barometre.settings import Settings
from barometre.settings import current as settings
from barometre.text import refusal

from . import throttle
from .blueprint import bp, client_address, home_for, safe_next
from .forms import ActionForm, ConfirmPasswordForm, SecondStepForm, TotpSetupForm
from .signin import sign_in

PENDING_KEY = "two_step_pending"
CHALLENGE_KEY = "two_step_challenge"
SETUP_SECRET_KEY = "two_step_secret"  # noqa: S105 - a session key's name
NEW_CODES_KEY = "two_step_new_codes"
PENDING_FOR = timedelta(minutes=5)
NO_STORE = {"Cache-Control": "no-store"}


def _stamp(moment: datetime) -> int:
    return calendar.timegm(moment.utctimetuple())


# --- the pending sign-in ----------------------------------------------------------------------


def begin(user: User, next_url: str) -> ResponseReturnValue:
    """The password was right and the account has a second step: ask it."""
    session[PENDING_KEY] = {
        "u": user.id,
        "v": user.session_version,
        "at": _stamp(clock.now()),
        "next": next_url,
    }
    session.pop(CHALLENGE_KEY, None)
    return redirect(url_for("intake.second_step"), 303)


def pending_user() -> User | None:
    """The account whose password was right less than five minutes ago, if still valid."""
    marker = session.get(PENDING_KEY)
    if not isinstance(marker, dict):
        return None
    at, ident, version = marker.get("at"), marker.get("u"), marker.get("v")
    if not isinstance(at, int) or not isinstance(ident, int):
        session.pop(PENDING_KEY, None)
        return None
    if _stamp(clock.now()) - at > PENDING_FOR.total_seconds():
        session.pop(PENDING_KEY, None)
        return None
    user = db.session.get(User, ident)
    if user is None or not user.is_active or user.session_version != version:
        session.pop(PENDING_KEY, None)
        return None
    return user


def _finish(user: User) -> str:
    """The second step is done: the sign-in completes; where to go next."""
    marker = session.pop(PENDING_KEY, {})
    session.pop(CHALLENGE_KEY, None)
    db.session.commit()
    sign_in(user)
    return safe_next(str(marker.get("next") or ""), home_for(user))


def _expired_message() -> str:
    return _("La connexion a expiré : saisissez à nouveau votre mot de passe.")


def _expired() -> ResponseReturnValue:
    flash(_expired_message(), "error")
    return redirect(url_for("intake.login"), 303)


def _failed(user: User, method: str) -> None:
    throttle.record_second_step_failure(db.session, user.id, client_address())
    services.audit(db.session, user, "two_step.failure", user, method=method)
    db.session.commit()


def _throttled_message() -> str:
    return _("Trop de tentatives pour la deuxième étape. Réessayez dans une minute.")


def _throttled(user: User) -> bool:
    return throttle.second_step_throttled(db.session, user.id, client_address())


def _second_step_page(user: User, form: SecondStepForm, refused: str = "") -> str:
    return render_template(
        "intake/second_step.html",
        form=form,
        refused=refused,
        has_totp=two_step.has_totp(user),
        has_passkey=two_step.has_passkey(db.session, user),
    )


@bp.route("/connexion/deuxieme-etape", methods=["GET", "POST"])
@access(PUBLIC)
def second_step() -> ResponseReturnValue:
    user = pending_user()
    if user is None:
        return _expired()
    form = SecondStepForm()
    if request.method != "POST":
        return _second_step_page(user, form), 200, NO_STORE
    if _throttled(user):
        return _second_step_page(user, form, _throttled_message()), 429, NO_STORE
    if not form.validate_on_submit():
        return _second_step_page(user, form), 422, NO_STORE
    code = form.code.data or ""
    digits = "".join(code.split())
    if len(digits) == 6 and digits.isdigit():
        accepted = two_step.verify_totp(db.session, user, digits)
        method = "totp"
    else:
        accepted = two_step.use_recovery_code(db.session, user, code)
        method = "recovery_code"
    if not accepted:
        _failed(user, method)
        refused = _("Code incorrect ou déjà utilisé.")
        return _second_step_page(user, SecondStepForm(formdata=None), refused), 422, NO_STORE
    target = _finish(user)
    if method == "recovery_code":
        left = two_step.recovery_codes_left(db.session, user)
        message = ngettext(
            "Code de secours utilisé : il vous en reste %(num)d.",
            "Code de secours utilisé : il vous en reste %(num)d.",
            left,
        )
        flash(message, "info")
    return redirect(target, 303)


def _json_error(message: str, status: int) -> ResponseReturnValue:
    return jsonify(error=message), status


@bp.post("/connexion/deuxieme-etape/cle/options")
@access(PUBLIC)
def passkey_options() -> ResponseReturnValue:
    user = pending_user()
    if user is None:
        return _json_error(_expired_message(), 400)
    if _throttled(user):
        return _json_error(_throttled_message(), 429)
    ceremony = two_step.authentication_options(db.session, user, settings())
    session[CHALLENGE_KEY] = ceremony.challenge
    return ceremony.options, 200, {"Content-Type": "application/json", **NO_STORE}


def _json_body() -> dict[str, Any] | None:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else None


@bp.post("/connexion/deuxieme-etape/cle")
@access(PUBLIC)
def passkey_sign_in() -> ResponseReturnValue:
    user = pending_user()
    if user is None:
        return _json_error(_expired_message(), 400)
    if _throttled(user):
        return _json_error(_throttled_message(), 429)
    challenge = session.pop(CHALLENGE_KEY, None)
    data = _json_body()
    if not isinstance(challenge, str) or data is None:
        return _json_error(_("Demande incomplète : recommencez."), 400)
    try:
        two_step.verify_passkey(db.session, user, settings(), data, challenge)
    except two_step.PasskeyRefused:
        db.session.rollback()
        _failed(user, "passkey")
        return _json_error(_("Cette clé d'accès n'a pas été acceptée."), 422)
    return jsonify(redirect=_finish(user))


# --- the setup page -----------------------------------------------------------------------------


def _setup_secret() -> str:
    secret = session.get(SETUP_SECRET_KEY)
    if not isinstance(secret, str) or len(secret) != 32:
        secret = two_step.new_secret()
        session[SETUP_SECRET_KEY] = secret
    return secret


def _setup_page(
    totp_form: TotpSetupForm | None = None,
    password_form: ConfirmPasswordForm | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    user: User = current_user._get_current_object()
    context: dict[str, Any] = {}
    if not two_step.has_totp(user):
        secret = _setup_secret()
        uri = two_step.provisioning_uri(secret, user)
        context = {
            "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "qr_svg": two_step.qr_svg(uri, _("Code QR à scanner avec votre application")),
        }
    html = render_template(
        "intake/two_step_setup.html",
        totp_form=totp_form or TotpSetupForm(formdata=None),
        password_form=password_form or ConfirmPasswordForm(formdata=None),
        action_form=ActionForm(formdata=None),
        has_totp=two_step.has_totp(user),
        passkeys=two_step.passkeys(db.session, user),
        codes_left=two_step.recovery_codes_left(db.session, user),
        has_second_step=two_step.has_second_step(db.session, user),
        required=two_step.required(user, settings()),
        **context,
    )
    return html, status, NO_STORE


def _codes_page(codes: list[str]) -> ResponseReturnValue:
    """The recovery codes, shown once: rendered in this answer, never stored in clear."""
    return render_template("intake/recovery_codes.html", codes=codes), 200, NO_STORE


@bp.get("/profil/deuxieme-etape")
@access(USER, before_two_step=True)
def two_step_setup() -> ResponseReturnValue:
    return _setup_page()


@bp.post("/profil/deuxieme-etape/application")
@access(USER, before_two_step=True)
def two_step_totp() -> ResponseReturnValue:
    form = TotpSetupForm()
    if two_step.has_totp(current_user):
        return redirect(url_for("intake.two_step_setup"), 303)
    if not form.validate_on_submit():
        return _setup_page(totp_form=form, status=422)
    codes = two_step.confirm_totp(db.session, current_user, _setup_secret(), form.code.data or "")
    if codes is None:
        db.session.rollback()
        form.code.errors = [_("Code incorrect : vérifiez l'heure du téléphone et réessayez.")]
        return _setup_page(totp_form=form, status=422)
    db.session.commit()
    session.pop(SETUP_SECRET_KEY, None)
    if codes:
        return _codes_page(codes)
    flash(_("Application de codes enregistrée."), "success")
    return redirect(url_for("intake.two_step_setup"), 303)


def _password_confirmed(form: ConfirmPasswordForm) -> bool:
    if not form.validate_on_submit():
        return False
    if not check_password(current_user, form.password.data or ""):
        form.password.errors = [_("Mot de passe incorrect.")]
        return False
    return True


def _refused(failed: ValidationFailed) -> ResponseReturnValue:
    db.session.rollback()
    for messages in failed.errors.values():
        for message in messages:
            flash(message, "error")
    return redirect(url_for("intake.two_step_setup"), 303)


@bp.post("/profil/deuxieme-etape/application/retirer")
@access(USER, before_two_step=True)
def two_step_remove_totp() -> ResponseReturnValue:
    return _change_with_password(
        two_step.has_totp(current_user), two_step.remove_totp, _("Application de codes retirée.")
    )


@bp.post("/profil/deuxieme-etape/codes")
@access(USER, before_two_step=True)
def two_step_codes() -> ResponseReturnValue:
    if not two_step.has_second_step(db.session, current_user):
        return redirect(url_for("intake.two_step_setup"), 303)
    form = ConfirmPasswordForm()
    if not _password_confirmed(form):
        return _setup_page(password_form=form, status=422)
    codes = two_step.new_recovery_codes(db.session, current_user)
    db.session.commit()
    return _codes_page(codes)


@bp.post("/profil/deuxieme-etape/desactiver")
@access(USER, before_two_step=True)
def two_step_disable() -> ResponseReturnValue:
    return _change_with_password(
        two_step.has_second_step(db.session, current_user),
        two_step.disable,
        _("Deuxième étape désactivée."),
    )


def _change_with_password(
    applies: bool, change: Callable[[DbSession, User, Settings], object], done: str
) -> ResponseReturnValue:
    """A change of the second step that asks the password again: nothing to change sends
    back to the setup page; a wrong password shows it again (422); a refused change says
    why (`_refused`); a done one says so."""
    if not applies:
        return redirect(url_for("intake.two_step_setup"), 303)
    form = ConfirmPasswordForm()
    if not _password_confirmed(form):
        return _setup_page(password_form=form, status=422)
    try:
        change(db.session, current_user, settings())
    except ValidationFailed as failed:
        return _refused(failed)
    db.session.commit()
    flash(done, "success")
    return redirect(url_for("intake.two_step_setup"), 303)


@bp.post("/profil/deuxieme-etape/cles/options")
@access(USER, before_two_step=True)
def passkey_register_options() -> ResponseReturnValue:
    ceremony = two_step.registration_options(db.session, current_user, settings())
    session[CHALLENGE_KEY] = ceremony.challenge
    return ceremony.options, 200, {"Content-Type": "application/json", **NO_STORE}


@bp.post("/profil/deuxieme-etape/cles")
@access(USER, before_two_step=True)
def passkey_register() -> ResponseReturnValue:
    challenge = session.pop(CHALLENGE_KEY, None)
    data = _json_body()
    credential = data.get("credential") if data is not None else None
    if not isinstance(challenge, str) or data is None or not isinstance(credential, dict):
        return _json_error(_("Demande incomplète : recommencez."), 400)
    name = data.get("name") if isinstance(data.get("name"), str) else ""
    name = str(name).strip()
    if len(name) > 100 or refusal(name, multiline=False):
        return _json_error(_("Nom refusé : une ligne de 100 caractères au plus."), 422)
    try:
        _passkey, codes = two_step.add_passkey(
            db.session, current_user, settings(), credential, challenge, name
        )
    except two_step.PasskeyRefused:
        db.session.rollback()
        return _json_error(_("Cette clé d'accès n'a pas pu être enregistrée."), 422)
    except ValidationFailed as failed:
        db.session.rollback()
        return _json_error(" ".join(m for ms in failed.errors.values() for m in ms), 422)
    db.session.commit()
    if codes:
        # Shown once, by the next page: kept in the session until then.
        session[NEW_CODES_KEY] = codes
        return jsonify(redirect=url_for("intake.two_step_new_codes"))
    flash(_("Clé d'accès ajoutée."), "success")
    return jsonify(redirect=url_for("intake.two_step_setup"))


@bp.get("/profil/deuxieme-etape/codes")
@access(USER, before_two_step=True)
def two_step_new_codes() -> ResponseReturnValue:
    codes = session.pop(NEW_CODES_KEY, None)
    if not isinstance(codes, list) or not codes:
        return redirect(url_for("intake.two_step_setup"), 303)
    return _codes_page([str(code) for code in codes])


@bp.post("/profil/deuxieme-etape/cles/<id:passkey_id>/retirer")
@access(USER, before_two_step=True)
def passkey_remove(passkey_id: int) -> ResponseReturnValue:
    form = ActionForm()
    passkey = db.session.get(PasskeyCredential, passkey_id)
    if passkey is None or passkey.user_id != current_user.id:
        abort(404)
    if not form.validate_on_submit():
        abort(400)
    others = [p for p in two_step.passkeys(db.session, current_user) if p.id != passkey.id]
    if not others and not two_step.has_totp(current_user):
        # The last second step: turning it off asks the password (« Désactiver »).
        flash(_("C'est votre dernière deuxième étape : utilisez « Désactiver »."), "error")
        return redirect(url_for("intake.two_step_setup"), 303)
    try:
        two_step.remove_passkey(db.session, current_user, passkey, settings())
    except ValidationFailed as failed:
        return _refused(failed)
    db.session.commit()
    flash(_("Clé d'accès retirée."), "success")
    return redirect(url_for("intake.two_step_setup"), 303)
