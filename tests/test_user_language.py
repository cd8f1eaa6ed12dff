"""A signed-in user's language (issue 16): the browser's until one is chosen.

A user created by the CLI or the console without a language has none: the
browser's Accept-Language decides. The CLI (`users create --lang`), the console
user form and an invitation can give one; the profile's choice wins over the
browser.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from barometre.extensions import db
from barometre.models import User
from tests.conftest import login, make_user

DUTCH_QUESTION = "Aan welke voorwaarden was tijdens uw bezoek niet voldaan?"
FRENCH_QUESTION = "Quelles conditions n'étaient pas réunies lors de votre visite\xa0?"
BELGIAN_DUTCH = {"Accept-Language": "nl-BE,nl;q=0.9,fr-BE;q=0.8,fr;q=0.7"}


def questionnaire(client: FlaskClient) -> str:
    with client.application.app_context():
        response = client.get("/signalement", headers=BELGIAN_DUTCH)
    assert response.status_code == 200
    return response.get_data(as_text=True).replace("&#39;", "'")


def test_a_user_who_never_chose_gets_the_browser_language(client: FlaskClient) -> None:
    worker = make_user()
    assert worker.language is None
    login(client, worker)
    page = questionnaire(client)
    assert '<html lang="nl">' in page and DUTCH_QUESTION in page


def test_the_profile_choice_wins_over_the_browser(client: FlaskClient) -> None:
    worker = make_user()
    login(client, worker)
    with client.application.app_context():
        chosen = client.post("/profil/langue", data={"language": "fr"}, headers=BELGIAN_DUTCH)
    assert chosen.status_code in (302, 303)
    db.session.expire_all()
    assert db.session.get(User, worker.id).language == "fr"  # type: ignore[union-attr]
    page = questionnaire(client)
    assert '<html lang="fr">' in page and FRENCH_QUESTION in page


def test_the_profile_shows_the_language_in_use_when_none_is_chosen(client: FlaskClient) -> None:
    worker = make_user()
    login(client, worker)
    with client.application.app_context():
        page = client.get("/profil", headers=BELGIAN_DUTCH).get_data(as_text=True)
    assert '<option selected value="nl">' in page or '<option value="nl" selected>' in page


@pytest.mark.committing
def test_cli_gives_a_language_or_none(app: Flask) -> None:
    runner = app.test_cli_runner()
    given = runner.invoke(
        args=["users", "create", "an@example.org", "--role", "coordinator", "--lang", "nl"]
    )
    plain = runner.invoke(args=["users", "create", "bo@example.org", "--role", "coordinator"])
    wrong = runner.invoke(
        args=["users", "create", "cy@example.org", "--role", "coordinator", "--lang", "de"]
    )
    assert given.exit_code == 0 and plain.exit_code == 0 and wrong.exit_code != 0
    languages = dict(db.session.execute(select(User.email, User.language)).all())
    assert languages["an@example.org"] == "nl" and languages["bo@example.org"] is None
    assert "cy@example.org" not in languages


def test_console_gives_a_language_and_can_give_it_back_to_the_browser(
    client: FlaskClient, coordinator: User
) -> None:
    worker = make_user()
    login(client, coordinator)
    url = f"/coordination/utilisateurs/{worker.id}"
    service = str(worker.service_id)
    given = client.post(
        url, data={"role": "worker", "service": service, "active": "y", "language": "en"}
    )
    assert given.status_code in (302, 303)
    db.session.expire_all()
    assert db.session.get(User, worker.id).language == "en"  # type: ignore[union-attr]
    form = client.get(url).get_data(as_text=True)
    assert 'name="language"' in form
    back = client.post(
        url, data={"role": "worker", "service": service, "active": "y", "language": ""}
    )
    assert back.status_code in (302, 303)
    db.session.expire_all()
    assert db.session.get(User, worker.id).language is None  # type: ignore[union-attr]
    wrong = client.post(
        url, data={"role": "worker", "service": service, "active": "y", "language": "de"}
    )
    assert wrong.status_code == 422


def test_the_header_switch_leaves_a_coordinators_email_language(
    client: FlaskClient, coordinator: User
) -> None:
    """Issue 26: switching the pages to Dutch must not send the coordinator Dutch emails."""
    coordinator.language = "fr"
    db.session.commit()
    login(client, coordinator)
    with client.application.app_context():
        switched = client.post("/langue", data={"lang": "nl", "next": "/profil"})
    assert switched.status_code == 303
    db.session.expire_all()
    assert db.session.get(User, coordinator.id).language == "fr"  # type: ignore[union-attr]
    with client.application.app_context():
        page = client.get("/profil").get_data(as_text=True)
    assert '<html lang="nl">' in page  # the pages follow the switch
    # The profile says which language the emails use, in the page's language.
    assert "U ontvangt de e-mails in het Frans" in page


def test_the_profile_says_the_emails_language(client: FlaskClient, worker: User) -> None:
    worker.language = "en"
    db.session.commit()
    login(client, worker)
    with client.application.app_context():
        page = client.get("/profil").get_data(as_text=True)
    assert "Your emails are sent in English" in page
    with client.application.app_context():
        client.post("/profil/langue", data={"language": "nl"})
        page = client.get("/profil").get_data(as_text=True)
    assert "U ontvangt de e-mails in het Nederlands" in page
