"""Is the process up, is the instance ready, and what it counts.

- `/healthz`: the process answers (for the container's health check);
- `/readyz`: the database, the broker, a live consumer of each queue (`worker`, `delivery`),
  a live beat and the mail settings, each named when down;
- `/metrics`: Prometheus text, for coordinators or a scraper holding METRICS_TOKEN.

The Celery worker processes (every 15 s from the moment they are ready, for each
queue they take) and beat (on every tick of its scheduler) prove they are alive
in the broker's Redis (`barometre.heartbeat`), where `/readyz` reads them. Each
process also beats under its own host name, which its container's health check
reads (`python -m barometre.heartbeat worker|beat`): a container tests itself, not a
sibling.
"""

from __future__ import annotations

import contextlib
import hmac

from flask import Blueprint, Response, current_app, jsonify
from flask.typing import ResponseReturnValue
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .auth import COORDINATOR, PUBLIC, access, bearer_token
from .extensions import db
from .heartbeat import (
    BEAT_HEARTBEAT_KEY,
    HEARTBEAT_MAX_AGE,
    heartbeat_age,
    queue_consumers,
    redis_client,
    redis_url_of,
)
from .metrics import CONTENT_TYPE, exposition
from .settings import Settings, mail_problem
from .settings import current as settings

bp = Blueprint("health", __name__)


OK, DOWN, STALE, MISSING, EMBEDDED, UNCHECKED = (
    "ok",
    "down",
    "stale",
    "missing",
    "embedded",
    "unchecked",
)


def check_database() -> str:
    try:
        db.session.execute(text("SELECT 1"))
        return OK
    except SQLAlchemyError:
        current_app.logger.warning("readiness: database unreachable")
        with contextlib.suppress(SQLAlchemyError):
            db.session.rollback()
        return DOWN


def check_broker_and_worker(current: Settings) -> dict[str, str]:
    """The broker, a live consumer of each queue (`worker`: the default queue;
    `delivery`: alert deliveries) and a live beat."""
    roles = ("broker", *queue_roles(current), "beat")
    if not current.broker_url:
        return dict.fromkeys(roles, EMBEDDED)
    url = redis_url_of(current)
    if not url:
        return dict.fromkeys(roles, UNCHECKED)
    client = redis_client(url)
    try:
        client.ping()
        roles_queues = queue_roles(current).items()
        queues = {role: queue_consumers(client, queue).state for role, queue in roles_queues}
        beat = freshness(heartbeat_age(client, BEAT_HEARTBEAT_KEY))
    except RedisError:
        current_app.logger.warning("readiness: broker unreachable")
        return {"broker": DOWN, **dict.fromkeys(roles[1:], UNCHECKED)}
    finally:
        client.close()
    return {"broker": OK, **queues, "beat": beat}


def queue_roles(current: Settings) -> dict[str, str]:
    """Each queue under the name of the process that takes it (docker-compose.yml's)."""
    return {"worker": current.celery_queue, "delivery": current.delivery_queue}


def freshness(age: float | None) -> str:
    if age is None:
        return MISSING
    return OK if age <= HEARTBEAT_MAX_AGE else STALE


def readiness() -> dict[str, str]:
    current = settings()
    mail = DOWN if mail_problem(current) else OK
    return {"database": check_database(), **check_broker_and_worker(current), "mail": mail}


@bp.get("/healthz")
@access(PUBLIC)
def healthz() -> ResponseReturnValue:
    return jsonify(status=OK)


@bp.get("/readyz")
@access(PUBLIC)
def readyz() -> ResponseReturnValue:
    checks = readiness()
    down = [name for name, state in checks.items() if state not in (OK, EMBEDDED, UNCHECKED)]
    said = {"mail": mail_problem(settings())} if "mail" in down else {}
    response = jsonify(status=DOWN if down else OK, checks=checks, down=down, **said)
    response.status_code = 503 if down else 200
    response.headers["Cache-Control"] = "no-store"
    return response


def metrics_token_matches() -> bool:
    """The scraper's own credential: `Authorization: Bearer <METRICS_TOKEN>`."""
    expected = settings().metrics_token
    given = bearer_token()
    if not expected or given is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


@bp.get("/metrics")
@access(COORDINATOR, or_if=metrics_token_matches)
def metrics() -> ResponseReturnValue:
    return Response(exposition(db.session, settings()), content_type=CONTENT_TYPE)
