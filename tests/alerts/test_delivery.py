"""Delivery (R8, SPEC §7.3-7.4): claims, retries, backoff, uncertainty, privacy."""

from __future__ import annotations

import itertools
import json
import random
import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask, current_app
from freezegun import freeze_time
from sqlalchemy import update
from sqlalchemy.orm import Session

from alerts import delivery, transport
from alerts.channels import service as channels
from alerts.emails import AddressRefused, Rendered, build_message, message_id
from alerts.models import Notification
from alerts.reconcile import reconcile
from barometre import services
from barometre.extensions import db
from barometre.models import ROLE_COORDINATOR, MemberService
from tests.conftest import file_report, login, make_user

from .conftest import add_contact, establishment, notifications, user
from .support import (
    AUTHOR_EMAIL,
    AUTHOR_NAME,
    REJECTION_REASON,
    SECRET_TEXT,
    SERVICE_EMAIL,
    SERVICE_NAME,
    HookReceiver,
    SmtpServer,
    assert_private,
    free_port,
)

pytestmark = pytest.mark.committing  # other connections, threads or processes read its commits

MONDAY_EARLY = "2026-03-02 05:00:00"  # 06:00 in Brussels: no digest due yet
ONLY = "seul-contact@haren.test"


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


def run_reconciler() -> None:
    reconcile(db.session, settings())
    db.session.commit()


def one_notification(kind: str = "rise") -> Notification:
    [row] = notifications(kind=kind)
    return row


def test_smtp_451_then_recovering_delivers_once_with_attempts_recorded(
    app: Flask, smtp: SmtpServer
) -> None:
    add_contact(ONLY)
    smtp.collector.answer("451 4.3.0 Essayez plus tard")
    with freeze_time(MONDAY_EARLY, real_asyncio=True) as frozen:
        file_report()
        row = one_notification()
        assert (row.state, row.attempts) == ("pending", 1)
        assert row.last_error.startswith("451 4.3.0")
        wait = row.next_attempt_at - datetime(2026, 3, 2, 5)
        assert timedelta(seconds=48) <= wait <= timedelta(seconds=72)
        run_reconciler()  # not due yet: nothing happens
        assert one_notification().attempts == 1 and smtp.collector.count() == 0
        frozen.tick(75)
        run_reconciler()
    row = one_notification()
    assert (row.state, row.attempts) == ("sent", 2)
    assert row.last_error.startswith("451")  # the history of the failure stays visible
    assert len(smtp.collector.to(ONLY)) == 1


def test_a_5xx_fails_at_once_and_a_coordinator_can_retry(app: Flask, smtp: SmtpServer) -> None:
    add_contact(ONLY)
    smtp.collector.answer("550 5.1.1 Boîte inconnue")
    with freeze_time(MONDAY_EARLY, real_asyncio=True) as frozen:
        file_report()
        row = one_notification()
        assert (row.state, row.attempts) == ("failed", 1)
        assert row.last_error.startswith("550 5.1.1")
        frozen.tick(3600)
        run_reconciler()
        assert one_notification().state == "failed"  # never retried on its own
        assert delivery.retry(db.session, row.id, None)
        db.session.commit()  # the retry is handed over after commit
    row = one_notification()
    assert (row.state, row.attempts) == ("sent", 2)
    assert len(smtp.collector.to(ONLY)) == 1


def test_backoff_doubles_with_jitter_up_to_an_hour() -> None:
    rng = random.Random(4)
    delays = [delivery.backoff_delay(n, rng).total_seconds() for n in range(1, 12)]
    for attempt, delay in enumerate(delays, start=1):
        base = min(60 * 2 ** (attempt - 1), 3600)
        assert 0.8 * base <= delay <= 1.2 * base
    assert len({round(d) for d in delays}) == len(delays)  # jitter: no two alike


def test_temporary_failures_retry_for_24_hours_then_fail(app: Flask, smtp: SmtpServer) -> None:
    add_contact(ONLY)
    smtp.collector.answer(*["421 4.7.0 Surcharge"] * 200)
    start = datetime(2026, 3, 2, 5)
    with freeze_time(start, real_asyncio=True) as frozen:
        file_report()
        attempts_at = [start]
        while (row := one_notification()).state == "pending":
            frozen.move_to(row.next_attempt_at)
            attempts_at.append(row.next_attempt_at)
            run_reconciler()
    row = one_notification()
    assert row.state == "failed"
    assert row.last_error.startswith("Abandon après 24 h\xa0: 421")
    assert row.attempts == len(attempts_at)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(attempts_at)]
    assert gaps[0] < gaps[3] < gaps[6]  # growing
    assert max(gaps) <= 3600 * 1.2  # capped
    assert attempts_at[-1] - start <= timedelta(hours=24)
    assert smtp.collector.count() == 0


