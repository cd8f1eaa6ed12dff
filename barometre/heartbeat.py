"""The worker's and beat's heartbeats in Redis: written by those processes, read by
`/readyz`, `/metrics` and the containers' health checks."""

from __future__ import annotations

import time
from typing import Any

from redis import Redis

from .settings import Settings

HEARTBEAT_KEY = "barometre:worker:heartbeat"
BEAT_HEARTBEAT_KEY = "barometre:beat:heartbeat"
HEARTBEAT_KEYS = {"worker": HEARTBEAT_KEY, "beat": BEAT_HEARTBEAT_KEY}
# Both beat at least every 15 s; five minutes of silence means the process is gone.
HEARTBEAT_MAX_AGE = 300.0
REDIS_TIMEOUT = 1.0


def record_heartbeat(redis_client: Any, kind: str, host: str = "") -> None:
    """Called by the worker or beat: "I am alive now" (a Unix timestamp), and under its host."""
    now, ttl = f"{time.time():.3f}", int(HEARTBEAT_MAX_AGE * 12)
    key = HEARTBEAT_KEYS[kind]
    pipe = redis_client.pipeline(transaction=False)
    pipe.set(key, now, ex=ttl)
    if host:
        pipe.set(f"{key}:{host}", now, ex=ttl)
    pipe.execute()


def record_worker_heartbeat(redis_client: Any) -> None:
    record_heartbeat(redis_client, "worker")


def heartbeat_age(redis_client: Any, key: str = HEARTBEAT_KEY) -> float | None:
    """Seconds since the last heartbeat under `key`; None if it never beat."""
    raw = redis_client.get(key)
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
