"""The console home and the trouble shown on every page."""

from __future__ import annotations

from flask import render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from barometre.auth import COORDINATOR, access
from barometre.console import status
from barometre.extensions import db
from barometre.models import Report

from .base import bp


@bp.get("/")
@access(COORDINATOR)
def home() -> ResponseReturnValue:
    live = db.session.scalar(select(Report.id).where(Report.import_reference.is_(None)).limit(1))
    return render_template(
        "console/home.html", lines=status.home_status(db.session), live=live is not None
    )


@bp.app_template_global()
def console_troubles() -> list[status.Status]:
    """The banner of every console page (console/base.html), whichever blueprint renders it."""
    return status.troubles(db.session)