def test_smtp_server_down_is_a_temporary_failure(
    app: Flask, smtp: SmtpServer, settings_overrides: dict[str, Any]
) -> None:
    add_contact(ONLY)
    current_app.config["SETTINGS"] = settings().with_overrides(smtp_port=free_port())
    file_report()
    row = one_notification()
    assert (row.state, row.attempts) == ("pending", 1)
    assert row.last_error.startswith("Connexion SMTP impossible")


def test_a_send_left_in_sending_becomes_uncertain_then_is_resent_with_the_same_message_id(
    app: Flask, smtp: SmtpServer
) -> None:
    add_contact(ONLY)
    smtp.collector.answer("451 4.3.0 Plus tard")  # keeps the row pending after the first try
    with freeze_time(MONDAY_EARLY, real_asyncio=True) as frozen:
        file_report()
        row = one_notification()
        frozen.tick(75)
        # A worker claims it and dies before recording anything.
        assert delivery.claim(db.session, row.id, datetime.now())
        db.session.commit()
        frozen.tick(4 * 60)
        run_reconciler()
        assert one_notification().state == "sending"  # could still be on its way
        frozen.tick(2 * 60)
        run_reconciler()
    row = one_notification()
    assert (row.state, row.attempts) == ("sent", 3)
    [message] = smtp.collector.to(ONLY)
    assert message["Message-ID"] == message_id(row.id, settings())


def test_a_connection_lost_after_the_message_went_is_uncertain_and_never_resent(
    app: Flask, smtp: SmtpServer
) -> None:
    """Issue 11, item 9: the server stored the email and dropped before its 250."""
    add_contact(ONLY)
    smtp.collector.drop_once_after_data(ONLY)
    with freeze_time(MONDAY_EARLY, real_asyncio=True) as frozen:
        file_report()
        row = one_notification()
        assert (row.state, row.attempts) == ("uncertain", 1)
        assert row.sent_at is not None and "peut-être reçu" in row.last_error
        for _ in range(3):  # the reconciler never resends it, however long it waits
            frozen.tick(3 * 3600)
            run_reconciler()
    row = one_notification()
    assert (row.state, row.attempts) == ("uncertain", 1)
    rise_id = message_id(row.id, settings())
    rises = [m for m in smtp.collector.to(ONLY) if m["Message-ID"] == rise_id]
    assert len(rises) == 1  # exactly one copy (the digest went out meanwhile)
    client = app.test_client()
    login(client, make_user(ROLE_COORDINATOR))
    page = client.get("/coordination/notifications").get_data(as_text=True)
    assert "Incertaine" in page and "peut-être reçu" in page and "Réessayer" in page


def test_a_connection_lost_before_data_is_retried_and_arrives_once(
    app: Flask, smtp: SmtpServer
) -> None:
    add_contact(ONLY)
    smtp.collector.drop_once_before_data(ONLY)
    with freeze_time(MONDAY_EARLY, real_asyncio=True) as frozen:
        file_report()
        row = one_notification()
        assert (row.state, row.attempts, row.sent_at) == ("pending", 1, None)
        frozen.tick(75)
        run_reconciler()
    row = one_notification()
    assert (row.state, row.attempts) == ("sent", 2)
    assert len(smtp.collector.to(ONLY)) == 1


def test_a_coordinator_may_resend_an_uncertain_email_with_the_same_message_id(
    app: Flask, smtp: SmtpServer
) -> None:
    add_contact(ONLY)
    smtp.collector.drop_once_after_data(ONLY)
    with freeze_time(MONDAY_EARLY, real_asyncio=True):
        file_report()
        row = one_notification()
        assert row.state == "uncertain"
        assert delivery.retry(db.session, row.id, None)
        db.session.commit()
    row = one_notification()
    assert (row.state, row.attempts) == ("sent", 2)
    first, second = smtp.collector.to(ONLY)
    assert first["Message-ID"] == second["Message-ID"] == message_id(row.id, settings())


def test_message_ids_are_stable_per_notification_and_distinct(app: Flask) -> None:
    assert message_id(7, settings()) == message_id(7, settings())
    assert message_id(7, settings()) != message_id(8, settings())
    assert message_id(7, settings()).endswith("@fidex.test>")


@pytest.mark.parametrize(
    "address",
    [
        "victime@haren.test\r\nBcc: espion@ailleurs.test",
        "victime@haren.test\nBcc: espion@ailleurs.test",
        "victime@haren.test\rX: y",
        "nul\x00@haren.test",
        "pas-une-adresse",
        "x" * 250 + "@haren.test",
        "b\u043eb@haren.test",  # a Cyrillic « о »: no encoded word may stand in an address
    ],
)
def test_addresses_that_could_inject_headers_are_refused(app: Flask, address: str) -> None:
    rendered = Rendered("Sujet", "Texte", "<p>Texte</p>")
    with pytest.raises(AddressRefused):
        build_message(1, address, rendered, settings())


