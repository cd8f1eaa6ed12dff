"""The addresses that follow an establishment (issue 19).

Coordinators see who follows what (paged, by establishment if asked) and may
remove a follower; each removal is audited, without the address.
"""

from __future__ import annotations

from flask import abort, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from barometre import follow
from barometre.auth import COORDINATOR, access
from barometre.console.forms import ReviewForm
from barometre.extensions import db
from barometre.models import Establishment, Follower
from barometre.routing import query_id

from .base import actor, bp, done, paginate


@bp.get("/abonnes")
@access(COORDINATOR)
def followers() -> ResponseReturnValue:
    chosen = request.args.get("etablissement", type=query_id)
    query = (
        select(Follower)
        .join(Follower.establishment)
        .options(joinedload(Follower.establishment))
        .order_by(Establishment.name, Follower.email, Follower.id)
    )
    if chosen is not None:
        query = query.where(Follower.establishment_id == chosen)
    establishments = db.session.scalars(select(Establishment).order_by(Establishment.name)).all()
    return render_template(
        "console/followers.html",
        page=paginate(query),
        establishments=establishments,
        chosen=chosen,
        remove_form=ReviewForm(),
    )


@bp.post("/abonnes/<id:ident>/supprimer")
@access(COORDINATOR)
def remove_follower(ident: int) -> ResponseReturnValue:
    row = db.session.get(Follower, ident)
    if row is None:
        abort(404)
    if not ReviewForm().validate_on_submit():
        abort(400)
    follow.remove(db.session, actor(), row)
    return done(_("Abonné retiré : il ne recevra plus rien."), ".followers")
