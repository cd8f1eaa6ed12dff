"""A user's own sessions: the signed-in browsers of the account, each of which can be ended."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from barometre import services, user_sessions
from barometre.auth import USER, access, current_session
from barometre.extensions import db

from .blueprint import bp
from .signin import sign_out


@bp.get("/profil/sessions")
@access(USER)
def sessions() -> ResponseReturnValue:
    current = current_session()
    rows = user_sessions.live(db.session, current_user)
    # The page lists where the account is signed in: no cache may keep it.
    html = render_template(
        "intake/sessions.html", rows=rows, current_id=current.id if current else None
    )
    return html, 200, {"Cache-Control": "no-store"}


@bp.post("/profil/sessions/<id:ident>/terminer")
@access(USER)
def end_session(ident: int) -> ResponseReturnValue:
    row = user_sessions.live_session(db.session, current_user, ident)
    if row is None:
        abort(404)
    current = current_session()
    if current is not None and row.id == current.id:
        sign_out()  # ending this browser's own session is signing out
        flash(_("Vous êtes déconnecté."), "info")
        return redirect(url_for("intake.login"), 303)
    user_sessions.end(db.session, row)
    services.audit(db.session, current_user, "session.end", current_user, session_id=row.id)
    db.session.commit()
    flash(_("Session terminée."), "success")
    return redirect(url_for("intake.sessions"), 303)


@bp.post("/profil/sessions/terminer-les-autres")
@access(USER)
def end_other_sessions() -> ResponseReturnValue:
    ended = user_sessions.end_all(db.session, current_user, keep=current_session())
    if ended:
        services.audit(db.session, current_user, "session.end_others", current_user, sessions=ended)
    db.session.commit()
    if ended:
        message = ngettext(
            "%(num)d autre session terminée.", "%(num)d autres sessions terminées.", ended
        )
    else:
        message = _("Aucune autre session n'était ouverte.")
    flash(message, "success")
    return redirect(url_for("intake.sessions"), 303)
