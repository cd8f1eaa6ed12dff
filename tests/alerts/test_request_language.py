"""Emails asked by a request go in that request's language (issue 26).

A password reset and a follow confirmation are asked from a page: the person
reads that page's language (the header's switch, a cookie, or the browser's),
whatever language the account has. The language is stored on the notification,
so a delivery later (a retry, the reconciler) renders the same one. The
header's switch changes the pages only: a signed-in user's emails keep the
profile's language.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from alerts.models import Notification
from barometre.extensions import db
from barometre.models import User
from tests.conftest import login
from tests.intake_helpers import body_of, outbox

pytestmark = pytest.mark.committing  # the reset leaves from a thread: it reads commits

ENGLISH_SUBJECT = "Barometer: new password"
FAN = "volger@exemple.test"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"public_barometer": True}


def french_account(user: User) -> User:
    user.language = "fr"
    db.session.commit()
    return user


def post(client: FlaskClient, url: str, data: dict[str, str], **headers: str) -> Any:
    """A request in its own app context, as in production (no locale left over)."""
    with client.application.app_context():
        return client.post(url, data=data, headers=headers)


def get(client: FlaskClient, url: str, **headers: str) -> str:
    with client.application.app_context():
        return client.get(url, headers=headers).get_data(as_text=True).replace("&#39;", "'")


def switch(client: FlaskClient, language: str) -> None:
    """The header's language switch."""
    response = post(client, "/langue", {"lang": language, "next": "/"})
    assert response.status_code == 303


def row(kind: str) -> Notification:
    db.session.expire_all()
    found = db.session.scalar(select(Notification).where(Notification.kind == kind))
    assert found is not None
    return found


def said(message: EmailMessage) -> str:
    html = message.get_body(("html",))
    assert html is not None
    return f"{message['Subject']}\n{body_of(message)}\n{html.get_content()}"


# --- password reset ---------------------------------------------------------------------


def test_a_reset_asked_from_an_english_browser_is_in_english(
    app: Flask, client: FlaskClient, worker: User
) -> None:
    french_account(worker)
    answer = post(
        client, "/mot-de-passe/oubli", {"email": worker.email}, **{"Accept-Language": "en-GB"}
    )
    assert answer.status_code == 303
    [message] = outbox(app)
    assert message["Subject"] == ENGLISH_SUBJECT and message["Content-Language"] == "en"
    assert "Bonjour" not in said(message)
    assert row("reset").language == "en"  # a later delivery renders it in English too


def test_a_reset_asked_after_the_switch_to_english_is_in_english(
    app: Flask, client: FlaskClient, worker: User
) -> None:
    french_account(worker)
    switch(client, "en")  # a cookie; the browser itself asks for French
    post(client, "/mot-de-passe/oubli", {"email": worker.email}, **{"Accept-Language": "fr-BE"})
    [message] = outbox(app)
    assert message["Subject"] == ENGLISH_SUBJECT and row("reset").language == "en"


def test_a_reset_asked_from_a_french_page_stays_french(
    app: Flask, client: FlaskClient, worker: User
) -> None:
    worker.language = "nl"
    db.session.commit()
    post(client, "/mot-de-passe/oubli", {"email": worker.email}, **{"Accept-Language": "fr"})
    [message] = outbox(app)
    assert message["Subject"] == "Baromètre\xa0: nouveau mot de passe"
    assert row("reset").language == "fr"


# --- follow confirmation ----------------------------------------------------------------


def test_a_follow_request_from_a_dutch_page_confirms_in_dutch(
    app: Flask, client: FlaskClient, coordinator: User
) -> None:
    french_account(coordinator)
    login(client, coordinator)
    switch(client, "nl")
    page = get(client, "/etablissements/haren/suivre")
    assert '<html lang="nl">' in page and "<h1>Gevangenis van Haren volgen</h1>" in page
    sent = post(client, "/etablissements/haren/suivre", {"email": FAN, "alerts": "toutes"})
    assert sent.status_code == 200
    [message] = outbox(app)
    assert message["Content-Language"] == "nl"
    assert message["Subject"] == "Barometer: bevestig dat u Gevangenis van Haren volgt"
    assert "Prison de Haren" not in said(message)
    assert row("follow").language == "nl"
    db.session.expire_all()
    assert db.session.get(User, coordinator.id).language == "fr"  # type: ignore[union-attr]


def test_a_french_follow_confirmation_puts_an_article_before_the_prison(
    app: Flask, client: FlaskClient
) -> None:
    page = get(client, "/etablissements/haren/suivre", **{"Accept-Language": "fr"})
    assert "<h1>Suivre la prison de Haren</h1>" in page
    post(
        client,
        "/etablissements/haren/suivre",
        {"email": FAN, "alerts": "toutes"},
        **{"Accept-Language": "fr"},
    )
    [message] = outbox(app)
    assert message["Subject"] == "Baromètre\xa0: confirmez le suivi de la prison de Haren"
    assert f"l'adresse {FAN} suive la prison de Haren dans" in body_of(message)
    english = get(client, "/etablissements/haren/suivre", **{"Accept-Language": "en"})
    assert "Haren Prison" in english and "Prison de Haren" not in english