def test_an_injected_service_address_fails_visibly_and_nothing_is_sent(
    app: Flask, smtp: SmtpServer
) -> None:
    db.session.add(
        MemberService(name="Service piégé", alert_emails="a@svc.test\r\nBcc: espion@ailleurs.test")
    )
    db.session.commit()
    file_report()
    row = one_notification()
    assert row.state == "failed" and row.attempts == 0
    assert "\n" not in row.recipient and "\r" not in row.recipient
    assert row.last_error.startswith("Adresse refusée")
    assert smtp.collector.count() == 0


def test_a_stored_address_the_rule_now_refuses_fails_with_its_reason(
    app: Flask, smtp: SmtpServer
) -> None:
    """Addresses stored before the rule refused them (issue 24, item 7): a local part
    that is not ASCII fails its notification with the reason, never an invalid To header;
    an international domain goes in its ASCII form."""
    add_contact("b\u043eb@haren.test")
    add_contact("jean@soci\u00e9t\u00e9.test")
    with freeze_time(MONDAY_EARLY, real_asyncio=True):
        file_report()
    refused, sent = sorted(notifications(kind="rise"), key=lambda row: row.state)
    assert (refused.state, refused.recipient, refused.attempts) == (
        "failed",
        "b\u043eb@haren.test",
        0,
    )
    assert refused.last_error == (
        "Adresse refusée\xa0: Une adresse électronique ne peut contenir que des caractères ASCII "
        "avant le @."
    )
    assert sent.state == "sent"
    [received] = smtp.collector.all()
    assert received.recipients == ["jean@xn--socit-esab.test"]
    assert received.message["To"] == "jean@xn--socit-esab.test"
    assert b"\nTo: jean@xn--socit-esab.test\r\n" in received.raw


def test_embedded_mode_writes_one_eml_file_per_email(app: Flask) -> None:
    current_app.config["SETTINGS"] = settings().with_overrides(smtp_host="")
    add_contact(ONLY)
    add_contact("autre@haren.test", language="nl")
    file_report()
    files = sorted(settings().outbox_path.glob("*.eml"))
    rows = notifications()
    assert [f.name for f in files] == [transport.outbox_name(n.id) for n in rows]
    assert all(n.state == "sent" for n in rows)
    assert b"Barometer: Gevangenis van Haren" in files[1].read_bytes()


# --- concurrency (PostgreSQL: real row locks and concurrent transactions) ---------------


def _race(app: Flask, threads: int, action: Any) -> list[Any]:
    barrier = threading.Barrier(threads)
    results: list[Any] = [None] * threads

    def run(index: int) -> None:
        with app.app_context(), Session(db.engine) as session:
            barrier.wait()
            results[index] = action(session)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(30)
    return results


@pytest.mark.parametrize("backend", ["postgresql"])
def test_two_workers_claiming_the_same_notification_one_wins(app: Flask) -> None:
    add_contact(ONLY)
    current_app.config["SETTINGS"] = settings().with_overrides(smtp_port=free_port())
    file_report()  # the SMTP port is closed: the row stays pending
    row_id = one_notification().id

    def claim(session: Session) -> bool:
        won = delivery.claim(session, row_id, datetime.now() + timedelta(hours=1))
        session.commit()
        return won

    for _ in range(25):
        db.session.execute(update(Notification).values(state="pending"))
        db.session.commit()
        assert sorted(_race(app, 6, claim)) == [False] * 5 + [True]
    assert one_notification().attempts == 1 + 25


@pytest.mark.parametrize("backend", ["postgresql"])
def test_concurrent_deliveries_send_one_email(app: Flask, smtp: SmtpServer) -> None:
    add_contact(ONLY)
    smtp.collector.answer("451 4.3.0 Plus tard")
    file_report()
    row_id = one_notification().id
    for round_number in range(10):
        db.session.execute(
            update(Notification).values(state="pending", next_attempt_at=datetime(2000, 1, 1))
        )
        db.session.commit()
        outcomes = _race(app, 5, lambda s: delivery.deliver(s, row_id, settings()))
        assert sorted(outcomes) == ["sent"] + ["skipped"] * 4
        assert len(smtp.collector.to(ONLY)) == round_number + 1


# --- privacy -----------------------------------------------------------------------------


