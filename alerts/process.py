"""The worker and beat as processes: settings, logs, heartbeats, one beat at a time.

- Settings: `alerts.celery_app` reads them when Celery first needs its
  configuration and exits with the French message on a wrong value; here the
  worker and beat also refuse to run without a broker, and the worker (the
  process that sends) refuses wrong mail settings.
- Logs: Celery's logging setup is replaced by ours (`barometre.logs`): one
  JSON line per event on stderr, Celery's own lines included; no banner, no
  stdout redirected into the log (that printed every line twice).
- Heartbeats (`barometre.heartbeat`): the worker beats every `HEARTBEAT_EVERY`
  seconds from the moment it is ready, for each queue it takes (a thread of its
  main process), and withdraws at once when it stops; beat on every tick of its
  scheduler. `/readyz`, the console and each container's health check read them.
- One beat: the scheduler takes a lock in Redis before sending anything; a
  second beat waits, says so once, and takes over when the first stops. The
  holder renews the lock on every tick. A lock that vanished (Redis restarted
  empty, or it expired while Redis was away) is nobody's: the holder takes it
  again and says so. A lock another beat took meanwhile makes this beat wait
  as a second beat does, sending nothing, until it can take it over.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
import uuid
from typing import Any

import celery.apps.worker as celery_worker_module
from celery.apps.beat import Beat as CeleryBeat
from celery.apps.worker import Worker as CeleryWorker
from celery.beat import PersistentScheduler
from celery.signals import setup_logging, worker_ready, worker_shutdown, worker_shutting_down
from redis.exceptions import RedisError

from barometre.heartbeat import (
    HEARTBEAT_EVERY,
    drop_consumer,
    record_beat,
    record_consumer,
    redis_client,
    redis_url_of,
)
from barometre.jsonline import json_line
from barometre.logs import configure_logging
from barometre.settings import Settings, refuse_to_start, settings_from_env_or_exit

log = logging.getLogger(__name__)

BEAT_LOCK_KEY = "barometre:beat:lock"
BEAT_LOCK_TTL = 30  # seconds; beat ticks at least every 10 s and renews it each time
BEAT_LOCK_RETRY = 2.0
# Redis unreachable when beat starts: tried again this many times, waiting a little longer
# each time (about a minute in all), each try one JSON line; then one French refusal.
BROKER_ATTEMPTS = 12
BROKER_RETRY_MAX = 8.0
NO_BROKER = (
    "REDIS_URL (ou CELERY_BROKER_URL)\xa0: obligatoire pour le worker et beat de Celery "
    "(par exemple redis://redis:6379/0)"
)

# The Lua scripts run atomically in Redis: only the holder renews or releases.
RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('expire', KEYS[1], ARGV[2])
end
return 0
"""
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


def process_settings() -> Settings:
    """The settings of a worker or beat process; exit 4 with the French message if wrong."""
    settings = settings_from_env_or_exit()
    if not settings.broker_url:
        refuse_to_start([NO_BROKER])
    return settings


def host() -> str:
    """This process's host name: the container's, in the compose stack."""
    return socket.gethostname()


# --- logging ----------------------------------------------------------------------------


@setup_logging.connect(weak=False)
def on_setup_logging(loglevel: int | None = None, **_: Any) -> None:
    """Celery asks how to log: our JSON lines on stderr (its own setup is skipped)."""
    configure_logging(settings_from_env_or_exit(), level=loglevel or logging.INFO)


def start_logging(settings: Settings) -> None:
    """JSON lines from the first moment, Python warnings included (Celery warns early)."""
    configure_logging(settings)
    logging.captureWarnings(True)


def say(message: str, f: Any = None) -> None:
    """Celery's `safe_say` (lines written from signal handlers, e.g. "worker: Warm
    shutdown"), as one JSON line. Like the original: no logging locks, one os.write."""
    line = json_line("info", "celery.apps.worker", message)
    with contextlib.suppress(OSError, ValueError):
        os.write(2, (line + "\n").encode())


class Worker(CeleryWorker):
    """`celery -A alerts worker`: checks the settings first, logs its start as one line."""

    def on_before_init(self, quiet: bool = False, **kwargs: Any) -> None:
        settings = process_settings()
        # Workers send the emails (alerts on the delivery queue, digests on the default
        # one): they, not migrate nor the web site, refuse wrong mail settings.
        if problems := settings.mail_problems():
            refuse_to_start(problems)
        start_logging(settings)
        if settings.log_format == "json":
            celery_worker_module.safe_say = say
        super().on_before_init(quiet=True, **kwargs)

    def on_start(self) -> None:
        super().on_start()
        log.info(
            "celery worker starting",
            extra={
                "fields": {
                    "hostname": self.hostname,
                    "broker": self.app.connection().as_uri(),  # password masked
                    "queues": sorted(getattr(self.app.amqp.queues, "consume_from", None) or ()),
                    "concurrency": self.concurrency,
                }
            },
        )


