"""The Celery app: `celery -A alerts worker` and `celery -A alerts beat`.

Configuration is read from the environment (the same `Settings` as the web
app) when Celery first needs it, never at import. Each worker process creates
the Flask app once, lazily, and runs every task inside its app context.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, Task
from celery.schedules import crontab
from flask import Flask

from barometre.settings import Settings

SEND_TIME_LIMIT = 90  # seconds; below delivery.SENDING_TIMEOUT
RECONCILE_EVERY = 60.0

_flask_app: Flask | None = None


def flask_app() -> Flask:
    """The Flask app of this worker process, created on first use."""
    global _flask_app
    if _flask_app is None:
        from barometre import create_app

        _flask_app = create_app(Settings.from_env())
    return _flask_app


def use_flask_app(app: Flask | None) -> None:
    """Run tasks in this app (tests running tasks in-process)."""
    global _flask_app
    _flask_app = app


class FlaskTask(Task):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with flask_app().app_context():
            return self.run(*args, **kwargs)


def celery_config(settings: Settings) -> dict[str, Any]:
    return {
        "broker_url": settings.broker_url or "memory://",
        "task_default_queue": settings.celery_queue,
        "task_ignore_result": True,
        # Tasks are idempotent (conditional claims), so redelivery is safe and wanted.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_timeout": 2,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "socket_connect_timeout": 2,
            # Above the BRPOP timeout (1 s), so an idle consumer is not cut off.
            "socket_timeout": 5,
            "visibility_timeout": 3600,
        },
        "timezone": settings.timezone,
        "enable_utc": True,
        "worker_hijack_root_logger": False,
        "beat_schedule": beat_schedule(settings),
    }


def beat_schedule(settings: Settings) -> dict[str, Any]:
    return {
        # Each task run also refreshes the worker heartbeat (alerts.observe).
        "reconcile": {"task": "alerts.reconcile", "schedule": RECONCILE_EVERY},
        "retention": {"task": "alerts.purge_retention", "schedule": crontab(minute=30, hour=3)},
        "weekly-digest": {
            "task": "alerts.send_digest",
            # DIGEST_DAY counts from Monday = 0; crontab counts from Sunday = 0.
            "schedule": crontab(
                minute=0, hour=settings.digest_hour, day_of_week=(settings.digest_day + 1) % 7
            ),
        },
    }


def _configure(sender: Celery, **_: Any) -> None:
    sender.config_from_object(celery_config(Settings.from_env()))


celery_app = Celery("alerts", task_cls=FlaskTask)
celery_app.on_configure.connect(_configure, weak=False)
