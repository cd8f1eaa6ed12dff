"""Is the process up, is the instance ready, and what it counts.

- `/healthz`: the process answers (for the container's health check);
- `/readyz`: the database, the broker and a live worker, each named when down;
- `/metrics`: Prometheus text, for coordinators or a scraper holding METRICS_TOKEN.

The Celery worker proves it is alive by calling `record_worker_heartbeat`
regularly; `/readyz` reads that timestamp from the broker's Redis.
"""

from __future__ import annotations

import contextlib
import hmac
import sys
import time
from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from flask.typing import ResponseReturnValue
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .auth import COORDINATOR, PUBLIC, access, bearer_token
from .extensions import db
from .settings import Settings
from .settings import current as settings

bp = Blueprint("health", __name__)

HEARTBEAT_KEY = "barometre:worker:heartbeat"
# The worker beats at least every minute; five minutes of silence means it is gone.
HEARTBEAT_MAX_AGE = 300.0
REDIS_TIMEOUT = 1.0

OK, DOWN, STALE, MISSING, EMBEDDED, UNCHECKED = (
    "ok",
    "down",
    "stale",
    "missing",
    "embedded",
    "unchecked",
)



def record_worker_heartbeat(redis_client: Any) -> None:
    """Called by the Celery worker: "I am alive now" (a Unix timestamp)."""
    redis_client.set(HEARTBEAT_KEY, f"{time.time():.3f}", ex=int(HEARTBEAT_MAX_AGE * 12))


def heartbeat_age(redis_client: Any) -> float | None:
    """Seconds since the worker's last heartbeat; None if it never beat."""
    raw = redis_client.get(HEARTBEAT_KEY)
    if raw is None:
        return None
    try:
        return max(0.0, time.time() - float(raw))
    except ValueError:
        return None


def redis_url_of(current: Settings) -> str:
    """The Redis that carries the broker and the heartbeat, if the broker is Redis."""
    for url in (current.redis_url, current.celery_broker_url):
        if url.split(":", 1)[0] in ("redis", "rediss", "unix"):
            return url
    return ""


def redis_client(url: str) -> Redis:
    # Short timeouts: a frozen Redis must not hang the probe.
    return Redis.from_url(url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT)


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
    if not current.broker_url:
        return {"broker": EMBEDDED, "worker": EMBEDDED}
    url = redis_url_of(current)
    if not url:
        return {"broker": UNCHECKED, "worker": UNCHECKED}
    client = redis_client(url)
    try:
        client.ping()
        age = heartbeat_age(client)
    except RedisError:
        current_app.logger.warning("readiness: broker unreachable")
        return {"broker": DOWN, "worker": UNCHECKED}
    finally:
        client.close()
    if age is None:
        return {"broker": OK, "worker": MISSING}
    return {"broker": OK, "worker": OK if age <= HEARTBEAT_MAX_AGE else STALE}


def readiness() -> dict[str, str]:
    return {"database": check_database(), **check_broker_and_worker(settings())}


@bp.get("/healthz")
@access(PUBLIC)
def healthz() -> ResponseReturnValue:
    return jsonify(status=OK)


@bp.get("/readyz")
@access(PUBLIC)
def readyz() -> ResponseReturnValue:
    checks = readiness()
    down = [name for name, state in checks.items() if state not in (OK, EMBEDDED, UNCHECKED)]
    response = jsonify(status=DOWN if down else OK, checks=checks, down=down)
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
    from .metrics import CONTENT_TYPE, exposition

    return Response(exposition(db.session, settings()), content_type=CONTENT_TYPE)


def main() -> int:
    """`python -m barometre.health`: the worker container's health check.

    Exit 0 while the worker's heartbeat in Redis is fresh, 1 otherwise.
    """
    from .settings import settings_from_env_or_exit

    url = redis_url_of(settings_from_env_or_exit())
    if not url:
        print("embedded mode: no worker to check")
        return 0
    client = redis_client(url)
    try:
        age = heartbeat_age(client)
    except RedisError:
        print("broker unreachable")
        return 1
    finally:
        client.close()
    if age is None or age > HEARTBEAT_MAX_AGE:
        print("worker heartbeat missing or older than 5 minutes")
        return 1
    print(f"worker alive (heartbeat {age:.0f} s ago)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
