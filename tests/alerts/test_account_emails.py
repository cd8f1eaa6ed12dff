"""Invitations and password resets are notifications: one row each, the alerts' delivery.

Recorded in the transaction that decides them, delivered after commit (claim,
stable Message-ID, retries), their state on /coordination/notifications, in
the user's language; the link is composed at send time and never shown in the
console. Reset requests are throttled and answer the same for every address.
"""

from __future__ import annotations

import re
import socket
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask, current_app
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import select

from alerts import account, account_emails, delivery
from alerts.emails import message_id
from alerts.reconcile import reconcile
from barometre.extensions import db
from barometre.models import ROLE_WORKER, User
from barometre.password_links import EmailState
from intake.models import ResetRequest
from tests.conftest import login, make_user
from tests.intake_helpers import LINK, body_of, outbox, text

from .conftest import notifications
from .support import SmtpServer

pytestmark = pytest.mark.committing  # other connections, threads or processes read its commits

START = datetime(2026, 3, 2, 5)  # a Monday, 06:00 in Brussels: no digest due
INVITED = "nouvelle@example.org"


def invite(client: FlaskClient, email: str = INVITED, language: str = "fr") -> Any:
    data = {"email": email, "name": "", "role": "coordinator", "service": "", "language": language}
    return client.post("/coordination/utilisateurs/inviter", data=data)


def ask_reset(client: FlaskClient, email: str, address: str = "192.0.2.1") -> Any:
    return client.post(
        "/mot-de-passe/oubli", data={"email": email}, environ_base={"REMOTE_ADDR": address}
    )


def use_smtp(server: SmtpServer) -> None:
    current_app.config["SETTINGS"] = current_app.config["SETTINGS"].with_overrides(
        smtp_host="127.0.0.1", smtp_port=server.port, mail_from="barometre@fidex.test"
    )


class TestEmbeddedOutbox:
    def test_an_invitation_is_a_notification_row_delivered_after_commit(
        self, app: Flask, client: FlaskClient, coordinator: User
    ) -> None:
        login(client, coordinator)
        response = invite(client)
        page = text(client.get(response.headers["Location"]))
        assert "Invitation envoyée à nouvelle@example.org." in page
        [row] = notifications()
        user = db.session.scalar(select(User).where(User.email == INVITED))
        assert user is not None
        assert (row.kind, row.recipient, row.recipient_kind, row.user_id) == (
            "invite",
            INVITED,
            "user",
            user.id,
        )
        assert (row.state, row.attempts, row.language) == ("sent", 1, "fr")
        assert row.give_up_at - row.created_at == timedelta(hours=24)
        [message] = outbox(app)
        assert message["Message-ID"] == message_id(row.id, app.config["SETTINGS"])
        assert "List-Unsubscribe" not in message  # not a list one leaves
        html = message.get_body(("html",))
        assert html is not None and LINK.search(str(html.get_content())) is not None
        folder = app.config["SETTINGS"].outbox_path
        assert [p.name for p in folder.glob("*.eml")] == [account_emails.outbox_name(row.id)]

    def test_the_console_shows_the_kind_and_state_but_never_the_link(
        self, app: Flask, client: FlaskClient, coordinator: User
    ) -> None:
        login(client, coordinator)
        invite(client)
        token = LINK.search(body_of(outbox(app)[0]))
        assert token is not None
        secret = token.group(1).rsplit("/", 1)[1]
        log = text(client.get("/coordination/notifications"))
        assert "Invitation" in log and INVITED in log and "Envoyée" in log
        assert secret not in log and "/mot-de-passe/definir/" not in log
        box = client.get("/coordination/outbox")
        assert box.status_code == 200 and INVITED not in text(box) and secret not in text(box)
        [row] = notifications()
        assert (
            client.get(f"/coordination/outbox/{account_emails.outbox_name(row.id)}").status_code
            == 404
        )

    @pytest.mark.parametrize(
        ("language", "subject", "words"),
        [
            ("nl", "Barometer: uw uitnodiging", "Mijn wachtwoord kiezen"),
            ("en", "Barometer: your invitation", "Choose my password"),
        ],
    )
    def test_the_invitation_is_in_the_user_s_language(
        self,
        app: Flask,
        client: FlaskClient,
        coordinator: User,
        language: str,
        subject: str,
        words: str,
    ) -> None:
        login(client, coordinator)
        invite(client, language=language)
        [message] = outbox(app)
        assert message["Subject"] == subject and message["Content-Language"] == language
        html = message.get_body(("html",))
        assert html is not None and words in str(html.get_content())
        assert "Bonjour" not in body_of(message)

    def test_a_reset_for_a_known_address_is_a_row_and_its_link_works_for_two_hours(
        self, app: Flask, client: FlaskClient, worker: User
    ) -> None:
        with freeze_time(START) as frozen:
            response = ask_reset(client, worker.email)
            assert response.status_code == 303
            [message] = outbox(app)  # once the background hand-over is done
            [row] = notifications()
            assert (row.kind, row.user_id, row.state) == ("reset", worker.id, "sent")
            assert row.give_up_at - row.created_at == timedelta(hours=2)  # the link's life
            assert message["Subject"] == "Baromètre\xa0: nouveau mot de passe"
            path = LINK.search(body_of(message))
            assert path is not None
            frozen.tick(timedelta(hours=1, minutes=59))
            assert app.test_client().get(path.group(1)).status_code == 200
            frozen.tick(timedelta(minutes=2))
            assert app.test_client().get(path.group(1)).status_code == 400

    def test_a_reset_retried_after_its_link_expired_is_not_sent(
        self, app: Flask, client: FlaskClient, worker: User, smtp: SmtpServer
    ) -> None:
        use_smtp(smtp)
        smtp.collector.answer("550 5.1.1 Boîte pleine")
        with freeze_time(START, real_asyncio=True) as frozen:
            ask_reset(client, worker.email)
            account.wait_background(app)
            [row] = notifications()
            assert row.state == "failed"
            frozen.tick(timedelta(hours=3))
            assert delivery.retry(db.session, row.id, None)
            db.session.commit()
        [row] = notifications()
        assert (row.state, row.attempts) == ("failed", 2)
        assert row.last_error.startswith("Lien expiré avant l'envoi")
        assert smtp.collector.count() == 0