class Beat(CeleryBeat):
    """`celery -A alerts beat`: checks the settings first, logs its start as one line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        start_logging(process_settings())
        kwargs["quiet"] = True
        super().__init__(*args, **kwargs)

    def start_scheduler(self) -> None:
        """Wait for the beat lock first, with SIGTERM ending the wait (as PID 1 in a
        container a signal without a handler is ignored; Celery's own handler, set
        later, would build a second scheduler inside itself)."""
        url = redis_url_of(process_settings())
        if url:
            previous = {sig: signal.signal(sig, _stop_waiting) for sig in STOP_SIGNALS}
            try:
                lock = BeatLock(redis_client(url))
                lock.wait()
                _held_locks.append(lock)
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
        super().start_scheduler()

    def run(self) -> None:
        log.info(
            "celery beat starting",
            extra={
                "fields": {
                    "broker": self.app.connection().as_uri(),
                    "schedule": sorted(self.app.conf.beat_schedule),
                }
            },
        )
        super().run()


# --- worker heartbeat -------------------------------------------------------------------


class ConsumerHeartbeat:
    """A worker process's heartbeat thread: every `HEARTBEAT_EVERY` seconds, alive on its
    host and taking each queue its consumer takes now (a queue it was told to stop
    taking, `celery control cancel_consumer`, is withdrawn at the next beat). Stopped,
    it withdraws the process from every queue at once."""

    def __init__(self, url: str, node: str, consumer: Any) -> None:
        self.client = redis_client(url)
        self.node = node
        self.consumer = consumer
        self.queues: set[str] = set()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, name="heartbeat", daemon=True)

    def taken(self) -> set[str]:
        task_consumer = getattr(self.consumer, "task_consumer", None)
        queues = getattr(task_consumer, "queues", None)
        if queues is None:  # between two connections: as at the last beat
            return self.queues
        return {queue.name for queue in queues}

    def beat(self) -> None:
        taken = self.taken()
        record_consumer(self.client, self.node, host(), sorted(taken), sorted(self.queues - taken))
        self.queues = taken

    def run(self) -> None:
        while True:
            try:
                self.beat()
            except Exception as error:  # Redis away: say so, keep trying
                log.warning("worker heartbeat skipped: %s", type(error).__name__)
            if self.stopping.wait(HEARTBEAT_EVERY):
                break
        try:
            drop_consumer(self.client, self.node, sorted(self.queues))
        except Exception as error:
            log.warning("worker heartbeat not withdrawn: %s", type(error).__name__)

    def start(self) -> ConsumerHeartbeat:
        self.thread.start()
        return self

    def stop(self, wait: float = 0.0) -> None:
        self.stopping.set()
        if wait:
            self.thread.join(wait)


_heartbeats: list[ConsumerHeartbeat] = []


@worker_ready.connect(weak=False)
def on_worker_ready(sender: Any = None, **_: Any) -> None:
    url = redis_url_of(settings_from_env_or_exit())
    if url and sender is not None:
        _heartbeats.append(ConsumerHeartbeat(url, sender.hostname, sender).start())


@worker_shutting_down.connect(weak=False)
def on_worker_shutting_down(**_: Any) -> None:
    """Warm or cold, the worker stops taking tasks now: said in Redis now, not in 45 s."""
    for heartbeat in _heartbeats:
        heartbeat.stop()


@worker_shutdown.connect(weak=False)
def on_worker_shutdown(**_: Any) -> None:
    while _heartbeats:
        _heartbeats.pop().stop(wait=2.0)


# --- beat: one at a time, and its heartbeat ---------------------------------------------


class BeatLock:
    """A lock in Redis that only its holder renews or releases."""

    def __init__(self, client: Any, key: str = BEAT_LOCK_KEY, ttl: int = BEAT_LOCK_TTL) -> None:
        self.client = client
        self.key = key
        self.ttl = ttl
        self.token = f"{host()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # The other beat this one waits for while running (see `keep`), if any.
        self.waiting_for: str | None = None

    def try_acquire(self) -> bool:
        return bool(self.client.set(self.key, self.token, nx=True, ex=self.ttl))

    def holder(self) -> str:
        raw = self.client.get(self.key)
        return raw.decode() if isinstance(raw, bytes) else str(raw or "")

    def renew(self) -> bool:
        return bool(self.client.eval(RENEW, 1, self.key, self.token, self.ttl))

    def release(self) -> bool:
        """Delete the lock if this process holds it; False if it was not (or no longer) its."""
        return bool(self.client.eval(RELEASE, 1, self.key, self.token))

    def wait(self) -> None:
        """Block until this process holds the lock; say once that it waits, and for whom.

        SIGTERM while waiting ends the process as usual (beat turns it into SystemExit).
        """
        said = False
        while not self.acquire_or_retry():
            if not said:
                log.warning(
                    "another beat holds the lock: this beat waits",
                    extra={"fields": {"lock": self.key, "holder": self.holder()}},
                )
                said = True
            time.sleep(BEAT_LOCK_RETRY)
        self._acquired()

    def acquire_or_retry(self) -> bool:
        """`try_acquire`, Redis unreachable tried again as the worker does: a warning per
        try; at the end, one French refusal and exit 1 (never a traceback)."""
        for attempt in range(1, BROKER_ATTEMPTS + 1):
            try:
                return self.try_acquire()
            except RedisError as error:
                if attempt == BROKER_ATTEMPTS:
                    log.error(
                        "Baromètre s'arrête\xa0: Redis (REDIS_URL) injoignable après "
                        "%d essais (%s)\xa0; beat repartira quand Redis répondra.",
                        attempt,
                        type(error).__name__,
                    )
                    raise SystemExit(1) from None
                delay = min(BROKER_RETRY_MAX, 0.5 * 2 ** (attempt - 1))
                log.warning(
                    "broker unreachable: beat tries again",
                    extra={
                        "fields": {
                            "attempt": attempt,
                            "attempts": BROKER_ATTEMPTS,
                            "retry_in": delay,
                            "error": type(error).__name__,
                        }
                    },
                )
                time.sleep(delay)
        return False

    def keep(self) -> bool:
        """On every tick of a running beat: does this process (still) hold the lock?

        Renewed if held; taken again, atomically, if nobody holds it (said once, as a
        warning); False while another beat holds it (said once per holder), until it can
        be taken over. Redis away: the answer of the last tick (nothing can be sent anyway).
        """
        try:
            if self.renew():
                return True
            if self.try_acquire():
                if self.waiting_for is None:
                    log.warning(
                        "beat lock retaken: it had vanished (Redis restarted empty, or it "
                        "expired while Redis was away) and no other beat holds it",
                        extra={"fields": {"lock": self.key, "holder": self.token}},
                    )
                else:
                    self._acquired()
                self.waiting_for = None
                return True
            holder = self.holder()
        except Exception as error:  # Redis away: try again next tick
            log.warning("beat lock not renewed: %s", type(error).__name__)
            return self.waiting_for is None
        if holder != self.waiting_for:
            log.warning(
                "another beat holds the lock: this beat waits",
                extra={"fields": {"lock": self.key, "holder": holder}},
            )
            self.waiting_for = holder
        return False

    def _acquired(self) -> None:
        log.info("beat lock acquired", extra={"fields": {"lock": self.key, "holder": self.token}})


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_held_locks: list[BeatLock] = []


def _stop_waiting(signum: int, _frame: Any) -> None:
    log.info("beat stopped while waiting for the lock")
    raise SystemExit(0)


class GuardedScheduler(PersistentScheduler):
    """Celery's scheduler, once the beat lock is held; keeps it and beats on every tick."""

    lock: BeatLock | None = None
    redis: Any = None

    def setup_schedule(self) -> None:
        url = redis_url_of(process_settings())
        if _held_locks:  # taken by `Beat.start_scheduler` before anything started
            self.lock = _held_locks.pop()
            self.redis = self.lock.client
        elif url:  # an embedded beat (`worker -B`): wait here
            self.redis = redis_client(url)
            self.lock = BeatLock(self.redis)
            self.lock.wait()
        else:
            log.warning("beat lock unavailable: the broker is not Redis; run exactly one beat")
        super().setup_schedule()
        self._beat()

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if self.lock is not None and not self.lock.keep():
            return BEAT_LOCK_RETRY  # another beat sends: this one waits, as at its start
        self._beat()
        interval: float = super().tick(*args, **kwargs)
        return interval

    def _beat(self) -> None:
        if self.redis is None:
            return
        try:
            record_beat(self.redis, host())
        except Exception as error:
            log.warning("beat heartbeat skipped: %s", type(error).__name__)

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.lock is not None:
                try:
                    if self.lock.release():  # not while waiting for another beat's
                        log.info("beat lock released")
                except Exception as error:  # it expires by itself
                    log.warning("beat lock not released: %s", type(error).__name__)
                self.lock = None
