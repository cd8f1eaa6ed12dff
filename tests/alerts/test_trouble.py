"""Emails that fail for good: the console shows them, coordinators are warned once a day."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import pytest
from flask import Flask, current_app
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from alerts import trouble
from alerts.models import DeliveryWarning, Notification
from alerts.recipients import set_preference
from alerts.reconcile import reconcile
from barometre.extensions import db
from barometre.models import ROLE_COORDINATOR, AuditEntry, User
from barometre.settings import Settings
from tests.conftest import file_report, login

from .conftest import add_contact, notifications, user
from .support import SmtpServer

pytestmark = pytest.mark.committing  # other connections, threads or processes read its commits

MONDAY_EARLY = "2026-03-02 05:00:00"  # 06:00 in Brussels: no digest due yet
BOUNCING = "boite-inconnue@haren.test"
WARNING_SUBJECTS = ("non remis", "niet afgeleverd")
CONSOLE_PAGES = (
    "/coordination/",
    "/coordination/signalements",
    "/coordination/notifications",
    "/coordination/donnees",
)


@pytest.fixture
def settings_overrides(smtp_server: SmtpServer) -> dict[str, Any]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_server.port,
        "alert_group_wait": 0,
        "mail_from": "barometre@fidex.test",
    }


def settings() -> Settings:
    return current_app.config["SETTINGS"]  # type: ignore[no-any-return]


def run_reconciler() -> None:
    reconcile(db.session, settings())
    db.session.commit()


@pytest.fixture
def committee(app: Flask) -> list[User]:
    return [
        user("coord-fr@fidex.test", ROLE_COORDINATOR),
        user("coord-nl@fidex.test", ROLE_COORDINATOR, lang="nl"),
    ]


def warnings_to(smtp: SmtpServer, address: str) -> list[Any]:
    mails = smtp.collector.to(address)
    return [m for m in mails if any(words in m["Subject"] for words in WARNING_SUBJECTS)]


def fail_one_alert(smtp: SmtpServer) -> Notification:
    """A report whose alert to one contact is refused with a 550: failed for good."""
    smtp.collector.refuse_once(BOUNCING, "550 5.1.1 Boîte inconnue")
    file_report()
    [failed] = notifications(state="failed")
    assert failed.recipient == BOUNCING and failed.last_error.startswith("550 5.1.1")
    return failed


def banner_on(client: FlaskClient, path: str) -> bool:
    page = client.get(path)
    assert page.status_code == 200, path
    return "console-trouble" in page.get_data(as_text=True)


def test_a_failure_warns_coordinators_once_a_day_and_bans_until_retried(
    app: Flask, client: FlaskClient, smtp: SmtpServer, committee: list[User]
) -> None:
    add_contact(BOUNCING)
    with freeze_time(MONDAY_EARLY, real_asyncio=True) as frozen:
        login(client, committee[0])  # a session cookie signed in the frozen time
        assert not any(banner_on(client, path) for path in CONSOLE_PAGES)
        failed = fail_one_alert(smtp)
        assert all(banner_on(client, path) for path in CONSOLE_PAGES)
        home = client.get("/coordination/").get_data(as_text=True)
        assert "1 courriel refusé\xa0: adresse à corriger" in home  # a 550: not a retry

        run_reconciler()
        run_reconciler()  # the same day: no second warning
        frozen.tick(3600)  # 07:00 in Brussels, before the digest
        run_reconciler()

        fr, nl = (warnings_to(smtp, c.email) for c in committee)
        assert len(fr) == 1 and len(nl) == 1
        assert fr[0]["Subject"] == "Baromètre\xa0: 1 courriel non remis"
        assert nl[0]["Subject"] == "Barometer: 1 e-mail niet afgeleverd"
        body = fr[0].get_body(preferencelist=("plain",)).get_content()
        assert BOUNCING in body and "550 5.1.1" in body and "Haren" in body
        assert "/coordination/notifications" in body
        # The warning is a tracked notification itself.
        warnings = notifications(kind="trouble")
        assert sorted(n.recipient for n in warnings) == sorted(c.email for c in committee)
        assert {n.state for n in warnings} == {"sent"}
        assert len(db.session.scalars(select(DeliveryWarning)).all()) == 1

        # A coordinator retries it from the log: delivered this time, the banner goes.
        response = client.post(f"/coordination/notifications/{failed.id}/retry")
        assert response.status_code == 302
        assert db.session.get(Notification, failed.id).state == "sent"  # type: ignore[union-attr]
        assert not any(banner_on(client, path) for path in CONSOLE_PAGES)
        assert len(smtp.collector.to(BOUNCING)) == 1


def test_new_trouble_waits_for_the_next_day_then_dismissing_removes_the_banner(
    app: Flask, client: FlaskClient, smtp: SmtpServer, committee: list[User]
) -> None:
    add_contact(BOUNCING)
    with freeze_time(MONDAY_EARLY, real_asyncio=True) as frozen:
        login(client, committee[0])  # a session cookie signed in the frozen time
        fail_one_alert(smtp)
        run_reconciler()
        assert len(warnings_to(smtp, committee[0].email)) == 1
        # Later the same day another email fails: no second warning today.
        frozen.tick(3600)
        smtp.collector.refuse_once(BOUNCING, "550 5.1.1 Boîte inconnue")
        file_report(conditions=("ACC-01",))
        second = max(n.id for n in notifications(state="failed"))
        run_reconciler()
        assert len(warnings_to(smtp, committee[0].email)) == 1
        # The next day it is reported, and only it.
        frozen.tick(24 * 3600)
        run_reconciler()
        mails = warnings_to(smtp, committee[0].email)
        assert len(mails) == 2
        body = mails[1].get_body(preferencelist=("plain",)).get_content()
        assert f"n° {second} " in body

        # Dismissed (audit-logged): off the banner, still in the log as failed.
        for row in notifications(state="failed"):
            assert client.post(f"/coordination/notifications/{row.id}/ignorer").status_code == 302
        assert not any(banner_on(client, path) for path in CONSOLE_PAGES)
        assert {n.state for n in notifications(kind="rise", recipient=BOUNCING)} == {"failed"}
        actions = db.session.scalars(select(AuditEntry.action)).all()
        assert actions.count("notification.dismiss") == 2
        frozen.tick(24 * 3600)
        run_reconciler()  # dismissed: nothing more to warn of
        assert len(warnings_to(smtp, committee[0].email)) == 2


def test_dismiss_is_for_failed_or_uncertain_rows_and_coordinators_only(
    app: Flask, client: FlaskClient, smtp: SmtpServer, committee: list[User]
) -> None:
    add_contact("lit-tout@haren.test")
    file_report()
    sent = notifications(state="sent")[0]
    login(client, committee[0])
    client.post(f"/coordination/notifications/{sent.id}/ignorer")
    assert db.session.get(Notification, sent.id).dismissed_at is None  # type: ignore[union-attr]
    worker = user("travailleur@example.org", "worker")
    other = current_app.test_client()
    login(other, worker)
    assert other.post(f"/coordination/notifications/{sent.id}/ignorer").status_code == 403


# On SQLite the second writer fails with "database is locked" (and sends nothing): the
# row claim is what PostgreSQL, the production database, must get right under contention.
@pytest.mark.parametrize("backend", ["postgresql"])
def test_two_reconcilers_at_once_warn_once(
    app: Flask, smtp: SmtpServer, committee: list[User]
) -> None:
    add_contact(BOUNCING)
    with freeze_time(MONDAY_EARLY, real_asyncio=True):
        fail_one_alert(smtp)
        db.session.remove()
        barrier = threading.Barrier(2)
        created: list[int] = []
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with app.app_context(), Session(db.engine) as session:
                    barrier.wait(10)
                    rows = trouble.warn_coordinators(session, settings())
                    created.append(len(rows))
                    session.commit()
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert not errors
    assert sorted(created) == [0, len(committee)]
    assert len(notifications(kind="trouble")) == len(committee)


def test_an_uncertain_send_warns_only_if_it_stays_uncertain(
    app: Flask, smtp: SmtpServer, committee: list[User]
) -> None:
    add_contact("incertain@haren.test")
    with freeze_time(MONDAY_EARLY, real_asyncio=True) as frozen:
        file_report()
        row = notifications(recipient="incertain@haren.test")[0]
        # A worker died while sending it: left in sending, claimed long ago.
        db.session.execute(
            update(Notification)
            .where(Notification.id == row.id)
            .values(state="sending", claimed_at=datetime(2026, 3, 2, 4), sent_at=None)
        )
        db.session.commit()
        frozen.tick(120)
        run_reconciler()  # marked uncertain and resent at once: no warning
        assert db.session.get(Notification, row.id).state == "sent"  # type: ignore[union-attr]
        assert warnings_to(smtp, committee[0].email) == []
        # Uncertain and not resent since (say the broker was away): it stays, and warns.
        db.session.execute(
            update(Notification).where(Notification.id == row.id).values(state="uncertain")
        )
        db.session.commit()
        assert [n.id for n in trouble.warn_coordinators(db.session, settings())] != []
        db.session.commit()
        [mail] = warnings_to(smtp, committee[0].email)
        assert "incertain@haren.test" in mail.get_body(("plain",)).get_content()


def test_a_coordinator_who_refused_alerts_by_link_gets_no_warning(
    app: Flask, smtp: SmtpServer, committee: list[User]
) -> None:
    add_contact(BOUNCING)
    set_preference(db.session, committee[1].email, alerts=False, digest=True)
    db.session.commit()
    with freeze_time(MONDAY_EARLY, real_asyncio=True):
        fail_one_alert(smtp)
        run_reconciler()
    assert len(warnings_to(smtp, committee[0].email)) == 1
    assert warnings_to(smtp, committee[1].email) == []
