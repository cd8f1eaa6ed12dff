"""Alerts: the Celery app, level-change alerts, email delivery and the weekly digest.

`celery -A alerts worker` / `celery -A alerts beat` find the Celery app here
as `app` (also `celery`). `init_app` wires the package into the Flask app.
"""

from __future__ import annotations

from flask import Flask

from . import tasks  # noqa: F401 - registers the tasks on the Celery app
from .celery_app import celery_app

app = celery_app
celery = celery_app


def init_app(flask_app: Flask) -> None:
    """Hook, session listeners, blueprint and commands: called once by create_app."""
    from barometre import account_mail, services
    from barometre.console import jobs, status

    from .account import MAILER
    from .account import install_listeners as install_account_listeners
    from .cli import register_cli
    from .dispatch import hand_over, job_via_celery
    from .embedded import start_ticker
    from .events import on_level_change
    from .follow_views import bp as follow_bp
    from .handoff import install_listeners
    from .trouble import console_status
    from .views import bp

    if on_level_change not in services.LEVEL_CHANGE_HOOKS:
        services.LEVEL_CHANGE_HOOKS.append(on_level_change)
    if MAILER not in account_mail.ACCOUNT_MAILERS:
        account_mail.ACCOUNT_MAILERS.append(MAILER)
    if job_via_celery not in jobs.JOB_DISPATCHERS:
        jobs.JOB_DISPATCHERS.append(job_via_celery)
    if console_status not in status.STATUS_SOURCES:
        status.STATUS_SOURCES.append(console_status)
    install_listeners(hand_over)
    install_account_listeners()
    flask_app.register_blueprint(bp)
    flask_app.register_blueprint(follow_bp)
    register_cli(flask_app)

    @flask_app.before_request
    def ensure_ticker() -> None:
        start_ticker(flask_app)


__all__ = ["app", "celery", "celery_app", "init_app"]
