"""The worker and beat as processes: settings, logs, heartbeats, one beat at a time.

- Settings: `alerts.celery_app` reads them when Celery first needs its
  configuration and exits with the French message on a wrong value; here the
  worker and beat also refuse to run without a broker.
- Logs: Celery's logging setup is replaced by ours (`barometre.logs`): one
  JSON line per event on stderr, Celery's own lines included; no banner, no
  stdout redirected into the log (that printed every line twice).
- Heartbeats: the worker beats every `HEARTBEAT_EVERY` seconds from the moment
  it is ready (a thread of its main process), beat on every tick of its
  scheduler. `/readyz` and each container's health check read them.
- One beat: the scheduler takes a lock in Redis before sending anything; a
  second beat waits, says so once, and takes over when the first stops. The
  holder renews the lock on every tick. A lock that vanished (Redis restarted
  empty, or it expired while Redis was away) is nobody's: the holder takes it
  again and says so. A lock another beat took meanwhile makes this beat wait
  as a second beat does, sending nothing, until it can take it over.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import celery.apps.worker as celery_worker_module
from celery.apps.beat import Beat as CeleryBeat
from celery.apps.worker import Worker as CeleryWorker
from celery.beat import PersistentScheduler
from celery.signals import setup_logging, worker_ready, worker_shutdown
from redis.exceptions import RedisError

from barometre.heartbeat import record_heartbeat, redis_client, redis_url_of
from barometre.logs import configure_logging
from barometre.settings import Settings, SettingsError, settings_from_env_or_exit

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 15.0
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
        error = SettingsError("Configuration invalide\xa0:\n- " + NO_BROKER)
        print(f"Baromètre ne démarre pas. {error}", file=sys.stderr)
        raise SystemExit(4)
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
    entry = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "level": "info",
        "logger": "celery.apps.worker",
        "event": message.strip(),
    }
    with contextlib.suppress(OSError, ValueError):
        os.write(2, (json.dumps(entry, ensure_ascii=False) + "\n").encode())


class Worker(CeleryWorker):
    """`celery -A alerts worker`: checks the settings first, logs its start as one line."""

    def on_before_init(self, quiet: bool = False, **kwargs: Any) -> None:
        settings = process_settings()
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

_stop_heartbeat = threading.Event()


def _beat_forever(url: str, name: str, stop: threading.Event) -> None:
    client = redis_client(url)
    while True:
        try:
            record_heartbeat(client, "worker", name)
        except Exception as error:  # Redis away: say so, keep trying
            log.warning("worker heartbeat skipped: %s", type(error).__name__)
        if stop.wait(HEARTBEAT_EVERY):
            return


def start_worker_heartbeat(settings: Settings, name: str) -> threading.Thread | None:
    url = redis_url_of(settings)
    if not url:
        return None
    _stop_heartbeat.clear()
    thread = threading.Thread(
        target=_beat_forever, args=(url, name, _stop_heartbeat), name="heartbeat", daemon=True
    )
    thread.start()
    return thread


@worker_ready.connect(weak=False)
def on_worker_ready(**_: Any) -> None:
    start_worker_heartbeat(settings_from_env_or_exit(), host())


@worker_shutdown.connect(weak=False)
def on_worker_shutdown(**_: Any) -> None:
    _stop_heartbeat.set()


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
            record_heartbeat(self.redis, "beat", host())
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
