"""Integration: real Redis, real `celery -A alerts worker` processes, real SMTP (aiosmtpd).

The web side runs in this process (the test client, committing to a test
PostgreSQL database); the worker subprocess reads the same database, takes
tasks from a queue unique to this module on its own Redis database number, and
sends to the SMTP server of this module.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, current_app
from flask.testing import FlaskClient
from freezegun import freeze_time

from alerts.emails import message_id
from alerts.reconcile import reconcile
from barometre import clock
from barometre.extensions import db
from tests.conftest import bearer, login

from .conftest import SECRET, add_contact, notifications, rise_recipients
from .support import SmtpServer, Worker, clear_queue, queued, wait_until, worker_env

pytestmark = pytest.mark.integration

REDIS_DB = int(os.environ.get("TEST_ALERTS_REDIS_DB", "11"))
BROKER = f"redis://127.0.0.1:6379/{REDIS_DB}"
FIVE = ["ACC-01", "ACC-02", "ACC-03", "SEC-01", "SEC-02"]
FINAL = ("sent", "failed")


@pytest.fixture
def backend() -> str:
    return "postgresql"  # one database shared by this process and the worker


@pytest.fixture(scope="module")
def queue() -> str:
    return f"alerts-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def worker(
    pg_url: str, queue: str, smtp_server: SmtpServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    folder = tmp_path_factory.mktemp("worker")
    env = worker_env(pg_url, BROKER, queue, smtp_server.port, folder, SECRET)
    process = Worker(env, queue, folder).start()
    yield process
    process.stop()
    clear_queue(BROKER, queue)


@pytest.fixture
def settings_overrides(queue: str, smtp_server: SmtpServer) -> dict[str, Any]:
    return {
        "redis_url": BROKER,
        "celery_queue": queue,
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_server.port,
        "alert_group_wait": 0,
        "mail_from": "barometre@fidex.test",
    }


def report(client: FlaskClient, author: Any, conditions: list[str], **extra: Any) -> int:
    body = {
        "establishment": "haren",
        "visit_date": clock.today().isoformat(),
        "conditions": conditions,
        "offer_types": ["individuel"],
        **extra,
    }
    response = client.post("/api/v1/reports", json=body, headers=bearer(author))
    assert response.status_code == 201, response.get_json()
    return int(response.get_json()["id"])


def settled(count: int, queue: str, broker: str = BROKER) -> list[Any] | None:
    """All `count` notifications done and nothing left in the queue."""
    rows = notifications()
    done = len(rows) == count and all(n.state in FINAL for n in rows)
    return rows if done and queued(broker, queue) == 0 else None


def addresses(smtp: SmtpServer) -> list[str]:
    return sorted(a for r in smtp.collector.all() for a in r.recipients)


def test_a_report_delivers_exactly_one_email_per_recipient_in_their_language(
    client: FlaskClient, people: dict[str, Any], smtp: SmtpServer, worker: Worker, queue: str
) -> None:
    report(client, people["worker"], ["SEC-01"])
    expected = rise_recipients(people)
    rows = wait_until(lambda: settled(len(expected), queue), 30, "deliveries")
    assert {(n.state, n.attempts) for n in rows} == {("sent", 1)}
    assert addresses(smtp) == sorted(a.lower() for a in expected)
    for address, lang in expected.items():
        [message] = smtp.collector.to(address)
        prefix = {"nl": "Barometer: Gevangenis van Haren gaat naar"}.get(
            lang, "Baromètre\xa0: la prison"
        )
        assert message["Subject"].startswith(prefix)
    ids = {message_id(n.id, current_app.config["SETTINGS"]) for n in rows}
    assert {r.message["Message-ID"] for r in smtp.collector.all()} == ids


def test_a_message_of_the_single_notification_task_still_runs(
    app: Flask, people: dict[str, Any], smtp: SmtpServer, worker: Worker, queue: str
) -> None:
    """Messages queued before batches (`alerts.send_notification`, one id) are still served."""
    from alerts.dispatch import SEND_NOTIFICATION, publish_tasks
    from alerts.handoff import INFO_KEY
    from barometre.services import record_report
    from tests.conftest import report_input

    record_report(db.session, report_input(), None, current_app.config["SETTINGS"])
    db.session.info.pop(INFO_KEY, None)  # nothing handed over: the old messages below instead
    db.session.commit()
    rows = notifications()
    delivery = current_app.config["SETTINGS"].delivery_queue
    assert publish_tasks(app, [(SEND_NOTIFICATION, n.id, None, delivery) for n in rows])
    done = wait_until(lambda: settled(len(rows), queue), 30, "single deliveries")
    assert {(n.state, n.attempts) for n in done} == {("sent", 1)}
    assert addresses(smtp) == sorted(a.lower() for a in rise_recipients(people))


def test_red_sends_the_red_template(
    client: FlaskClient, people: dict[str, Any], smtp: SmtpServer, worker: Worker, queue: str
) -> None:
    report(client, people["worker"], FIVE, offer_types=["individuel", "collectif"])
    expected = {**rise_recipients(people), people["red_only"]: "fr"}
    wait_until(lambda: settled(len(expected), queue), 30, "deliveries")
    assert addresses(smtp) == sorted(a.lower() for a in expected)
    assert {r.message["Subject"] for r in smtp.collector.all()} == {
        "Baromètre\xa0: code rouge à la prison de Haren",
        "Barometer: code rood in Gevangenis van Haren",
    }


def test_rejection_back_to_green_sends_the_back_to_green_notice(
    client: FlaskClient, people: dict[str, Any], smtp: SmtpServer, worker: Worker, queue: str
) -> None:
    report_id = report(client, people["worker"], ["SEC-01"])
    expected = rise_recipients(people)
    wait_until(lambda: settled(len(expected), queue), 30, "rise deliveries")
    response = client.post(
        f"/api/v1/reports/{report_id}/reject",
        json={"reason": "Doublon"},
        headers=bearer(people["coordinator"]),
    )
    assert response.status_code == 200
    wait_until(lambda: settled(2 * len(expected), queue), 30, "green deliveries")
    for address in expected:
        subjects = [m["Subject"] for m in smtp.collector.to(address)]
        assert len(subjects) == 2
        assert subjects[1] in (
            "Baromètre\xa0: la prison de Haren revient au vert",
            "Barometer: Gevangenis van Haren opnieuw groen",
        )


def test_a_red_email_explains_itself_its_link_opens_and_the_fall_reaches_its_recipients(
    app: Flask,
    client: FlaskClient,
    people: dict[str, Any],
    smtp: SmtpServer,
    worker: Worker,
    queue: str,
) -> None:
    """R14 end to end: worker-rendered red email, signed link without session, red lifted."""
    from sqlalchemy import select

    from barometre import services
    from barometre.models import Condition, Situation

    assert not current_app.config["SETTINGS"].public_barometer
    report(client, people["worker"], ["ACC-01", "ACC-02", "SEC-01"])
    report(client, people["worker"], ["OFF-01", "SEC-02"], offer_types=["collectif"])
    red_recipients = {**rise_recipients(people), people["red_only"]: "fr"}
    total = len(rise_recipients(people)) + len(red_recipients)
    wait_until(lambda: settled(total, queue), 30, "rise and red deliveries")
    [red] = smtp.collector.to(people["red_only"])
    assert red["Subject"] == "Baromètre\xa0: code rouge à la prison de Haren"
    text = red.get_body(("plain",)).get_content().replace("\r", "")
    assert "5 situations problématiques différentes" in text and "2 types d'offre sur 3" in text
    conditions = {c.code: c for c in db.session.scalars(select(Condition))}
    for code, types in [
        ("ACC-01", "individuel"),
        ("ACC-02", "individuel"),
        ("SEC-01", "individuel"),
        ("OFF-01", "collectif"),
        ("SEC-02", "collectif"),
    ]:
        condition = conditions[code]
        category = condition.category.label("fr")
        line = f"{condition.label('fr')} ({category}\xa0; type d'offre\xa0: {types})"
        assert line in text, code
    assert text.count("- [NOUVELLE] ") == 2
    [link] = re.findall(r"http://\S+/etablissements/haren\?lien=\S+", text)

    visitor = app.test_client()  # no session, PUBLIC_BAROMETER=0
    page = visitor.get(link)
    assert page.status_code == 200
    assert "Prison de Haren" in page.get_data(as_text=True)
    tampered = visitor.get(link[:-3] + ("xyz" if not link.endswith("xyz") else "abc"))
    assert tampered.status_code == 403
    assert "Ce lien n'est pas valide" in tampered.get_data(as_text=True)
    with freeze_time(datetime.now() + timedelta(days=31)):
        expired = visitor.get(link)
    assert expired.status_code == 410 and "Ce lien a expiré" in expired.get_data(as_text=True)

    late = add_contact("nouveau-contact@haren.test").email  # not told of the red
    situation = db.session.scalars(
        select(Situation).where(Situation.status == "open").order_by(Situation.id)
    ).first()
    assert situation is not None
    services.resolve_situation(
        db.session, situation.id, people["coordinator"], "Réglé", current_app.config["SETTINGS"]
    )
    db.session.commit()  # hands the red-lifted notifications over to the worker
    wait_until(lambda: settled(total + len(red_recipients), queue), 30, "red lifted deliveries")
    lifted = [
        r
        for r in smtp.collector.all()
        if "levé" in r.message["Subject"] or "opgeheven" in r.message["Subject"]
    ]
    assert sorted(a for r in lifted for a in r.recipients) == sorted(
        a.lower() for a in red_recipients
    )
    assert smtp.collector.to(late) == []
    [fall] = smtp.collector.to(people["red_only"])[1:]
    assert fall["Subject"] == "Baromètre\xa0: le code rouge est levé à la prison de Haren"


class TestGroupWait:
    @pytest.fixture
    def settings_overrides(self, queue: str, smtp_server: SmtpServer) -> dict[str, Any]:
        return {
            "redis_url": BROKER,
            "celery_queue": queue,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_server.port,
            "alert_group_wait": 2,
            "mail_from": "barometre@fidex.test",
        }

    def test_three_reports_within_the_group_wait_deliver_one_email(
        self,
        client: FlaskClient,
        people: dict[str, Any],
        smtp: SmtpServer,
        worker: Worker,
        queue: str,
    ) -> None:
        for code in ("ACC-01", "ACC-02", "SEC-01"):
            report(client, people["worker"], [code])
        assert smtp.collector.count() == 0
        expected = rise_recipients(people)
        wait_until(lambda: settled(len(expected), queue), 30, "the grouped deliveries")
        assert addresses(smtp) == sorted(a.lower() for a in expected)
        [message] = smtp.collector.to(people["fr"])
        assert (
            message["Subject"] == "Baromètre\xa0: la prison de Haren passe en code orange 3 sur 5"
        )


class TestWorkerKilled:
    """SIGKILL while the SMTP server holds the message: nothing lost, resent with its Message-ID."""

    @pytest.fixture
    def own_queue(self) -> Iterator[str]:
        name = f"alerts-test-kill-{uuid.uuid4().hex[:8]}"
        yield name
        clear_queue(BROKER, name)

    @pytest.fixture
    def settings_overrides(self, own_queue: str, smtp_server: SmtpServer) -> dict[str, Any]:
        return {
            "redis_url": BROKER,
            "celery_queue": own_queue,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_server.port,
            "alert_group_wait": 0,
            "mail_from": "barometre@fidex.test",
        }

    def test_killed_while_sending_the_row_ends_sent(
        self,
        app: Flask,
        client: FlaskClient,
        people: dict[str, Any],
        smtp: SmtpServer,
        pg_url: str,
        own_queue: str,
        tmp_path: Path,
    ) -> None:
        from barometre.models import Contact, MemberService, User

        # One recipient only: a contact.
        db.session.query(Contact).delete()
        db.session.query(MemberService).update({"alert_emails": ""})
        db.session.query(User).filter(User.role == "coordinator").update({"active": False})
        db.session.commit()
        add_contact("lent@haren.test", digest=False)  # no digest in the way
        env = worker_env(pg_url, BROKER, own_queue, smtp.port, tmp_path, SECRET)
        first = Worker(env, own_queue, tmp_path).start()
        second = None
        try:
            smtp.collector.hold_once("lent@haren.test")
            report(client, people["worker"], ["SEC-01"])
            assert smtp.collector.held.wait(30), first.output()
            [row] = notifications()
            assert (row.state, row.attempts) == ("sending", 1)
            first.kill()
            smtp.collector.release.set()
            second = Worker(env, own_queue, tmp_path).start()
            with freeze_time(datetime.now() + timedelta(minutes=6)):
                done = reconcile(db.session, current_app.config["SETTINGS"])
            assert done.uncertain == 1 and done.requeued == 1
            db.session.commit()  # hands the uncertain row over to the second worker
            rows = wait_until(lambda: settled(1, own_queue), 30, "the resend")
        finally:
            first.kill()
            if second is not None:
                second.stop()
        assert (rows[0].state, rows[0].attempts) == ("sent", 2)
        received = smtp.collector.to("lent@haren.test")
        # The first copy reached the server before the kill: the one documented duplicate,
        # which carries the same Message-ID so mail clients fold it.
        assert len(received) == 2
        assert {m["Message-ID"] for m in received} == {
            message_id(rows[0].id, current_app.config["SETTINGS"])
        }


def test_the_beat_digest_task_sends_once_per_recipient_through_the_worker(
    app: Flask, people: dict[str, Any], smtp: SmtpServer, worker: Worker, queue: str
) -> None:
    from alerts.dispatch import publisher

    celery = publisher(app)
    for _ in range(2):  # two beats, or a beat and a restart, in the same week
        celery.send_task("alerts.send_digest", queue=queue, retry=False)
    rows = wait_until(lambda: settled(8, queue), 30, "digest deliveries")
    assert {(n.kind, n.state) for n in rows} == {("digest", "sent")}
    assert len(set(addresses(smtp))) == len(addresses(smtp)) == 8


def test_an_export_is_built_by_the_worker(
    app: Flask, client: FlaskClient, worker: Worker, people: dict[str, Any]
) -> None:
    from barometre.console.models import Export
    from tests.conftest import file_report, login

    file_report(people["worker"])
    login(client, people["coordinator"])
    response = client.post("/coordination/exports", data={"kind": "reports", "format": "csv"})
    assert response.status_code in (302, 303)
    export_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[-1])

    def done() -> Export | None:
        db.session.expire_all()
        row = db.session.get(Export, export_id)
        return row if row is not None and row.finished else None

    row = wait_until(done, timeout=60, what="the worker to build the export")
    assert (row.state, row.row_count) == ("done", 1), worker.output()
    # Built by the worker process, in its own instance folder, not in a thread here.
    assert Path(row.file_path).parent.parent == Path(worker.env["INSTANCE_PATH"])


def test_a_history_import_is_run_by_the_worker(
    app: Flask, client: FlaskClient, worker: Worker, people: dict[str, Any]
) -> None:
    import io

    from sqlalchemy import select

    from barometre.console.models import ImportJob
    from barometre.models import MemberService, Report
    from tests.test_history_import import REPORTS, RESOLUTIONS

    db.session.add(MemberService(name="Service d'aide aux justiciables"))
    db.session.commit()
    login(client, people["coordinator"])
    data = {
        "reports": (io.BytesIO(REPORTS.read_bytes()), "signalements.csv"),
        "resolutions": (io.BytesIO(RESOLUTIONS.read_bytes()), "resolutions.csv"),
    }
    response = client.post("/coordination/import", data=data, content_type="multipart/form-data")
    assert response.status_code == 303
    job_id = int(response.headers["Location"].rsplit("/", 1)[-1])

    def done() -> ImportJob | None:
        db.session.expire_all()
        row = db.session.get(ImportJob, job_id)
        return row if row is not None and row.finished else None

    row = wait_until(done, timeout=120, what="the worker to run the import")
    assert (row.state, row.problems, row.error) == ("done", [], ""), worker.output()
    assert row.totals["reports"] == 61 and row.lines_read == row.total_lines > 100
    assert len(db.session.scalars(select(Report)).all()) == 61
    assert "alerts.run_history_import" in worker.output()  # run there, not in a thread here
    page = client.get(f"/coordination/import/{job_id}").get_data(as_text=True)
    assert "Importé" in page


def fresh_notifications() -> list[Any]:
    db.session.expire_all()
    return notifications()


def test_the_worker_beats_and_reports_task_latency(
    client: FlaskClient, worker: Worker, people: dict[str, Any], queue: str
) -> None:
    import redis

    from barometre.heartbeat import consumers_key

    connection = redis.Redis.from_url(BROKER)
    report(client, people["worker"], ["OFF-07"])
    # One process takes both queues: it beats for each (its timer, every 15 s).
    for key in (consumers_key(queue), consumers_key(f"{queue}.delivery")):
        assert wait_until(partial(connection.hlen, key), 30, key) == 1
    ready = client.get("/readyz").get_json()
    assert (ready["checks"]["worker"], ready["checks"]["delivery"]) == ("ok", "ok"), ready
    login(client, people["coordinator"])
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'task="alerts.send_notifications"' in metrics  # batches since the hand-over batches
    # Leave the worker idle: its deliveries must not race the teardown.
    wait_until(lambda: all(n.state in FINAL for n in fresh_notifications()), what="deliveries")


def test_an_invitation_and_a_reset_go_through_the_worker(
    app: Flask, client: FlaskClient, smtp: SmtpServer, worker: Worker, queue: str
) -> None:
    """Account emails are notifications too: published after commit, sent by the worker."""
    from alerts.account import wait_background
    from barometre.models import ROLE_COORDINATOR
    from tests.conftest import make_user
    from tests.intake_helpers import LINK, body_of, text

    coordinator = make_user(ROLE_COORDINATOR, "coord-worker@fidex.test")
    login(client, coordinator)
    data = {"email": "invitee@fidex.test", "role": "coordinator", "service": "", "language": "en"}
    response = client.post("/coordination/utilisateurs/inviter", data=data)
    page = text(client.get(response.headers["Location"]))
    # queued or being sent when the page reads its state, or already sent: all three are true
    assert (
        "Invitation à invitee@fidex.test en file d'envoi" in page
        or "Invitation envoyée à invitee@fidex.test." in page
    )
    [invitation] = wait_until(lambda: smtp.collector.to("invitee@fidex.test"), 30, "invitation")
    assert invitation["Subject"] == "Barometer: your invitation"
    found = LINK.search(body_of(invitation))
    assert found is not None and app.test_client().get(found.group(1)).status_code == 200

    answer = app.test_client().post("/mot-de-passe/oubli", data={"email": coordinator.email})
    assert answer.status_code == 303
    wait_background(app)
    [reset] = wait_until(lambda: smtp.collector.to(coordinator.email), 30, "reset email")
    assert reset["Subject"] == "Baromètre\xa0: nouveau mot de passe"
    rows = wait_until(lambda: settled(2, queue), 30, "account emails")
    assert {(n.kind, n.state, n.attempts) for n in rows} == {
        ("invite", "sent", 1),
        ("reset", "sent", 1),
    }
    ids = {message_id(n.id, current_app.config["SETTINGS"]) for n in rows}
    assert {invitation["Message-ID"], reset["Message-ID"]} == ids
