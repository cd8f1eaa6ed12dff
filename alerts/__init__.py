"""Alerts: the Celery app, level-change alerts, email delivery and the weekly digest.

`celery -A alerts worker` / `celery -A alerts beat` find the Celery app here
as `app` (also `celery`). `init_app` wires the package into the Flask app.
"""

from __future__ import annotations

from flask import Flask

from barometre import signals

from . import (
    account,
    dispatch,
    events,
    handoff,
    tasks,  # noqa: F401 - registers the tasks on the Celery app
    trouble,
)
from .celery_app import celery_app
from .channels import openapi as channels_openapi
from .channels import service as channels
from .cli import register_cli
from .embedded import start_ticker
from .follow import service as follow
from .follow.views import bp as follow_bp
from .views import bp

app = celery_app
celery = celery_app


def init_app(flask_app: Flask) -> None:
    """Receivers, session listeners, blueprints and commands: called by create_app (each
    receiver is a module-level function, connected once however many apps are made)."""
    signals.level_changed.connect(events.on_level_change)
    signals.account_email_wanted.connect(account.queue)
    signals.signed_in_from_new_device.connect(account.queue_new_device)
    signals.job_asked.connect(dispatch.job_via_celery)
    signals.status_asked.connect(trouble.console_status)
    signals.work_committed.connect(dispatch.hand_over)
    signals.holdings_asked.connect(follow.holdings)
    signals.holdings_asked.connect(channels.holdings)
    signals.retention_due.connect(follow.purge)
    signals.openapi_asked.connect(channels_openapi.part)
    handoff.install_listeners()
    account.install_listeners()
    flask_app.register_blueprint(bp)
    flask_app.register_blueprint(follow_bp)
    register_cli(flask_app)

    @flask_app.before_request
    def ensure_ticker() -> None:
        start_ticker(flask_app)


__all__ = ["app", "celery", "celery_app", "init_app"]
