"""Fault: Redis restarts empty under a running beat and worker (our own redis-server).

The beat lock vanishes with Redis' data: beat takes it again (it is nobody
else's) and goes on sending the reconciler; the worker reconnects and beats
again. Rows left pending while Redis was away are delivered with no action.
"""

from __future__ import annotations

import logging
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import current_app
from flask.testing import FlaskClient

from alerts import digest
from alerts.models import DigestRun
from alerts.process import BEAT_LOCK_KEY, BEAT_LOCK_TTL, BeatLock, host
from barometre.extensions import db
from barometre.heartbeat import BEAT_HEARTBEAT_KEY, WORKER_HEARTBEAT_KEY

from .conftest import SECRET, notifications, rise_recipients
from .quickbeat import RECONCILE_EVERY
from .support import RedisServer, SmtpServer, Worker, clear_queue, wait_until, worker_env
from .test_processes import Program, base_env
from .test_worker import report, settled

pytestmark = pytest.mark.integration

DELIVERED_WITHIN = 120.0  # seconds after Redis is back (issue 24)


@pytest.fixture
def backend() -> str:
    return "postgresql"  # one database shared by this process, the worker and beat


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.kill()


@pytest.fixture
def queue() -> str:
    return f"alerts-test-restart-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def settings_overrides(
    own_redis: RedisServer, queue: str, smtp_server: SmtpServer
) -> dict[str, Any]:
    return {
        "redis_url": own_redis.url,
        "celery_queue": queue,
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_server.port,
        "alert_group_wait": 0,
    }


def test_pending_rows_are_delivered_with_no_action_after_redis_restarts_empty(
    client: FlaskClient,
    people: dict[str, Any],
    smtp: SmtpServer,
    own_redis: RedisServer,
    queue: str,
    pg_url: str,
    tmp_path: Path,
) -> None:
    # This week's digest counts as done, so the reconciler sends alerts only.
    week = digest.iso_week_now(current_app.config["SETTINGS"])
    db.session.add(DigestRun(iso_week=week, recipient="deja@fait.test"))
    db.session.commit()
    env = worker_env(pg_url, own_redis.url, queue, smtp.port, tmp_path, SECRET)
    worker = Worker(env, queue, tmp_path).start()
    # The product's beat, ticking every second and reconciling every 2 s (tests.alerts.quickbeat).
    beat = Program("beat", env, tmp_path, "--max-interval", "1", app="tests.alerts.quickbeat")
    redis = own_redis.client()
    try:
        wait_until(lambda: beat.says("beat lock acquired"), 60, "beat to take its lock")
        # Between two of beat's ticks, Redis goes and comes back empty, and a report's
        # hand-over fails meanwhile: its rows are left to the reconciler.
        beat.process.send_signal(signal.SIGSTOP)
        own_redis.kill()
        report(client, people["worker"], ["ACC-01"])
        expected = rise_recipients(people)
        assert {(n.state, n.attempts) for n in notifications()} == {("pending", 0)}
        assert len(notifications()) == len(expected)
        own_redis.start()  # back on the same port, empty: no lock, no queues, no heartbeats
        back = time.monotonic()
        beat.process.send_signal(signal.SIGCONT)
        # No other beat holds the lock: this one takes it again (beat.says fails if it exited).
        wait_until(lambda: beat.says("beat lock retaken"), 30, "beat to take its lock again")
        rows = wait_until(
            lambda: settled(len(expected), queue, own_redis.url),
            DELIVERED_WITHIN,
            f"deliveries ({beat.log.name}, {worker.log.name})",
        )
        assert time.monotonic() - back < DELIVERED_WITHIN
        assert {(n.state, n.attempts) for n in rows} == {("sent", 1)}
        assert sorted(a for r in smtp.collector.all() for a in r.recipients) == sorted(
            a.lower() for a in expected
        )
        # Both processes run on and beat again in the new Redis (the worker's timer thread
        # writes the key under its host, every HEARTBEAT_EVERY s); the lock is the beat's.
        mine = f"{WORKER_HEARTBEAT_KEY}:{host()}"
        wait_until(lambda: redis.get(mine), 30, "the worker's heartbeat")
        assert redis.get(f"{BEAT_HEARTBEAT_KEY}:{host()}") is not None
        holder = redis.get(BEAT_LOCK_KEY)
        assert holder is not None and f":{beat.process.pid}:" in holder.decode()
        assert beat.process.poll() is None
        assert worker.process is not None and worker.process.poll() is None
    finally:
        beat.process.send_signal(signal.SIGCONT)
        worker.stop()
        code = beat.stop()
        if own_redis.process is not None:
            clear_queue(own_redis.url, queue)
    assert code == 0, beat.output()
    retaken = [e for e in beat.entries() if e["event"].startswith("beat lock retaken")]
    assert [e["level"] for e in retaken] == ["warning"], beat.output()
    assert "beat lock lost" not in beat.output()


