"""The console home and the trouble shown on every page."""

from __future__ import annotations

from flask import render_template
from flask.typing import ResponseReturnValue

from barometre.auth import COORDINATOR, access
from barometre.console import status
from barometre.extensions import db

from .base import bp


@bp.get("/")
@access(COORDINATOR)
def home() -> ResponseReturnValue:
    return render_template("console/home.html", lines=status.home_status(db.session))


@bp.app_template_global()
def console_troubles() -> list[status.Status]:
    """The banner of every console page (console/base.html), whichever blueprint renders it."""
    return status.troubles(db.session)
