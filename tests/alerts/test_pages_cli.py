"""Coordinator pages, the signed preferences page and the alert commands."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, current_app
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import select

from alerts.emails import preferences_token, preferences_url
from alerts.models import AddressPreference
from barometre.extensions import db
from barometre.models import AuditEntry, Contact, MemberService
from barometre.settings import Settings
from tests.conftest import file_report, login

from .conftest import add_contact, notifications
from .support import SmtpServer


def settings() -> Settings:
    return current_app.config["SETTINGS"]  # type: ignore[no-any-return]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"alert_group_wait": 0}  # embedded default: emails go to the outbox folder


def test_alert_pages_declare_their_access_rule(app: Flask) -> None:
    for endpoint, view in app.view_functions.items():
        if endpoint.startswith("alerts."):
            assert getattr(view, "access_rule", None), endpoint


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/coordination/notifications", "get"),
        ("/coordination/outbox", "get"),
        ("/coordination/outbox/notification-000001.eml", "get"),
        ("/coordination/notifications/1/retry", "post"),
    ],
)
def test_coordinator_pages_refuse_others(
    client: FlaskClient, people: dict[str, Any], path: str, method: str
) -> None:
    assert getattr(client, method)(path).status_code in (303, 401)  # to the login page
    login(client, people["worker"])
    assert getattr(client, method)(path).status_code == 403


@pytest.mark.committing
def test_the_log_shows_what_went_to_whom_and_the_outbox_lists_emails(
    client: FlaskClient, people: dict[str, Any]
) -> None:
    file_report(people["worker"])
    login(client, people["coordinator"])
    page = client.get("/coordination/notifications").get_data(as_text=True)
    assert people["nl"] in page and "Hausse" in page and "Prison de Haren" in page
    assert page.count("<td>Envoyée</td>") == 5  # the state in words, not the stored code
    assert "<td>sent</td>" not in page and "(contact, nl)" in page
    assert (
        client.get("/coordination/notifications?state=failed")
        .get_data(as_text=True)
        .count("<td>Envoyée</td>")
        == 0
    )
    outbox = client.get("/coordination/outbox").get_data(as_text=True)
    assert outbox.count("/coordination/outbox/notification-") == 5
    assert "Barometer: Gevangenis van Haren gaat naar code oranje 1 op 5" in outbox
    first = notifications()[0]
    message = client.get(f"/coordination/outbox/notification-{first.id:06d}.eml")
    assert message.status_code == 200 and "Bonjour" in message.get_data(as_text=True)
    for bad in ("notification-1.eml", "secret_key", "notification-000999.eml", "..%2Fsecret_key"):
        assert client.get(f"/coordination/outbox/{bad}").status_code == 404


@pytest.mark.committing
def test_the_log_speaks_the_coordinator_language(
    client: FlaskClient, people: dict[str, Any]
) -> None:
    file_report(people["worker"])
    login(client, people["coordinator_nl"])
    page = client.get("/coordination/notifications").get_data(as_text=True)
    assert page.count("<td>Verstuurd</td>") == 5 and "(contactpersoon, nl)" in page
    assert "Envoyée" not in page and "<td>sent</td>" not in page


@pytest.mark.committing
def test_a_failed_notification_is_retried_from_the_log(
    client: FlaskClient, people: dict[str, Any]
) -> None:
    db.session.add(MemberService(name="Cassé", alert_emails="casse@svc.test\nBcc: x@y.test"))
    db.session.commit()
    file_report(people["worker"])
    failed = notifications(state="failed")
    assert len(failed) == 1 and failed[0].last_error.startswith("Adresse refusée")
    sent = notifications(state="sent")[0]
    login(client, people["coordinator"])
    page = client.get("/coordination/notifications").get_data(as_text=True)
    assert page.count("Réessayer") == 0 and "Adresse refusée" in page
    # A refused address is corrected where it is set (the service's page), not retried.
    service = db.session.scalar(select(MemberService).where(MemberService.name == "Cassé"))
    assert service is not None
    assert "corrigez-la là où elle est enregistrée plutôt que de réessayer" in page
    assert f'href="/coordination/services/{service.id}"' in page
    response = client.post(f"/coordination/notifications/{sent.id}/retry")
    assert response.status_code == 302
    assert notifications(id=sent.id)[0].attempts == 1  # a sent one is never resent
    response = client.post(f"/coordination/notifications/{failed[0].id}/retry")
    assert response.status_code == 302
    row = notifications(id=failed[0].id)[0]
    assert row.state == "failed"  # still a bad address: fails again, visibly
    assert (
        db.session.scalar(select(AuditEntry).where(AuditEntry.action == "notification.retry"))
        is not None
    )


def test_retry_needs_the_csrf_token(
    client: FlaskClient, app: Flask, people: dict[str, Any]
) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    login(client, people["coordinator"])
    assert client.post("/coordination/notifications/1/retry").status_code == 400


@pytest.mark.committing
def test_the_signed_link_manages_what_an_address_receives(
    client: FlaskClient, app: Flask, people: dict[str, Any]
) -> None:
    address = people["nl"]
    link = preferences_url(address, settings())
    assert link.startswith("http://127.0.0.1:5000/alertes/preferences/")
    path = link.removeprefix("http://127.0.0.1:5000")
    page = client.get(path)
    assert page.status_code == 200 and address in page.get_data(as_text=True)
    assert client.get(path[:-3] + "xyz").status_code == 404  # tampered signature
    other = Settings(secret_key="another-secret-" + "y" * 32)
    assert (
        client.get(f"/alertes/preferences/{preferences_token(address, other)}").status_code == 404
    )
    assert client.post(path, data={"digest": "1"}).status_code == 302  # alerts unticked
    file_report(people["worker"])
    assert notifications(recipient=address) == []
    assert len(notifications(recipient=people["fr"])) == 1
    client.post(path, data={"alerts": "1", "digest": "1", "stop_all": "1"})
    row = db.session.scalar(select(AddressPreference))
    assert row is not None and (row.alerts, row.digest) == (False, False)


def test_services_add_creates_or_extends_and_refuses_injection(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["services", "add", "Service Y", "--email", "a@y.test"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        args=["services", "add", "Service Y", "--email", "A@y.test", "--email", "b@y.test"]
    )
    assert result.exit_code == 0
    service = db.session.scalar(select(MemberService).where(MemberService.name == "Service Y"))
    assert service is not None and service.alert_addresses == ["a@y.test", "b@y.test"]
    for bad in ("c@y.test\r\nBcc: d@z.test", "c@y.test\nX: y", "pas-une-adresse"):
        result = runner.invoke(args=["services", "add", "Service Y", "--email", bad])
        assert result.exit_code != 0 and "Adresse refusée" in result.output
    db.session.expire_all()
    assert service.alert_addresses == ["a@y.test", "b@y.test"]


def test_contacts_add_with_its_options(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "contacts",
            "add",
            "haren",
            "Directie@Haren.test",
            "--name",
            "Directie",
            "--lang",
            "nl",
            "--no-digest",
            "--red-only",
        ]
    )
    assert result.exit_code == 0, result.output
    contact = db.session.scalar(select(Contact))
    assert contact is not None
    # Stored as the console stores it: the address in lower case.
    assert (contact.email, contact.language, contact.alerts, contact.digest, contact.red_only) == (
        "directie@haren.test",
        "nl",
        True,
        False,
        True,
    )
    runner.invoke(args=["contacts", "add", "haren", "Directie@haren.test", "--no-alerts"])
    db.session.expire_all()
    assert db.session.query(Contact).count() == 1
    assert (contact.alerts, contact.digest, contact.red_only) == (False, True, False)
    assert runner.invoke(args=["contacts", "add", "nulle-part", "x@y.test"]).exit_code != 0
    injected = runner.invoke(args=["contacts", "add", "haren", "x@y.test\r\nBcc: z@w.test"])
    assert injected.exit_code != 0 and "Adresse refusée" in injected.output
    assert runner.invoke(args=["contacts", "add", "haren", "x@y.test", "--lang", "de"]).exit_code


def test_the_command_line_writes_the_console_audit_actions(app: Flask) -> None:
    runner = app.test_cli_runner()
    steps = [
        ["services", "add", "Service Z", "--email", "a@z.test"],
        ["services", "add", "Service Z", "--email", "b@z.test"],
        ["contacts", "add", "haren", "c@haren.test"],
        ["contacts", "add", "haren", "C@haren.test", "--red-only"],
    ]
    for args in steps:
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
    actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["service.create", "service.update", "contact.create", "contact.update"]
    too_long = runner.invoke(args=["contacts", "add", "haren", "d@haren.test", "--name", "x" * 300])
    assert too_long.exit_code != 0 and "caractères" in too_long.output


@pytest.mark.committing
def test_alerts_reconcile_runs_by_hand(app: Flask, smtp: SmtpServer) -> None:
    current_app.config["SETTINGS"] = settings().with_overrides(
        smtp_host="127.0.0.1", smtp_port=smtp.port
    )
    add_contact("direction@haren.test")
    smtp.collector.answer("451 4.3.0 Plus tard")
    with freeze_time("2026-03-02 05:00:00", real_asyncio=True) as frozen:
        file_report()
        assert [n.state for n in notifications()] == ["pending"]
        frozen.tick(120)
        result = app.test_cli_runner().invoke(args=["alerts", "reconcile"])
    assert result.exit_code == 0
    assert "notifications relancées\xa0: 1." in result.output
    assert [(n.state, n.attempts) for n in notifications()] == [("sent", 2)]


@pytest.mark.committing
def test_the_embedded_ticker_runs_the_reconciler(app: Flask, people: dict[str, Any]) -> None:
    from alerts import embedded

    assert embedded.start_ticker(app) is None  # never under TESTING
    with freeze_time("2026-03-02 05:00:00"):
        current_app.config["SETTINGS"] = settings().with_overrides(alert_group_wait=300)
        file_report(people["worker"])
        assert notifications() == []  # waiting in its group
    with freeze_time("2026-03-02 05:05:01"):
        embedded.tick(app)
    assert len(notifications(state="sent")) == 5
    app.config["SETTINGS"] = settings().with_overrides(testing=False)
    stop = embedded.start_ticker(app)
    assert stop is not None and embedded.start_ticker(app) is stop  # once per app
    stop.set()
