"""Heartbeats and queues in Redis: heartbeats written by the worker processes and
beat, read by `/readyz`, `/metrics`, the console and the containers' health checks;
the broker's queues read for their length and their oldest task's age.

- Each worker process beats every `HEARTBEAT_EVERY` seconds for every queue it
  consumes (`record_consumer`): a hash per queue, one field per process (its Celery
  node name). A process that stops deletes its fields at once (`drop_consumer`); one
  killed is gone when its field is `CONSUMER_MAX_AGE` old. So `/readyz` names the very
  queue nobody takes — alert deliveries with no delivery worker — not just "a worker".
- Each worker and beat also beat under their host name: what a container's health
  check reads (`python -m barometre.heartbeat worker|beat`), a container testing itself.
- Beat beats on every tick of its scheduler, under its key and its host's.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from redis import Redis

from .settings import Settings

WORKER_HEARTBEAT_KEY = "barometre:worker:heartbeat"
BEAT_HEARTBEAT_KEY = "barometre:beat:heartbeat"
HEARTBEAT_KEYS = {"worker": WORKER_HEARTBEAT_KEY, "beat": BEAT_HEARTBEAT_KEY}
# A worker beats every 15 s, beat at least every 10 s.
HEARTBEAT_EVERY = 15.0
# A queue's consumer three beats late is gone (killed, frozen, cut from Redis).
CONSUMER_MAX_AGE = 3 * HEARTBEAT_EVERY
# Beat (and a container's own check) silent for five minutes is gone.
HEARTBEAT_MAX_AGE = 300.0
# Keys outlive their writer this long, then Redis forgets them.
KEY_TTL = int(HEARTBEAT_MAX_AGE * 12)
REDIS_TIMEOUT = 1.0


def consumers_key(queue: str) -> str:
    return f"barometre:queue:{queue}:consumers"


def record_beat(redis_client: Any, host: str) -> None:
    """Beat's tick: "I am alive now" (a Unix timestamp), and under its host."""
    now = f"{time.time():.3f}"
    pipe = redis_client.pipeline(transaction=False)
    pipe.set(BEAT_HEARTBEAT_KEY, now, ex=KEY_TTL)
    pipe.set(f"{BEAT_HEARTBEAT_KEY}:{host}", now, ex=KEY_TTL)
    pipe.execute()


def record_consumer(
    redis_client: Any, node: str, host: str, queues: Iterable[str], left: Iterable[str] = ()
) -> None:
    """A worker process's beat: alive on its host, and taking each of `queues`; no longer
    taking `left` (a queue it was told to stop consuming)."""
    now = f"{time.time():.3f}"
    pipe = redis_client.pipeline(transaction=False)
    pipe.set(f"{WORKER_HEARTBEAT_KEY}:{host}", now, ex=KEY_TTL)
    for queue in queues:
        pipe.hset(consumers_key(queue), node, now)
        pipe.expire(consumers_key(queue), KEY_TTL)
    for queue in left:
        pipe.hdel(consumers_key(queue), node)
    pipe.execute()


def drop_consumer(redis_client: Any, node: str, queues: Iterable[str]) -> None:
    """A worker process stops: it takes none of its queues any more, from now."""
    pipe = redis_client.pipeline(transaction=False)
    for queue in queues:
        pipe.hdel(consumers_key(queue), node)
    pipe.execute()


@dataclass(frozen=True)
class Consumers:
    """Who takes a queue: the processes that beat lately, and the youngest beat's age."""

    live: int
    known: int  # fields still in Redis, live or not
    youngest_age: float | None

    @property
    def state(self) -> str:
        if self.live:
            return "ok"
        return "stale" if self.known else "missing"


def queue_consumers(redis_client: Any, queue: str) -> Consumers:
    """The consumers of `queue`; fields of processes long gone are deleted on the way."""
    now = time.time()
    ages = []
    for node, raw in redis_client.hgetall(consumers_key(queue)).items():
        try:
            age = max(0.0, now - float(raw))
        except ValueError:
            age = float("inf")
        if age > KEY_TTL:
            redis_client.hdel(consumers_key(queue), node)
            continue
        ages.append(age)
    live = sum(age <= CONSUMER_MAX_AGE for age in ages)
    return Consumers(live, len(ages), min(ages) if ages else None)


# The time a task was published, in a header of its message (`alerts.observe`): what
# tells the age of the oldest task still waiting in a queue.
PUBLISHED_HEADER = "barometre_published_at"
# The Redis transport keeps a queue in one list per priority step (kombu's
# PRIORITY_STEPS 0, 3, 6, 9: "<queue>", "<queue>\x06\x163", …); tasks are pushed on the
# left and taken from the right.
PRIORITY_KEYS = ("", "\x06\x163", "\x06\x166", "\x06\x169")


@dataclass(frozen=True)
class Backlog:
    length: int
    oldest_age: float | None  # None: empty, or its oldest task has no publication time


def queue_backlog(redis_client: Any, queue: str) -> Backlog:
    """How many tasks wait in `queue`, and since when the oldest does."""
    length, oldest = 0, None
    for suffix in PRIORITY_KEYS:
        key = queue + suffix
        count = int(redis_client.llen(key))
        if not count:
            continue
        length += count
        published = _published_at(redis_client.lindex(key, -1))
        if published is not None and (oldest is None or published < oldest):
            oldest = published
    age = None if oldest is None else max(0.0, time.time() - oldest)
    return Backlog(length, age)


def _published_at(raw: bytes | str | None) -> float | None:
    try:
        headers = json.loads(raw or "{}").get("headers") or {}
        return float(headers[PUBLISHED_HEADER])
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def heartbeat_age(redis_client: Any, key: str) -> float | None:
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


def main(argv: list[str] | None = None) -> int:
    """`python -m barometre.heartbeat [worker|beat]`: a worker's or beat's container
    health check, kept light (Redis and the settings, not the web app): on a busy host
    it answers well within its 10 s.

    Exit 0 while the heartbeat this host's worker (or beat) wrote in Redis is
    fresh, 1 otherwise. A beat waiting for the lock never beats: unhealthy.
    """
    from redis.exceptions import RedisError

    from .settings import settings_from_env_or_exit

    args = sys.argv[1:] if argv is None else argv
    kind = args[0] if args else "worker"
    if kind not in HEARTBEAT_KEYS:
        print("usage: python -m barometre.heartbeat [worker|beat]")
        return 2
    url = redis_url_of(settings_from_env_or_exit())
    if not url:
        print(f"embedded mode: no {kind} to check")
        return 0
    client = redis_client(url)
    try:
        age = heartbeat_age(client, f"{HEARTBEAT_KEYS[kind]}:{socket.gethostname()}")
    except RedisError:
        print("broker unreachable")
        return 1
    finally:
        client.close()
    if age is None or age > HEARTBEAT_MAX_AGE:
        print(f"{kind} heartbeat of this host missing or older than 5 minutes")
        return 1
    print(f"{kind} alive (heartbeat {age:.0f} s ago)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
