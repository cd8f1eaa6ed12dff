"""Integration (issue 30, « Acceptance »): channels delivered by a real Celery worker.

The web side runs in this process (reports filed here commit to a test PostgreSQL
database and publish to Redis); a real `celery -A alerts worker` subprocess, with
CHANNELS_ALLOW_PRIVATE=1 as the tests' local receivers need, takes the tasks and
posts to local HTTP receivers (`receivers.HookReceiver`): a Standard Webhooks
receiver, verified with the library's own `Webhook.verify`, and Apprise's `json://`
target. The reconciler is run here, as beat would run it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, current_app
from freezegun import freeze_time
from sqlalchemy import update
from standardwebhooks import Webhook

from alerts.channels import send, service
from alerts.digest import iso_week_now
from alerts.models import TROUBLE, DigestRun, Notification
from alerts.reconcile import reconcile
from barometre import services
from barometre.extensions import db
from barometre.models import ROLE_COORDINATOR
from tests.conftest import file_report

from .conftest import SECRET, notifications, user
from .support import (
    HookReceiver,
    SmtpServer,
    Worker,
    clear_queue,
    free_port,
    queued,
    wait_until,
    worker_env,
)

pytestmark = pytest.mark.integration

REDIS_DB = int(os.environ.get("TEST_CHANNELS_REDIS_DB", "12"))
BROKER = f"redis://127.0.0.1:6379/{REDIS_DB}"
FINAL = ("sent", "failed")


@pytest.fixture
def backend() -> str:
    return "postgresql"  # one database shared by this process and the worker


@pytest.fixture(scope="module")
def queue() -> str:
    return f"channels-test-{uuid.uuid4().hex[:10]}"


def channel_worker_env(pg_url: str, queue: str, smtp_port: int, folder: Path) -> dict[str, str]:
    env = worker_env(pg_url, BROKER, queue, smtp_port, folder, SECRET)
    env["CHANNELS_ALLOW_PRIVATE"] = "1"
    return env


@pytest.fixture(scope="module")
def worker(
    pg_url: str, queue: str, smtp_server: SmtpServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    folder = tmp_path_factory.mktemp("channels-worker")
    process = Worker(channel_worker_env(pg_url, queue, smtp_server.port, folder), queue, folder)
    yield process.start()
    process.stop()
    clear_queue(BROKER, queue)


def overrides(queue: str, smtp_server: SmtpServer) -> dict[str, Any]:
    return {
        "redis_url": BROKER,
        "celery_queue": queue,
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_server.port,
        "alert_group_wait": 0,
        "mail_from": "barometre@fidex.test",
        "channels_allow_private": True,
    }


@pytest.fixture
def settings_overrides(queue: str, smtp_server: SmtpServer) -> dict[str, Any]:
    return overrides(queue, smtp_server)


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    server = HookReceiver().start()
    yield server
    server.stop()


def settings() -> services.Settings:
    return current_app.config["SETTINGS"]  # type: ignore[no-any-return]


def add_channel(url: str) -> service.Added:
    """A committee channel: it gets every alert."""
    added = service.add(db.session, None, settings(), url)
    db.session.commit()
    return added


@pytest.fixture(autouse=True)
def digest_already_planned(app: Flask) -> None:
    """This week's digest is planned already: the reconciler run by these tests in real
    time (on a Tuesday, say) would otherwise catch it up and send it to every channel."""
    db.session.add(DigestRun(iso_week=iso_week_now(settings()), recipient="personne@fidex.test"))
    db.session.commit()


def settled(count: int, queue: str) -> list[Notification] | None:
    """`count` notifications, all done, and nothing left in the queues."""
    rows = notifications()
    done = len(rows) == count and all(n.state in FINAL for n in rows)
    return rows if done and queued(BROKER, queue) == 0 else None


def channel_rows() -> list[Notification]:
    return [n for n in notifications() if n.channel_id is not None]


def test_a_report_reaches_a_webhook_and_a_chat_once_each(
    app: Flask, receiver: HookReceiver, worker: Worker, queue: str
) -> None:
    webhook = add_channel(receiver.url("/hook"))
    add_channel(receiver.url("/chat", "json"))
    file_report()  # orange 1: one event, its rows handed over to the worker
    rows = wait_until(lambda: settled(2, queue), 20, "the two deliveries")
    assert {(n.state, n.attempts) for n in rows} == {("sent", 1)}
    chat, hook = sorted(receiver.all(), key=lambda r: r.path)
    assert (chat.path, hook.path) == ("/chat", "/hook")
    payload = Webhook(webhook.generated_secret).verify(hook.body, hook.headers)
    assert payload["type"] == "level.changed" and payload["data"]["to"]["colour"] == "orange"
    [hook_row] = [n for n in rows if n.channel_id == webhook.channel.id]
    assert hook.headers["webhook-id"] == send.webhook_id(hook_row.id, settings())
    assert "orange 1 sur 5" in chat.text
    assert receiver.count() == 2, worker.output()  # exactly one each


def test_a_receiver_down_then_up_is_retried_and_gets_it_once(
    app: Flask, worker: Worker, queue: str
) -> None:
    port = free_port()  # nothing listens there yet: connection refused
    added = add_channel(f"http://127.0.0.1:{port}/hook")
    file_report()
    [row] = wait_until(
        lambda: [n for n in channel_rows() if n.attempts == 1 and n.state == "pending"],
        20,
        "the refused attempt",
    )
    assert "Connection" in row.last_error and row.next_attempt_at > datetime.now()
    receiver = HookReceiver(port).start()
    try:
        # The backoff has passed (the worker's clock is its own: the row's time is moved).
        db.session.execute(
            update(Notification)
            .where(Notification.id == row.id)
            .values(next_attempt_at=datetime.now() - timedelta(seconds=1))
        )
        db.session.commit()
        done = reconcile(db.session, settings())
        assert done.requeued == 1
        db.session.commit()  # hands the due row over to the worker
        [row] = wait_until(lambda: settled(1, queue), 20, "the retry")
        assert (row.state, row.attempts) == ("sent", 2)
        [request] = receiver.all()
        Webhook(added.generated_secret).verify(request.body, request.headers)
    finally:
        receiver.stop()


def test_a_410_fails_at_once_and_the_coordinators_are_warned(
    app: Flask, receiver: HookReceiver, smtp: SmtpServer, worker: Worker, queue: str
) -> None:
    coordinator = user("coordination-canaux@fidex.test", ROLE_COORDINATOR)
    added = add_channel(receiver.url("/hook"))
    receiver.answer(410)
    file_report()
    rows = wait_until(lambda: settled(2, queue), 20, "the rise's deliveries")
    [row] = [n for n in rows if n.channel_id is not None]
    assert (row.state, row.attempts, row.last_error) == ("failed", 1, "HTTP 410 Gone")
    reconcile(db.session, settings())
    db.session.commit()  # the daily warning, handed over to the worker
    wait_until(lambda: settled(3, queue), 20, "the warning")
    [warning] = notifications(kind=TROUBLE)
    assert warning.state == "sent"
    [email] = [m for m in smtp.collector.to(coordinator.email) if "HTTP 410" in str(m)]
    text = email.get_body(("plain",)).get_content()
    assert f"webhook n° {added.channel.id} · {added.channel.shown}" in text
    assert "HTTP 410" in text
    assert receiver.count() == 1  # never retried


class TestWorkerKilled:
    """SIGKILL of the delivery worker while the receiver holds the webhook's POST open.

    Nothing is lost: the row stays `sending`, the reconciler finds it after
    SENDING_TIMEOUT (`mark_stuck`), makes it uncertain and hands it over again; a
    second worker sends it and records it `sent`. The duplicate is the documented
    one: the first POST reached the receiver before the kill, and the resend carries
    the same `webhook-id` (and a valid signature), so a receiver that deduplicates on
    `webhook-id`, as Standard Webhooks asks, keeps one.
    """

    @pytest.fixture
    def own_queue(self) -> Iterator[str]:
        name = f"channels-test-kill-{uuid.uuid4().hex[:8]}"
        yield name
        clear_queue(BROKER, name)

    @pytest.fixture
    def settings_overrides(self, own_queue: str, smtp_server: SmtpServer) -> dict[str, Any]:
        return overrides(own_queue, smtp_server)

    def test_killed_mid_post_the_row_ends_sent_with_one_webhook_id(
        self,
        app: Flask,
        receiver: HookReceiver,
        smtp_server: SmtpServer,
        pg_url: str,
        own_queue: str,
        tmp_path: Path,
    ) -> None:
        added = add_channel(receiver.url("/hook"))
        env = channel_worker_env(pg_url, own_queue, smtp_server.port, tmp_path)
        first = Worker(env, own_queue, tmp_path).start()
        second = None
        try:
            receiver.hold_once()
            file_report()
            assert receiver.held.wait(20), first.output()
            [row] = notifications()
            assert (row.state, row.attempts) == ("sending", 1)
            first.kill()
            receiver.release.set()
            second = Worker(env, own_queue, tmp_path).start()
            with freeze_time(datetime.now() + timedelta(minutes=6)):
                done = reconcile(db.session, settings())
            assert done.uncertain == 1 and done.requeued == 1
            db.session.commit()  # hands the uncertain row over to the second worker
            [row] = wait_until(lambda: settled(1, own_queue), 20, "the resend")
        finally:
            first.kill()
            if second is not None:
                second.stop()
        assert (row.state, row.attempts) == ("sent", 2)
        requests = receiver.all()
        assert len(requests) == 2
        assert {r.headers["webhook-id"] for r in requests} == {send.webhook_id(row.id, settings())}
        assert requests[0].body == requests[1].body
        for request in requests:
            Webhook(added.generated_secret).verify(request.body, request.headers)
