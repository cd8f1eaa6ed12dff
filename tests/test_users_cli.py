"""Accounts from the command line: invitations, the list, disabling and enabling."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from barometre.extensions import db
from barometre.models import ROLE_WORKER, ApiToken, AuditEntry, User
from tests.conftest import PASSWORD, bearer, login, make_user
from tests.intake_helpers import LINK, body_of, outbox, sign_in
from tests.ownredis import free_port


def run(app: Flask, *args: str, **kwargs: Any) -> Result:
    result = app.test_cli_runner().invoke(args=list(args), **kwargs)
    db.session.expire_all()
    return result


def account(email: str) -> User:
    found = db.session.scalar(select(User).where(User.email == email))
    assert found is not None
    return found


@pytest.mark.committing
def test_create_without_a_password_sends_an_invitation_and_prints_its_link(app: Flask) -> None:
    result = run(app, "users", "create", "Nouvelle@Fidex.test", "--role", "coordinator")
    assert result.exit_code == 0, result.output
    assert "Invitation envoyée à nouvelle@fidex.test" in result.output
    printed = LINK.search(result.output)
    assert printed is not None
    [email] = outbox(app)
    assert email["To"] == "nouvelle@fidex.test"
    assert printed.group(0) in body_of(email)  # the same link in the email and on screen
    client = app.test_client()
    path = printed.group(1)
    assert client.get(path).status_code == 200
    response = client.post(path, data={"password": PASSWORD, "confirm": PASSWORD})
    assert response.status_code == 303
    assert account("nouvelle@fidex.test").password_hash.startswith("$argon2")


@pytest.mark.committing
def test_an_invitation_that_cannot_leave_still_prints_its_link(
    app: Flask, settings_overrides: dict[str, Any]
) -> None:
    app.config["SETTINGS"] = app.config["SETTINGS"].with_overrides(
        smtp_host="127.0.0.1", smtp_port=free_port(), smtp_timeout=2
    )
    result = run(app, "users", "create", "perdu@fidex.test", "--role", "coordinator")
    assert result.exit_code == 0, result.output
    assert "n'a pas pu partir\xa0; transmettez-lui ce lien" in result.output
    assert LINK.search(result.output) is not None


@pytest.mark.committing
def test_list_shows_every_account_and_its_state(app: Flask) -> None:
    worker = make_user(ROLE_WORKER, "travailleur@example.org")
    run(app, "users", "create", "invitee@fidex.test", "--role", "coordinator")
    run(app, "users", "disable", worker.email)
    result = run(app, "users", "list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # Neither chose a language: the browser's is theirs.
    assert "travailleur@example.org\tworker\tService A\tnavigateur\tdésactivé" in lines
    assert "invitee@fidex.test\tcoordinator\t-\tnavigateur\tinvitation en attente" in lines
    assert lines[-1] == "2 comptes."


def test_disable_ends_sessions_and_tokens_and_enable_lets_sign_in_again(
    app: Flask, client: FlaskClient
) -> None:
    worker = make_user(ROLE_WORKER, "travailleur@example.org")
    headers = bearer(worker)
    login(client, worker)
    api = app.test_client()
    assert client.get("/mes-signalements").status_code == 200
    assert api.post("/api/v1/reports", json={}, headers=headers).status_code in (400, 422)

    result = run(app, "users", "disable", "Travailleur@example.org")
    assert result.exit_code == 0, result.output
    assert "1 jeton d'API révoqué." in result.output
    assert client.get("/mes-signalements").status_code == 401
    assert api.post("/api/v1/reports", json={}, headers=headers).status_code == 401
    assert sign_in(app.test_client(), worker.email).status_code == 422

    result = run(app, "users", "enable", worker.email)
    assert result.exit_code == 0, result.output
    assert sign_in(app.test_client(), worker.email).status_code == 303
    assert api.post("/api/v1/reports", json={}, headers=headers).status_code == 401
    actions = db.session.scalars(select(AuditEntry.action)).all()
    assert "user.disable" in actions and "user.enable" in actions
    assert db.session.scalars(select(ApiToken.revoked_at)).one() is not None


def test_a_disabled_account_is_not_signed_in_by_its_cookie(app: Flask, client: FlaskClient) -> None:
    """Disabled from the console (no session version change): the cookie no longer works.

    A guard, not a fix: `User.is_active` makes Flask-Login's `is_authenticated` false.
    """
    worker = make_user(ROLE_WORKER, "travailleur@example.org")
    login(client, worker)
    assert client.get("/mes-signalements").status_code == 200
    worker.active = False
    db.session.commit()
    assert client.get("/mes-signalements").status_code == 401


def test_unknown_accounts_are_named(app: Flask) -> None:
    for command in ("disable", "enable"):
        result = run(app, "users", command, "personne@example.org")
        assert result.exit_code != 0 and "Compte inconnu\xa0: personne@example.org" in result.output
