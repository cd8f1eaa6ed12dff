"""Fault: Redis stopped or frozen while reports arrive (our own redis-server, never the shared one).

Requests must answer within seconds, reports must be kept, and every email
must be delivered once after Redis is back and the reconciler ran.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, current_app
from flask.testing import FlaskClient

from alerts import digest
from alerts.models import DigestRun
from barometre.extensions import db
from barometre.models import Report

from .conftest import SECRET, notifications, rise_recipients
from .support import RedisServer, SmtpServer, Worker, clear_queue, wait_until, worker_env
from .test_worker import report, settled

pytestmark = pytest.mark.integration


@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.kill()


@pytest.fixture
def queue() -> str:
    return f"alerts-test-down-{uuid.uuid4().hex[:8]}"


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


def timed_report(client: FlaskClient, author: Any, code: str) -> float:
    started = time.monotonic()
    report(client, author, [code])
    return time.monotonic() - started


def test_reports_kept_and_emails_delivered_once_after_redis_comes_back(
    app: Flask,
    client: FlaskClient,
    people: dict[str, Any],
    smtp: SmtpServer,
    own_redis: RedisServer,
    queue: str,
    pg_url: str,
    tmp_path: Path,
) -> None:
    # This week's digest counts as done, so the reconciler below sends alerts only.
    week = digest.iso_week_now(current_app.config["SETTINGS"])
    db.session.add(DigestRun(iso_week=week, recipient="deja@fait.test"))
    db.session.commit()
    env = worker_env(pg_url, own_redis.url, queue, smtp.port, tmp_path, SECRET)
    worker = Worker(env, queue, tmp_path).start()
    try:
        own_redis.freeze()  # accepts connections, never answers
        assert timed_report(client, people["worker"], "ACC-01") < 5
        own_redis.kill()  # connection refused
        assert timed_report(client, people["worker"], "ACC-02") < 5
        assert db.session.query(Report).count() == 2
        expected = rise_recipients(people)
        rows = notifications()
        assert len(rows) == 2 * len(expected)
        assert {(n.state, n.attempts) for n in rows} == {("pending", 0)}
        assert smtp.collector.count() == 0

        own_redis.start()  # back, on the same port, empty
        result = app.test_cli_runner().invoke(args=["alerts", "reconcile"])
        assert result.exit_code == 0, result.output
        assert f"notifications relancées\xa0: {2 * len(expected)}." in result.output
        rows = wait_until(
            lambda: settled(2 * len(expected), queue, own_redis.url), 90, worker.log.name
        )
    finally:
        worker.stop()
        if own_redis.process is not None:
            clear_queue(own_redis.url, queue)
    assert {(n.state, n.attempts) for n in rows} == {("sent", 1)}
    for address in expected:
        subjects = sorted(m["Subject"] for m in smtp.collector.to(address))
        assert len(subjects) == 2, address
        assert "orange 1" in subjects[0] or "oranje 1" in subjects[0]


def test_a_kept_publishing_connection_survives_a_redis_restart(
    app: Flask,
    client: FlaskClient,
    people: dict[str, Any],
    own_redis: RedisServer,
    queue: str,
) -> None:
    """Hand-overs reuse one connection; after a restart the next one still publishes."""
    from alerts import dispatch

    report(client, people["worker"], ["ACC-01"])
    kept = dispatch._kept_connection(app)
    assert kept is not None
    report(client, people["worker"], ["ACC-02"])
    assert dispatch._kept_connection(app) is kept  # the same connection, not a new one
    published = own_redis.client().llen(f"{queue}.delivery")
    assert published >= 2

    own_redis.kill()
    own_redis.start()  # back on the same port, empty: the kept socket is dead
    started = time.monotonic()
    report(client, people["worker"], ["ACC-03"])
    assert time.monotonic() - started < 5
    assert (
        own_redis.client().llen(f"{queue}.delivery") >= 1
    )  # published at once, not left to the reconciler

    own_redis.freeze()  # a kept connection to a broker that stopped answering
    try:
        started = time.monotonic()
        report(client, people["worker"], ["ACC-04"])
        assert time.monotonic() - started < 5
        assert dispatch._kept_connection(app) is None  # dropped: the next hand-over starts afresh
    finally:
        own_redis.thaw()