def said(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    """(level, message) of the lock's log lines since the last look."""
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "alerts.process"]
    caplog.clear()
    return lines


def test_a_running_beat_retakes_a_lock_nobody_holds_and_waits_while_another_beat_holds_it(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="alerts.process")
    redis = own_redis.client()
    lock = BeatLock(redis)
    assert lock.try_acquire()
    assert lock.keep() and said(caplog) == []  # renewed, nothing to say

    redis.delete(BEAT_LOCK_KEY)  # Redis restarted empty (or the lock expired)
    assert lock.keep() and lock.keep()
    assert redis.get(BEAT_LOCK_KEY) == lock.token.encode()
    assert 0 < redis.ttl(BEAT_LOCK_KEY) <= BEAT_LOCK_TTL
    [(level, message)] = said(caplog)  # said once, as a warning
    assert level == "WARNING" and message.startswith("beat lock retaken")

    redis.delete(BEAT_LOCK_KEY)
    other = BeatLock(redis)
    assert other.try_acquire()  # another beat took it first: this one waits, sends nothing
    assert not lock.keep() and not lock.keep() and not lock.keep()
    assert redis.get(BEAT_LOCK_KEY) == other.token.encode()
    assert said(caplog) == [("WARNING", "another beat holds the lock: this beat waits")]

    other.release()  # the other beat stops: this one takes over, as a waiting beat does
    assert lock.keep()
    assert redis.get(BEAT_LOCK_KEY) == lock.token.encode()
    assert said(caplog) == [("INFO", "beat lock acquired")]

    own_redis.kill()  # Redis away: the last answer holds (nothing can be sent anyway)
    assert lock.keep()
    assert said(caplog) == [("WARNING", "beat lock not renewed: ConnectionError")]
    lock.waiting_for = other.token
    assert not lock.keep()


def test_a_running_beat_whose_lock_another_beat_took_waits_sending_nothing_then_takes_over(
    own_redis: RedisServer, tmp_path: Path
) -> None:
    env = base_env(tmp_path, own_redis.url)
    beat = Program("beat", env, tmp_path, "--max-interval", "1", app="tests.alerts.quickbeat")
    redis = own_redis.client()
    try:
        wait_until(lambda: beat.says("Sending due task reconcile"), 60, "beat to send")
        # Redis restarted empty and another beat took the lock first.
        redis.flushall()
        redis.set(BEAT_LOCK_KEY, "other:1:beat", ex=BEAT_LOCK_TTL)
        wait_until(lambda: beat.says("this beat waits"), 30, "beat to wait")
        waiting = len(beat.output())
        time.sleep(3 * RECONCILE_EVERY)  # several reconciles would have been due
        assert "Sending due task" not in beat.output()[waiting:]
        assert redis.get(BEAT_LOCK_KEY) == b"other:1:beat"
        redis.delete(BEAT_LOCK_KEY)  # the other beat stopped
        wait_until(lambda: beat.output().count("beat lock acquired") == 2, 30, "the take-over")
        wait_until(lambda: "Sending due task" in beat.output()[waiting:], 30, "beat to send again")
        holder = redis.get(BEAT_LOCK_KEY)
        assert holder is not None and f":{beat.process.pid}:" in holder.decode()
    finally:
        code = beat.stop()
    assert code == 0, beat.output()
    events = [(e["level"], e["event"]) for e in beat.entries()]
    assert events.count(("warning", "another beat holds the lock: this beat waits")) == 1
    assert not any(event.startswith("beat lock retaken") for _level, event in events)
