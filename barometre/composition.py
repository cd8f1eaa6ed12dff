"""The composition root: the one module of the core that imports intake and alerts.

The core never imports them (the import-linter contracts of pyproject.toml);
the app factory calls `compose` to register intake's blueprints and to wire
alerts in (its receivers of `barometre.signals`, its session listeners, pages
and commands). Alerts' worker builds the app in turn (`alerts.celery_app`), so
imports go round a circle through here: the only circle allowed
(tests/test_layering.py).
"""

from __future__ import annotations

from flask import Flask

import alerts
from intake.api import bp as intake_api
from intake.views import bp as intake_pages

from .extensions import csrf


def compose(app: Flask) -> None:
    app.register_blueprint(intake_api)
    app.register_blueprint(intake_pages)
    csrf.exempt(intake_api)
    alerts.init_app(app)
