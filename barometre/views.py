"""The barometer pages (a plain list for now; the full pages grow here)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_login import current_user
from markupsafe import Markup

from .auth import BAROMETER, access
from .datacache import barometer_key, cache
from .extensions import db
from .queries import barometer

bp = Blueprint("barometre", __name__)


@bp.get("/")
@access(BAROMETER)
def index() -> ResponseReturnValue:
    audience = getattr(current_user, "role", None) if current_user.is_authenticated else None
    # The cards are the same for every visitor of one language and audience.
    key = (barometer_key(db.session), str(get_locale()), audience)
    cards = cache("barometre.cards").get(key, render_cards)
    return render_template("barometre/index.html", cards=cards)


def render_cards() -> Markup:
    views = barometer(db.session, with_situations=False)
    return Markup(render_template("barometre/_cards.html", views=views))  # noqa: S704 - rendered by Jinja with autoescape
