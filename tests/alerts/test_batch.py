"""Batches (R8, SPEC §7.3): one task, one SMTP connection, each email composed and sent on its own.

Each notification of a batch keeps its own claim, Message-ID and outcome; the
hand-over publishes batches instead of one task per notification.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask, current_app
from freezegun import freeze_time
from sqlalchemy import select

from alerts import delivery, dispatch, handoff, transport
from alerts.emails import message_id
from alerts.models import Notification
from barometre import services
from barometre.extensions import db
from barometre.models import Condition
from barometre.services import record_report
from bench.querycount import count_queries
from tests.conftest import file_report, report_input

from .conftest import add_contact, notifications, rise_recipients
from .support import SmtpServer, clear_queue, queue_length

pytestmark = pytest.mark.committing  # other connections, threads or processes read its commits

REDIS_DB = int(os.environ.get("TEST_ALERTS_REDIS_DB", "11"))
BROKER = f"redis://127.0.0.1:6379/{REDIS_DB}"
MONDAY_EARLY = "2026-03-02 05:00:00"  # 06:00 in Brussels: no digest due yet


@pytest.fixture
def settings_overrides(smtp_server: SmtpServer) -> dict[str, Any]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_server.port,
        "alert_group_wait": 0,
        "mail_from": "barometre@fidex.test",
    }


def settings() -> services.Settings:
    return current_app.config["SETTINGS"]  # type: ignore[no-any-return]


def report_not_handed_over(**kwargs: Any) -> list[Notification]:
    """A report whose notifications are stored but were never handed over (a lost hand-over)."""
    record_report(db.session, report_input(**kwargs), None, settings())
    db.session.info.pop(handoff.INFO_KEY, None)
    db.session.commit()
    rows = notifications()
    assert rows and {(n.state, n.attempts) for n in rows} == {("pending", 0)}
    return rows


def test_a_batch_sends_every_notification_over_one_connection(
    app: Flask, people: dict[str, Any], smtp: SmtpServer
) -> None:
    rows = report_not_handed_over()
    ids = [n.id for n in rows]
    outcomes = delivery.deliver_batch(db.session, ids, settings())
    assert outcomes == {i: "sent" for i in ids}
    assert smtp.collector.connections() == 1
    received = smtp.collector.all()
    assert len(received) == len(ids)
    assert sorted(m.message["Message-ID"] for m in received) == sorted(
        message_id(i, settings()) for i in ids
    )
    assert sorted(a for m in received for a in m.recipients) == sorted(rise_recipients(people))
    assert {(n.state, n.attempts) for n in notifications()} == {("sent", 1)}
    # A batch run again (a redelivered task) sends nothing more.
    assert set(delivery.deliver_batch(db.session, ids, settings()).values()) == {"skipped"}
    assert smtp.collector.count() == len(ids)


def test_a_451_for_one_recipient_leaves_it_pending_and_the_others_sent(
    app: Flask, people: dict[str, Any], smtp: SmtpServer
) -> None:
    with freeze_time(MONDAY_EARLY, real_asyncio=True):
        rows = report_not_handed_over()
        refused = rows[1]
        smtp.collector.refuse_once(refused.recipient, "451 4.3.0 Essayez plus tard")
        outcomes = delivery.deliver_batch(db.session, [n.id for n in rows], settings())
    assert outcomes[refused.id] == "pending"
    assert [s for i, s in outcomes.items() if i != refused.id] == ["sent"] * (len(rows) - 1)
    assert smtp.collector.connections() == 1  # the connection outlived the refusal
    after = {n.id: n for n in notifications()}
    row = after[refused.id]
    assert (row.state, row.attempts) == ("pending", 1)
    assert row.last_error.startswith("451 4.3.0")
    wait = row.next_attempt_at - datetime(2026, 3, 2, 5)
    assert timedelta(seconds=48) <= wait <= timedelta(seconds=72)
    assert all(n.state == "sent" for i, n in after.items() if i != refused.id)
    assert smtp.collector.to(refused.recipient) == []


def test_a_connection_closed_mid_batch_fails_that_one_and_the_next_reconnect(
    app: Flask, people: dict[str, Any], smtp: SmtpServer
) -> None:
    rows = report_not_handed_over()
    smtp.collector.answer("421 4.3.2 Fermeture du service")  # smtplib closes the connection
    outcomes = delivery.deliver_batch(db.session, [n.id for n in rows], settings())
    assert list(outcomes.values()) == ["pending"] + ["sent"] * (len(rows) - 1)
    assert smtp.collector.connections() == 2
    first = notifications()[0]
    assert (first.state, first.attempts) == ("pending", 1)
    assert first.last_error.startswith("421")


def test_a_notification_claimed_by_someone_else_is_skipped_in_a_batch(
    app: Flask, people: dict[str, Any], smtp: SmtpServer
) -> None:
    rows = report_not_handed_over()
    taken = rows[2]
    assert delivery.claim(db.session, taken.id, datetime.now())  # another worker is on it
    db.session.commit()
    outcomes = delivery.deliver_batch(db.session, [n.id for n in rows], settings())
    assert outcomes[taken.id] == "skipped"
    assert [s for i, s in outcomes.items() if i != taken.id] == ["sent"] * (len(rows) - 1)
    row = {n.id: n for n in notifications()}[taken.id]
    assert (row.state, row.attempts) == ("sending", 1)  # left to its owner
    assert smtp.collector.to(taken.recipient) == []
    assert smtp.collector.count() == len(rows) - 1


def test_embedded_mode_delivers_a_report_over_one_connection(
    app: Flask, people: dict[str, Any], smtp: SmtpServer
) -> None:
    file_report()
    rows = notifications()
    assert {(n.state, n.attempts) for n in rows} == {("sent", 1)}
    assert smtp.collector.count() == len(rows) == len(rise_recipients(people))
    assert smtp.collector.connections() == 1


def test_embedded_mode_without_smtp_writes_the_outbox_in_one_batch(
    app: Flask, people: dict[str, Any]
) -> None:
    current_app.config["SETTINGS"] = settings().with_overrides(smtp_host="")
    rows = report_not_handed_over()
    dispatch.deliver_in_process(app, [n.id for n in rows])
    files = sorted(settings().outbox_path.glob("*.eml"))
    assert [f.name for f in files] == [transport.outbox_name(n.id) for n in rows]
    assert {n.state for n in notifications()} == {"sent"}


def test_the_batch_budget_leaves_the_rest_pending_for_the_reconciler(
    app: Flask, people: dict[str, Any], smtp: SmtpServer
) -> None:
    rows = report_not_handed_over()
    ids = [n.id for n in rows]
    outcomes = delivery.deliver_batch(db.session, ids, settings(), budget=-1.0)
    assert outcomes == {}
    assert {(n.state, n.attempts) for n in notifications()} == {("pending", 0)}
    assert smtp.collector.count() == 0


def test_batches_are_even_and_keep_the_order() -> None:
    assert dispatch.batches([]) == []
    assert dispatch.batches(list(range(5)), 12) == [[0, 1, 2, 3, 4]]
    assert dispatch.batches(list(range(24)), 12) == [list(range(12)), list(range(12, 24))]
    cut = dispatch.batches(list(range(25)), 12)
    assert [len(b) for b in cut] == [9, 8, 8]
    assert [i for b in cut for i in b] == list(range(25))


# --- the hand-over, on a real Redis ------------------------------------------------------


@pytest.fixture
def queue() -> Iterator[str]:
    name = f"alerts-test-batch-{uuid.uuid4().hex[:8]}"
    yield name
    clear_queue(BROKER, name)


def queued_tasks(queue: str) -> list[tuple[str, list[Any]]]:
    import redis

    client = redis.Redis.from_url(BROKER, socket_timeout=2)
    try:
        raw = client.lrange(queue, 0, -1)
    finally:
        client.close()
    found = []
    for item in reversed(raw):  # kombu pushes on the left: oldest last
        message = json.loads(item)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        found.append((str(message["headers"]["task"]), list(args)))
    return found


@pytest.mark.parametrize("backend", ["postgresql"])
def test_the_hand_over_publishes_notifications_in_batches(
    app: Flask, people: dict[str, Any], queue: str
) -> None:
    current_app.config["SETTINGS"] = settings().with_overrides(redis_url=BROKER, celery_queue=queue)
    for n in range(20):
        add_contact(f"direction-{n}@haren.test", language=("fr", "nl")[n % 2])
    file_report()
    ids = [n.id for n in notifications()]
    assert len(ids) == len(rise_recipients(people)) + 20 == 25
    assert queue_length(BROKER, queue) == 0  # alerts go to the delivery queue
    assert queue_length(BROKER, settings().delivery_queue) == 3
    tasks = queued_tasks(settings().delivery_queue)
    assert {name for name, _ in tasks} == {"alerts.send_notifications"}
    batches = [args[0] for _, args in tasks]
    assert [len(b) for b in batches] == [9, 8, 8]
    assert [i for b in batches for i in b] == ids


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_digest_is_queued_behind_its_own_work_never_in_front_of_alerts(
    app: Flask, people: dict[str, Any], queue: str
) -> None:
    """Alerts go to the delivery queue, a digest's emails to the default queue (and its
    requeued rows too), so that a digest of a thousand emails never delays an alert."""
    from alerts import digest
    from alerts.reconcile import reconcile

    current_app.config["SETTINGS"] = settings().with_overrides(redis_url=BROKER, celery_queue=queue)
    file_report()
    alerts = sorted(n.id for n in notifications())
    planned = sorted(n.id for n in digest.plan(db.session, settings()))  # this week: done
    db.session.commit()
    assert alerts and planned

    def queued_ids(name: str) -> list[int]:
        return sorted(i for _, args in queued_tasks(name) for i in args[0])

    assert queued_ids(settings().delivery_queue) == alerts
    assert queued_ids(queue) == planned
    clear_queue(BROKER, queue)
    reconcile(db.session, settings())  # every row still pending and due: requeued alike
    db.session.commit()
    assert queued_ids(settings().delivery_queue) == alerts
    assert queued_ids(queue) == planned


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_a_batch_logs_in_once_for_its_connection(app: Flask, people: dict[str, Any]) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    from .support import Collector, free_port

    logins: list[str] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        logins.append(mechanism)
        return AuthResult(success=True)

    collector = Collector()
    port = free_port()
    controller = Controller(
        collector,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        current_app.config["SETTINGS"] = settings().with_overrides(
            smtp_port=port,
            smtp_user="barometre",
            smtp_password="mot-de-passe-smtp",
            smtp_allow_plain_login=True,  # a local relay: the documented opt-out
        )
        rows = report_not_handed_over()
        outcomes = delivery.deliver_batch(db.session, [n.id for n in rows], settings())
    finally:
        controller.stop()
    assert set(outcomes.values()) == {"sent"}
    assert collector.count() == len(rows) > 1
    assert (collector.connections(), len(logins)) == (1, 1)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_each_email_is_one_claim_then_one_outcome(
    app: Flask, people: dict[str, Any], smtp: SmtpServer
) -> None:
    """The same two conditional UPDATEs on every database: the claim before the email
    leaves, its outcome right after."""
    rows = report_not_handed_over()
    with count_queries(db.engine) as log:
        outcomes = delivery.deliver_batch(db.session, [n.id for n in rows], settings())
    updates = [" ".join(s.split()) for s in log.statements if "UPDATE notification" in s]
    assert set(outcomes.values()) == {"sent"}
    assert len(updates) == 2 * len(rows)
    assert all(s.startswith("UPDATE notification SET state=") for s in updates)
    assert [("RETURNING" in s) for s in updates] == [True, False] * len(rows)  # claim, outcome
    assert {(n.state, n.attempts) for n in notifications()} == {("sent", 1)}


def test_a_batch_reads_what_an_alert_says_once_for_its_recipients_alike(
    app: Flask, people: dict[str, Any], smtp: SmtpServer
) -> None:
    """The event's situations and the offer types are read once per language and kind of
    link in a batch, not once per email; every email still names them."""
    from alerts.emails import signed_links_for

    rows = report_not_handed_over()
    alike = {(n.language, signed_links_for(n.recipient_kind)) for n in rows}
    with count_queries(db.engine) as log:
        outcomes = delivery.deliver_batch(db.session, [n.id for n in rows], settings())
    reads = [s for s in log.statements if "FROM situation" in s or "FROM offer_type" in s]
    assert set(outcomes.values()) == {"sent"}
    assert len(rows) > len(alike)
    # The situations and the offer types once per language and kind of link; the
    # situations the change's cause is about once for the event.
    assert len(reads) == 2 * len(alike) + 1
    sec01 = db.session.scalars(select(Condition).where(Condition.code == "SEC-01")).one()
    language = {message_id(n.id, settings()): n.language for n in rows}
    received = smtp.collector.all()
    assert len(received) == len(rows)
    for m in received:
        words = sec01.label(language[m.message["Message-ID"]])
        assert words in m.message.get_body(("plain",)).get_content()


def test_the_worker_tasks_call_their_service_in_the_app(
    app: Flask, people: dict[str, Any], smtp: SmtpServer
) -> None:
    """What a worker process runs, run here: each task's answer is what its log line says."""
    from alerts import tasks
    from alerts.celery_app import use_flask_app

    use_flask_app(app)
    try:
        with freeze_time(MONDAY_EARLY):
            ids = [n.id for n in report_not_handed_over()]
            assert tasks.send_notifications.apply(args=[ids]).get() == {"sent": len(ids)}
            assert tasks.send_notification.apply(args=[ids[0]]).get() == "skipped"
            assert tasks.send_group.apply(args=[10**6]).get() is False  # no such group
            assert tasks.reconcile.apply().get()["requeued"] == 0
            assert smtp.collector.count() == len(ids)
            assert {(n.state, n.attempts) for n in notifications()} == {("sent", 1)}
            assert tasks.send_digest.apply().get() > 0
            assert tasks.send_digest.apply().get() == 0  # once a week, whatever beat does
    finally:
        use_flask_app(None)
