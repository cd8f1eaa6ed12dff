"""Prometheus metrics, computed when scraped.

Business figures come from the database (the source of truth), so every web
process answers the same whatever the number of gunicorn workers. Task
latencies are observed in the Celery worker, another process: the worker
records them in Redis with `record_task_latency`, and the scrape reads them
there (in-process in the embedded mode, where tasks run in the web process).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from . import heartbeat
from .extensions import DbSession, db
from .models import Establishment, LevelChange, Report
from .settings import Settings

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
TASKS_KEY = "barometre:metrics:tasks"
MAX_TASK_NAME = 100

_local: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
_local_lock = threading.Lock()


def _latency_key(task: str) -> str:
    return f"barometre:metrics:task_latency:{task}"


def _increments(seconds: float) -> dict[str, int]:
    """Cumulative histogram buckets this observation falls in, plus +Inf and count."""
    found = {f"le:{bound}": 1 for bound in LATENCY_BUCKETS if seconds <= bound}
    return {**found, "le:+Inf": 1, "count": 1}


def record_task_latency(task: str, seconds: float, redis_client: Any | None = None) -> None:
    """The task latency hook: call it when a task ends (Redis given: shared across processes)."""
    task = task[:MAX_TASK_NAME]
    if redis_client is None:
        with _local_lock:
            for name, step in _increments(seconds).items():
                _local[task][name] += step
            _local[task]["sum"] += seconds
        return
    pipe = redis_client.pipeline()
    for name, step in _increments(seconds).items():
        pipe.hincrby(_latency_key(task), name, step)
    pipe.hincrbyfloat(_latency_key(task), "sum", seconds)
    pipe.sadd(TASKS_KEY, task)
    pipe.execute()


def _shared_latencies(redis_client: Any) -> dict[str, dict[str, float]]:
    found: dict[str, dict[str, float]] = {}
    for raw in redis_client.smembers(TASKS_KEY):
        task = raw.decode() if isinstance(raw, bytes) else str(raw)
        values = redis_client.hgetall(_latency_key(task))
        found[task] = {
            (k.decode() if isinstance(k, bytes) else k): float(v) for k, v in values.items()
        }
    return found


def task_latency_family(latencies: dict[str, dict[str, float]]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(
        "barometre_task_latency_seconds", "Durée des tâches de fond", labels=["task"]
    )
    for task, values in sorted(latencies.items()):
        bounds = [*(str(b) for b in LATENCY_BUCKETS), "+Inf"]
        buckets = [(bound, values.get(f"le:{bound}", 0.0)) for bound in bounds]
        family.add_metric([task], buckets, values.get("sum", 0.0))
    return family


class BarometreCollector(Collector):
    """One scrape: read the figures from the database and Redis."""

    def __init__(self, session: DbSession, settings: Settings) -> None:
        self.session = session
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        yield from self.reports()
        yield from self.levels()
        yield from self.background()
        yield from self.notifications()  # last: a failing query must not spoil the others

    def reports(self) -> Iterator[Metric]:
        received = CounterMetricFamily(
            "barometre_reports",
            "Signalements reçus",
            labels=["establishment", "review_state"],
        )
        query = (
            select(Establishment.slug, Report.review_state, func.count())
            .join(Report, Report.establishment_id == Establishment.id)
            .group_by(Establishment.slug, Report.review_state)
        )
        for slug, state, count in self.session.execute(query):
            received.add_metric([slug, state], count)
        yield received
        purged = GaugeMetricFamily(
            "barometre_report_descriptions_purged",
            "Signalements dont le texte libre a été effacé (durée de conservation)",
        )
        purged.add_metric(
            [],
            self.session.scalar(
                select(func.count()).where(Report.description_purged_at.is_not(None))
            )
            or 0,
        )
        yield purged

    def levels(self) -> Iterator[Metric]:
        rank = GaugeMetricFamily(
            "barometre_establishment_level",
            "Niveau actuel: 0 vert, 1 à 5 orange, 6 rouge",
            labels=["establishment"],
        )
        situations = GaugeMetricFamily(
            "barometre_open_situations", "Situations ouvertes", labels=["establishment"]
        )
        for establishment in self.session.scalars(select(Establishment)):
            level = establishment.level
            rank.add_metric([establishment.slug], level.rank)
            situations.add_metric([establishment.slug], level.open_situations)
        yield rank
        yield situations
        changes = CounterMetricFamily(
            "barometre_level_changes",
            "Changements de niveau enregistrés",
            labels=["establishment", "to_colour"],
        )
        query = (
            select(Establishment.slug, LevelChange.to_colour, func.count())
            .join(LevelChange, LevelChange.establishment_id == Establishment.id)
            .group_by(Establishment.slug, LevelChange.to_colour)
        )
        for slug, colour, count in self.session.execute(query):
            changes.add_metric([slug, colour], count)
        yield changes

    def background(self) -> Iterator[Metric]:
        with _local_lock:
            latencies = {task: dict(values) for task, values in _local.items()}
        url = heartbeat.redis_url_of(self.settings)
        if url:
            client = heartbeat.redis_client(url)
            try:
                latencies.update(_shared_latencies(client))
                yield from self.queues(client)
            except RedisError:
                pass  # /readyz names the broker as down; metrics stay partial
            finally:
                client.close()
        yield task_latency_family(latencies)

    def queues(self, client: Any) -> Iterator[Metric]:
        """Each queue's waiting tasks, its oldest task's age and its live consumers."""
        labels = ["queue"]
        length = GaugeMetricFamily(
            "barometre_queue_length", "Tâches en attente dans la file", labels=labels
        )
        oldest = GaugeMetricFamily(
            "barometre_queue_oldest_age_seconds",
            "Âge de la plus ancienne tâche en attente (0 si la file est vide)",
            labels=labels,
        )
        consumers = GaugeMetricFamily(
            "barometre_queue_consumers",
            "Processus qui prennent les tâches de la file (signe de vie récent)",
            labels=labels,
        )
        for queue in (self.settings.celery_queue, self.settings.delivery_queue):
            backlog = heartbeat.queue_backlog(client, queue)
            length.add_metric([queue], backlog.length)
            oldest.add_metric([queue], backlog.oldest_age or 0.0)
            consumers.add_metric([queue], heartbeat.queue_consumers(client, queue).live)
        yield from (length, oldest, consumers)

    def notifications(self) -> Iterator[Metric]:
        """Notifications by state, when the alerts package has its table."""
        family = GaugeMetricFamily(
            "barometre_notifications", "Notifications par état", labels=["table", "state"]
        )
        for table in db.metadata.sorted_tables:
            column = table.c.get("state")
            if not table.name.endswith("notification") or column is None:
                continue
            try:
                rows = self.session.execute(select(column, func.count()).group_by(column)).all()
            except SQLAlchemyError:
                self.session.rollback()
                continue
            for state, count in rows:
                family.add_metric([table.name, str(state)], count)
        yield family


def exposition(session: DbSession, settings: Settings) -> bytes:
    return generate_latest(BarometreCollector(session, settings))