class TestSameAnswer:
    def test_known_and_unknown_addresses_get_the_same_page_and_only_one_gets_a_row(
        self, app: Flask, worker: User
    ) -> None:
        answers = []
        for email in (worker.email, "personne@example.org"):
            client = app.test_client()
            response = ask_reset(client, email)
            page = text(client.get(response.headers["Location"]))
            answers.append((response.status_code, response.headers["Location"], _flash(page)))
        assert answers[0] == answers[1]
        assert "Si un compte existe pour cette adresse" in answers[0][2]
        assert [(n.kind, n.recipient) for n in notifications()] == [("reset", worker.email)]
        assert db.session.query(ResetRequest).count() == 2  # both counted alike

    def test_the_request_does_not_wait_for_the_mail_server(
        self, app: Flask, client: FlaskClient, worker: User, smtp: SmtpServer
    ) -> None:
        """The answer leaves while the server still holds the email: no SMTP in the request,
        so a known address answers as fast as an unknown one."""
        use_smtp(smtp)
        smtp.collector.hold_once(worker.email)
        try:
            response = ask_reset(client, worker.email)
            assert response.status_code == 303
            assert smtp.collector.held.wait(10)  # the email is on its way, in the background
            [row] = notifications()
            assert row.state == "sending"  # and not sent yet when the page was answered
        finally:
            smtp.collector.release.set()
            account.wait_background(app)
        [row] = notifications()
        assert row.state == "sent" and len(smtp.collector.to(worker.email)) == 1

    def test_an_inactive_account_gets_the_same_answer_and_no_row(
        self, app: Flask, client: FlaskClient
    ) -> None:
        user = make_user(ROLE_WORKER, "parti@example.org")
        user.active = False
        db.session.commit()
        response = ask_reset(client, user.email)
        assert response.status_code == 303 and notifications() == []


def _flash(page: str) -> str:
    found = re.search(r"Si un compte existe[^<\n]*", page)
    return found.group(0) if found else ""


