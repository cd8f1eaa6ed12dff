"""A user's own API tokens: create (shown once), list, revoke."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from barometre import account_access, services
from barometre.auth import USER, access, create_token
from barometre.extensions import db
from barometre.models import ApiToken

from .blueprint import bp
from .forms import TokenForm


def _my_tokens() -> list[ApiToken]:
    query = (
        select(ApiToken)
        .where(ApiToken.user_id == current_user.id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    return list(db.session.scalars(query))


def _page(form: TokenForm, new_token: str | None = None, status: int = 200) -> ResponseReturnValue:
    html = render_template(
        "intake/tokens.html", form=form, tokens=_my_tokens(), new_token=new_token
    )
    # The page may hold a token shown once: no cache may keep it.
    return html, status, {"Cache-Control": "no-store"}


@bp.get("/jetons")
@access(USER)
def tokens() -> ResponseReturnValue:
    return _page(TokenForm())


@bp.post("/jetons")
@access(USER)
def create_api_token() -> ResponseReturnValue:
    form = TokenForm()
    if not form.validate_on_submit():
        return _page(form, status=422)
    token = create_token(db.session, current_user, (form.name.data or "").strip())
    services.audit(db.session, current_user, "token.create", current_user)
    db.session.commit()
    # Rendered, not redirected: the token exists only in this answer.
    return _page(TokenForm(formdata=None), new_token=token, status=201)


@bp.post("/jetons/<id:token_id>/revoquer")
@access(USER)
def revoke_api_token(token_id: int) -> ResponseReturnValue:
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != current_user.id:
        abort(404)
    account_access.revoke_token(db.session, current_user, token)
    db.session.commit()
    flash(_("Jeton révoqué."), "success")
    return redirect(url_for("intake.tokens"), 303)
