"""The Celery app: `celery -A alerts worker` and `celery -A alerts beat`.

Configuration is read from the environment (the same `Settings` as the web
app) when Celery first needs it, never at import. A wrong setting stops the
process before it connects, with the French message of `flask` and
`gunicorn` (exit code 4); a worker or beat without a broker is refused too,
never run on Celery's defaults. Each worker process creates the Flask app
once, lazily, and runs every task inside its app context.

Process concerns (one JSON log line per event, heartbeats, the beat lock)
live in `alerts.process`.
"""

from __future__ import annotations

import threading
from typing import Any

from celery import Celery, Task
from celery.schedules import crontab
from flask import Flask
from kombu import Queue

from barometre import retention
from barometre.console import exports, import_jobs
from barometre.settings import Settings, settings_from_env_or_exit

RECONCILE_EVERY = 60.0

# Soft and hard time limits of every task, in seconds (set on each by the configuration's
# task_annotations). At the soft limit the task gets an exception it can clean up after;
# at the hard limit its process is killed.
# Every task is safe to run again (conditional claims), and the reconciler picks up
# what a killed one left: sends come due again, a stuck export is reset.
SEND_TIME_LIMIT = 90  # below delivery.SENDING_TIMEOUT
TIME_LIMITS: dict[str, tuple[int, int]] = {
    "alerts.send_notifications": (SEND_TIME_LIMIT - 30, SEND_TIME_LIMIT),
    "alerts.send_notification": (SEND_TIME_LIMIT - 30, SEND_TIME_LIMIT),
    "alerts.send_group": (SEND_TIME_LIMIT - 30, SEND_TIME_LIMIT),
    "alerts.reconcile": (100, 120),
    # The core's jobs: their hard limits are theirs (an export, a history import).
    exports.RUN_EXPORT: (exports.TIME_LIMIT - 30, exports.TIME_LIMIT),
    import_jobs.RUN_HISTORY_IMPORT: (import_jobs.TIME_LIMIT - 60, import_jobs.TIME_LIMIT),
    retention.PURGE_RETENTION: (retention.TIME_LIMIT - 30, retention.TIME_LIMIT),
    "alerts.send_digest": (270, 300),
}
# docker-compose.yml's stop_grace_period of the worker is longer than this.
LONGEST_TASK = max(hard for _soft, hard in TIME_LIMITS.values())

# A beat entry not taken within this many seconds is dropped: a worker that was
# away finds one reconcile waiting, not one for every minute it missed.
BEAT_EXPIRES: dict[str, float] = {
    "reconcile": RECONCILE_EVERY - 5,
    "retention": 3600.0,
    "weekly-digest": 3600.0,  # the reconciler catches a missed digest up anyway
}

# The tasks of the delivery queue (`Settings.delivery_queue`), run by a worker with a
# threads pool: they wait on SMTP and PostgreSQL, and threads overlap those waits.
DELIVERY_TASKS = ("alerts.send_notifications", "alerts.send_notification", "alerts.send_group")

_flask_app: Flask | None = None
_flask_app_lock = threading.Lock()


def flask_app() -> Flask:
    """The Flask app of this worker process, created on first use (once, by one thread)."""
    global _flask_app
    if _flask_app is None:
        with _flask_app_lock:
            if _flask_app is None:
                from barometre import create_app

                _flask_app = create_app(settings_from_env_or_exit())
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
        # memory:// serves only tasks run in-process (tests); worker and beat refuse it.
        "broker_url": settings.broker_url or "memory://",
        "task_default_queue": settings.celery_queue,
        # A worker started without -Q takes both queues; in production one takes each
        # (docker-compose.yml: `worker` the default queue, `delivery` the deliveries).
        "task_queues": [Queue(settings.celery_queue), Queue(settings.delivery_queue)],
        "task_routes": {name: {"queue": settings.delivery_queue} for name in DELIVERY_TASKS},
        "task_annotations": {
            name: {"soft_time_limit": soft, "time_limit": hard}
            for name, (soft, hard) in TIME_LIMITS.items()
        },
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
            # Above the longest task: a running task is never handed to a second worker.
            "visibility_timeout": 3600,
        },
        "timezone": settings.timezone,
        "enable_utc": True,
        # Logging is ours (alerts.process): JSON lines on stderr, nothing redirected.
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "beat_schedule": beat_schedule(settings),
        # The scheduler that holds the beat lock and beats for /readyz.
        "beat_scheduler": "alerts.process:GuardedScheduler",
        "beat_max_loop_interval": 10,
    }


def beat_schedule(settings: Settings) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "reconcile": {"task": "alerts.reconcile", "schedule": RECONCILE_EVERY},
        "retention": {
            "task": retention.PURGE_RETENTION,
            "schedule": crontab(minute=30, hour=3),
        },
        "weekly-digest": {
            "task": "alerts.send_digest",
            # DIGEST_DAY counts from Monday = 0; crontab counts from Sunday = 0.
            "schedule": crontab(
                minute=0, hour=settings.digest_hour, day_of_week=(settings.digest_day + 1) % 7
            ),
        },
    }
    for name, entry in schedule.items():
        entry["options"] = {"expires": BEAT_EXPIRES[name]}
    return schedule


def _configure(sender: Celery, **_: Any) -> None:
    # SystemExit, unlike an exception, is not swallowed by Celery's signal dispatch:
    # a wrong setting stops `celery -A alerts …` here, before any connection.
    sender.config_from_object(celery_config(settings_from_env_or_exit()))


class BarometreCelery(Celery):
    """Celery whose worker and beat programs log JSON lines instead of banners."""

    @property
    def Worker(self) -> Any:
        return self.subclass_with_self("alerts.process:Worker")

    @property
    def Beat(self) -> Any:
        return self.subclass_with_self("alerts.process:Beat")


celery_app = BarometreCelery("alerts", task_cls=FlaskTask)
celery_app.on_configure.connect(_configure, weak=False)
