"""Task signals for /metrics: each task's publication time (a header of its message,
for the age of the oldest waiting task) and each task's latency, observed in the
worker and kept in the broker's Redis, so every web process reads the same figures.
Failures here never fail a task: observation is best effort.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun

from barometre.heartbeat import PUBLISHED_HEADER, redis_client, redis_url_of
from barometre.metrics import record_task_latency
from barometre.settings import Settings

log = logging.getLogger(__name__)
_started: dict[str, float] = {}
_client: list[Any] = []


def client() -> Any | None:
    if not _client:
        url = redis_url_of(Settings.from_env())
        _client.append(redis_client(url) if url else None)
    return _client[0]


@before_task_publish.connect(weak=False)
def on_task_publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None:
        headers.setdefault(PUBLISHED_HEADER, round(time.time(), 3))


@task_prerun.connect(weak=False)
def on_task_start(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        _started[task_id] = time.monotonic()


@task_postrun.connect(weak=False)
def on_task_end(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    started = _started.pop(task_id or "", None)
    try:
        redis = client()
        if redis is None:
            return
        if started is not None and task is not None:
            record_task_latency(task.name, time.monotonic() - started, redis)
    except Exception as error:  # the task is done; a missing figure must not undo it
        log.warning("observation skipped: %s", type(error).__name__)