class TestResetThrottle:
    def test_three_requests_per_address_then_429_until_the_window_passes(
        self, app: Flask, worker: User
    ) -> None:
        with freeze_time(START) as frozen:
            for attempt in range(3):
                assert (
                    ask_reset(app.test_client(), worker.email, f"192.0.2.{attempt}").status_code
                    == 303
                )
            refused = ask_reset(app.test_client(), worker.email.upper(), "198.51.100.9")
            assert refused.status_code == 429
            assert "Trop de demandes de lien. Réessayez dans quelques minutes." in text(refused)
            # The same refusal for an address without an account.
            for attempt in range(3):
                ask_reset(app.test_client(), "personne@example.org", f"192.0.2.{attempt}")
            assert ask_reset(app.test_client(), "personne@example.org").status_code == 429
            frozen.tick(timedelta(minutes=15, seconds=1))
            assert ask_reset(app.test_client(), worker.email).status_code == 303
        assert len(notifications(kind="reset")) == 4  # none for the refused ones

    def test_ten_requests_per_client_then_429(self, app: Flask, worker: User) -> None:
        with freeze_time(START):
            for n in range(10):
                assert (
                    ask_reset(app.test_client(), f"p{n}@example.org", "203.0.113.5").status_code
                    == 303
                )
            assert ask_reset(app.test_client(), worker.email, "203.0.113.5").status_code == 429
            assert ask_reset(app.test_client(), worker.email, "203.0.113.6").status_code == 303
        assert [n.recipient for n in notifications()] == [worker.email]


class TestRetries:
    def test_an_invitation_refused_with_451_is_retried_and_delivered_once(
        self, app: Flask, client: FlaskClient, coordinator: User, smtp: SmtpServer
    ) -> None:
        use_smtp(smtp)
        smtp.collector.answer("451 4.3.0 Essayez plus tard")
        with freeze_time(START, real_asyncio=True) as frozen:
            login(client, coordinator)
            response = invite(client)
            assert response.status_code == 303
            flashed = text(client.get(response.headers["Location"]))
            assert "n'a pas pu partir\xa0: nouvel essai automatique" in flashed
            [row] = notifications()
            assert (row.kind, row.state, row.attempts) == ("invite", "pending", 1)
            assert row.last_error.startswith("451 4.3.0")
            log = text(client.get("/coordination/notifications"))
            assert "Invitation" in log and "En attente" in log and "451 4.3.0" in log
            frozen.tick(75)
            reconcile(db.session, current_app.config["SETTINGS"])
            db.session.commit()
            sent = text(client.get("/coordination/notifications?state=sent"))
        [row] = notifications()
        assert (row.state, row.attempts) == ("sent", 2)
        [message] = smtp.collector.to(INVITED)
        assert message["Message-ID"] == message_id(row.id, current_app.config["SETTINGS"])
        assert "Invitation" in sent and INVITED in sent

    def test_an_invitation_whose_mail_server_is_down_at_first_is_delivered_once(
        self, app: Flask, client: FlaskClient, coordinator: User, smtp: SmtpServer
    ) -> None:
        with socket.socket() as probe:  # a port where nothing listens: the server is down
            probe.bind(("127.0.0.1", 0))
            closed = probe.getsockname()[1]
        current_app.config["SETTINGS"] = current_app.config["SETTINGS"].with_overrides(
            smtp_host="127.0.0.1", smtp_port=closed, mail_from="barometre@fidex.test"
        )
        with freeze_time(START, real_asyncio=True) as frozen:
            login(client, coordinator)
            assert invite(client).status_code == 303
            [row] = notifications()
            assert (row.kind, row.state, row.attempts) == ("invite", "pending", 1)
            assert row.last_error.startswith("Connexion SMTP impossible")
            log = text(client.get("/coordination/notifications"))
            assert "Invitation" in log and "Connexion SMTP impossible" in log
            use_smtp(smtp)  # the server is back
            frozen.tick(75)
            reconcile(db.session, current_app.config["SETTINGS"])
            db.session.commit()
            frozen.tick(3600)
            reconcile(db.session, current_app.config["SETTINGS"])
            db.session.commit()
        [row] = notifications()
        assert (row.state, row.attempts) == ("sent", 2)
        assert len(smtp.collector.to(INVITED)) == 1


def test_an_email_being_sent_is_on_its_way_not_failed() -> None:
    """A worker claimed it (sending, attempts 1) while the page read its state: the page
    must say it is on its way, not that it could not leave (seen in the suite under load)."""
    assert EmailState("sending", 1).waiting
    assert EmailState("pending", 0).waiting and EmailState("sending", 0).waiting
    assert not EmailState("pending", 1).waiting  # tried, failed, retried automatically
    assert not EmailState("failed", 1).waiting and not EmailState("sent", 1).waiting
