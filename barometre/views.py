"""The barometer pages (a plain list for now; the full pages grow here)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from .auth import BAROMETER, access
from .extensions import db
from .queries import barometer

bp = Blueprint("barometre", __name__)


@bp.get("/")
@access(BAROMETER)
def index() -> ResponseReturnValue:
    views = barometer(db.session, with_situations=False)
    return render_template("barometre/index.html", views=views)
