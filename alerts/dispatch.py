"""Hand the work recorded in a transaction (`alerts.handoff`) over, once it commits:
to Celery, or in-process (embedded default).

With a broker, publishing uses a fresh connection with ~1 s timeouts and no
retry: Redis down or frozen costs a request about a second, never a hang, and
the reconciler picks up whatever could not be handed over. Without a broker,
emails are delivered in this process right after commit, with a session of
their own (the committing one cannot emit SQL inside its own after_commit).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from barometre.console import exports
from barometre.extensions import db
from barometre.settings import Settings

from .delivery import deliver_batch
from .handoff import Handoff

log = logging.getLogger(__name__)

SEND_NOTIFICATION = "alerts.send_notification"  # one id: still served for older messages
SEND_NOTIFICATIONS = "alerts.send_notifications"  # a batch of ids
SEND_GROUP = "alerts.send_group"
PUBLISH_TIMEOUT = 1.0
# Notifications per batch task: enough to share a connection and a rendering, few enough
# that an event's fan-out (24 recipients is common) is spread over the worker processes.
BATCH_SIZE = 12


# A task to publish: its name, its one argument, its countdown, its queue.
Message = tuple[str, Any, int | None, str]


def hand_over(app: Flask, handoff: Handoff) -> None:
    """The receiver of `signals.work_committed`: what a committed transaction recorded."""
    settings: Settings = app.config["SETTINGS"]
    if settings.broker_url:
        publish(app, handoff)
    else:
        deliver_in_process(app, [*handoff.notification_ids, *handoff.bulk_ids])
    if handoff.export_ids:
        for export_id in handoff.export_ids:
            exports.dispatch(export_id)  # a Celery task, or a thread of this process


def deliver_in_process(app: Flask, notification_ids: Iterable[int]) -> None:
    settings: Settings = app.config["SETTINGS"]
    ids = list(notification_ids)
    if ids:
        with Session(db.engine) as session:
            deliver_batch(session, ids, settings)


def batches(ids: Sequence[int], size: int = BATCH_SIZE) -> list[list[int]]:
    """`ids` in order, cut into as few batches of at most `size` as even as can be."""
    if not ids:
        return []
    count = -(-len(ids) // size)
    base, extra = divmod(len(ids), count)
    cut, start = [], 0
    for index in range(count):
        end = start + base + (1 if index < extra else 0)
        cut.append(list(ids[start:end]))
        start = end
    return cut


# --- Celery mode -------------------------------------------------------------------


def publisher(app: Flask) -> Any:
    """A Celery app used only to publish, with short timeouts and no retries."""
    found = app.extensions.get("alerts.publisher")
    if found is None:
        from celery import Celery

        settings: Settings = app.config["SETTINGS"]
        found = Celery("barometre-publisher", set_as_current=False)
        found.conf.update(
            broker_url=settings.broker_url,
            broker_connection_timeout=PUBLISH_TIMEOUT,
            broker_connection_retry=False,
            broker_connection_max_retries=0,
            broker_transport_options={
                "socket_connect_timeout": PUBLISH_TIMEOUT,
                "socket_timeout": PUBLISH_TIMEOUT,
                "retry_on_timeout": False,
                "max_retries": 0,
            },
            task_default_queue=settings.celery_queue,
        )
        app.extensions["alerts.publisher"] = found
    return found


def publish(app: Flask, handoff: Handoff) -> bool:
    """Publish every task of the hand-off; stop at the first failure (the broker is away).

    Notifications go in batches (`alerts.send_notifications`): one task delivers
    several over one SMTP connection, each with its own claim and outcome. Alerts
    and alert groups go to the delivery queue, a digest's notifications to the
    default queue (`alerts.celery_app.DELIVERY_TASKS`).
    """
    settings: Settings = app.config["SETTINGS"]
    messages: list[Message] = [
        (SEND_NOTIFICATIONS, batch, None, settings.delivery_queue)
        for batch in batches(handoff.notification_ids)
    ]
    messages += [
        (SEND_GROUP, group_id, delay + 1, settings.delivery_queue)
        for group_id, delay in handoff.groups
    ]
    messages += [
        (SEND_NOTIFICATIONS, batch, None, settings.celery_queue)
        for batch in batches(handoff.bulk_ids)
    ]
    return publish_tasks(app, messages)


def job_via_celery(app: Flask, task: str, job_id: int) -> bool:
    """The receiver of `signals.job_asked` (exports, history imports): with a broker, a
    worker runs the job (False: no broker, or it is away; the job runs in this process)."""
    if not app.config["SETTINGS"].broker_url:
        return False
    queue = app.config["SETTINGS"].celery_queue
    return publish_tasks(app, [(task, job_id, None, queue)])


def publish_tasks(app: Flask, messages: Sequence[Message]) -> bool:
    """Publish (task name, its one argument, countdown, queue) messages; False if the
    broker is away.

    The connection is kept for the next hand-over of this thread (opening one
    costs more than publishing). A kept connection may have died meanwhile (a
    Redis restart): what it could not publish is tried once more on a fresh
    one. A timeout is not retried, so a frozen broker still costs about a second.
    """
    sent = 0
    for attempt in ("kept", "fresh"):
        reused = _kept_connection(app) is not None
        try:
            producer = _producer(app)
            celery = publisher(app)
            for name, argument, countdown, queue in messages[sent:]:
                celery.send_task(
                    name,
                    args=[argument],
                    queue=queue,
                    countdown=countdown,
                    producer=producer,
                    retry=False,
                )
                sent += 1
            return True
        except Exception as error:
            _drop_connection(app)
            if attempt == "kept" and reused and not _is_timeout(error):
                continue
            log.warning(
                "alerts: broker unavailable (%s); %d task(s) left to the reconciler",
                type(error).__name__,
                len(messages) - sent,
            )
            return False
    return False


def _publishing(app: Flask) -> threading.local:
    found: threading.local | None = app.extensions.get("alerts.publishing")
    if found is None:
        found = app.extensions.setdefault("alerts.publishing", threading.local())
    return found


def _kept_connection(app: Flask) -> Any:
    state = _publishing(app)
    if getattr(state, "pid", None) != os.getpid():  # never use a parent's socket after fork
        state.__dict__.clear()
    return getattr(state, "connection", None)


def _producer(app: Flask) -> Any:
    state = _publishing(app)
    if _kept_connection(app) is None:
        connection = publisher(app).connection_for_write()
        state.pid, state.connection = os.getpid(), connection
        state.producer = connection.Producer()
    return state.producer


def _drop_connection(app: Flask) -> None:
    state = _publishing(app)
    connection = getattr(state, "connection", None)
    state.__dict__.clear()
    if connection is not None:
        with contextlib.suppress(Exception):
            connection.release()


def _is_timeout(error: BaseException) -> bool:
    from redis.exceptions import TimeoutError as RedisTimeout

    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, TimeoutError | RedisTimeout):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