def _all_text(raw: bytes) -> str:
    from email import message_from_bytes, policy

    message = message_from_bytes(raw, policy=policy.default)
    parts = [f"{k}: {v}" for k, v in message.items()]
    parts += [part.get_content() for part in message.walk() if not part.is_multipart()]
    return raw.decode(errors="replace") + "\n".join(parts)


def test_no_email_webhook_or_chat_carries_report_text_reporter_or_service(
    app: Flask, smtp: SmtpServer
) -> None:
    current_app.config["SETTINGS"] = settings().with_overrides(channels_allow_private=True)
    receiver = HookReceiver().start()
    try:
        service = MemberService(name=SERVICE_NAME, alert_emails=SERVICE_EMAIL)
        db.session.add(service)
        author = user(AUTHOR_EMAIL, "worker", service)
        author.name = AUTHOR_NAME
        coordinator = user("coordination@fidex.test", "coordinator")
        add_contact("direction@haren.test", language="nl")
        haren = establishment("haren").id
        for url, owner in (
            (receiver.url("haren"), {"establishment_id": haren}),
            (receiver.url("service", "json"), {"service_id": service.id}),
            (receiver.url("comite"), {}),
        ):
            channels.add(db.session, None, settings(), url, **owner)  # type: ignore[arg-type]
        db.session.commit()
        five = ("ACC-01", "ACC-02", "ACC-03", "SEC-01", "SEC-02")
        red = file_report(
            author,
            conditions=five,
            offer_types=("individuel", "collectif"),
            description=SECRET_TEXT,
            minutes_waited=120,
        )
        services.reject_report(db.session, red.report.id, coordinator, REJECTION_REASON, settings())
        db.session.commit()
        runner = app.test_cli_runner()
        assert runner.invoke(args=["digest", "send"]).exit_code == 0
        kinds = {n.kind for n in notifications()}
        assert kinds == {"red", "green", "digest"}
        emails = [n for n in notifications() if n.channel_id is None]
        assert smtp.collector.count() == len(emails)
        for received in smtp.collector.all():
            assert_private(_all_text(received.raw), received.recipients)
        # What left for the channels: each channel got red, green and the digest.
        posted = receiver.all()
        assert len(posted) == len(notifications()) - len(emails) == 9
        for each in posted:
            assert_private(each.body.decode(), each.path)
            assert_private(json.dumps(json.loads(each.body), ensure_ascii=False), each.path)
    finally:
        receiver.stop()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_smtp_login_is_used_when_configured(app: Flask) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    from .support import Collector

    logins: list[tuple[str, str]] = []

    def text(value: bytes | str) -> str:
        return value.decode() if isinstance(value, bytes) else value

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        logins.append((text(data.login), text(data.password)))
        return AuthResult(success=logins[-1][1] == "mot-de-passe-smtp", handled=False)

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
            smtp_password="mauvais",
            smtp_allow_plain_login=True,  # a local relay: the documented opt-out
        )
        add_contact(ONLY)
        file_report()
        row = one_notification()
        assert row.state == "failed" and row.last_error.startswith("535")  # 5xx: at once
        current_app.config["SETTINGS"] = settings().with_overrides(
            smtp_password="mot-de-passe-smtp"
        )
        assert delivery.retry(db.session, row.id, None)
        db.session.commit()
    finally:
        controller.stop()
    assert one_notification().state == "sent"
    # smtplib tries each mechanism the server offers before giving up.
    assert {user for user, _ in logins} == {"barometre"}
    assert [p for _, p in logins] == ["mauvais"] * (len(logins) - 1) + ["mot-de-passe-smtp"]
    assert len(collector.to(ONLY)) == 1


def test_production_without_smtp_host_sends_nothing_anywhere_and_the_email_waits(
    app: Flask, smtp: SmtpServer
) -> None:
    """Issue 28: production without SMTP_HOST recorded its alerts `sent` and wrote them
    in the outbox. Now the email waits, its row says why, and leaves once mended."""
    current_app.config["SETTINGS"] = settings().with_overrides(env="production", smtp_host="")
    add_contact(ONLY)
    with freeze_time(MONDAY_EARLY, real_asyncio=True) as frozen:
        file_report()
        row = one_notification()
        assert (row.state, row.attempts) == ("pending", 1)
        assert row.last_error.startswith(
            "Courriel mal configuré\xa0: SMTP_HOST: obligatoire en production"
        )
        outbox = settings().outbox_path
        assert not outbox.exists() or not any(outbox.iterdir())
        current_app.config["SETTINGS"] = settings().with_overrides(smtp_host="127.0.0.1")
        frozen.tick(75)
        run_reconciler()
    assert (one_notification().state, one_notification().attempts) == ("sent", 2)
    assert len(smtp.collector.to(ONLY)) == 1
