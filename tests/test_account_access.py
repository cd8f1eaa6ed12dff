"""Disabling, enabling and revoking, by every path that can: one end state (issue 24, item 2).

Each path is a row of a table; every disabling path is crossed with every enabling
path, and each must leave the same account: disabled, its sessions ended, every
API token revoked, the action in the journal; enabled again, it signs in afresh
while its old sessions and old tokens stay refused and `/jetons` lists those
tokens as revoked. A new path (an API route, a CLI command, a console button) is
a new row here.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from barometre.auth import create_token
from barometre.extensions import db
from barometre.models import ROLE_COORDINATOR, ROLE_WORKER, ApiToken, AuditEntry, User
from tests.conftest import login, make_user
from tests.intake_helpers import sign_in


@dataclass
class Scene:
    app: Flask
    coordinator: User
    worker: User
    tokens: list[str]  # the worker's tokens, as its programs hold them
    session: FlaskClient  # a browser signed in as the worker before anything happens

    def console(self) -> FlaskClient:
        client = self.app.test_client()
        login(client, self.coordinator)
        return client

    def cli(self, *args: str) -> str:
        result = self.app.test_cli_runner().invoke(args=list(args))
        assert result.exit_code == 0, result.output
        return result.output


@pytest.fixture
def scene(app: Flask) -> Scene:
    coordinator = make_user(ROLE_COORDINATOR)
    worker = make_user(ROLE_WORKER, "travailleur@example.org")
    tokens = [create_token(db.session, worker, name) for name in ("tablette", "script")]
    db.session.commit()
    session = app.test_client()
    login(session, worker)
    return Scene(app, coordinator, worker, tokens, session)


def console_form(scene: Scene, active: bool) -> None:
    data = {"role": ROLE_WORKER, "service": str(scene.worker.service_id)}
    if active:
        data["active"] = "y"
    response = scene.console().post(f"/coordination/utilisateurs/{scene.worker.id}", data=data)
    assert response.status_code == 302, response.status_code


def console_disable(scene: Scene) -> None:
    console_form(scene, active=False)


def console_enable(scene: Scene) -> None:
    console_form(scene, active=True)


def cli_disable(scene: Scene) -> None:
    assert "2 jetons d'API révoqués." in scene.cli("users", "disable", scene.worker.email)


def cli_enable(scene: Scene) -> None:
    assert "Compte réactivé" in scene.cli("users", "enable", scene.worker.email)


# The API has no route that disables, enables or revokes (see the last test): the API
# column is the one where every token is tried.
DISABLE: dict[str, Callable[[Scene], None]] = {"console": console_disable, "cli": cli_disable}
ENABLE: dict[str, Callable[[Scene], None]] = {"console": console_enable, "cli": cli_enable}


def api_status(app: Flask, token: str) -> int:
    response = app.test_client().post(
        "/api/v1/reports", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    return response.status_code


def actions(user: User) -> list[str]:
    query = select(AuditEntry.action).where(
        AuditEntry.target_type == "user", AuditEntry.target_id == user.id
    )
    return list(db.session.scalars(query.order_by(AuditEntry.id)))


def live_tokens(user: User) -> list[int]:
    query = select(ApiToken.id).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    return list(db.session.scalars(query))


def jetons_page(client: FlaskClient) -> str:
    response = client.get("/jetons")
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def assert_shut(scene: Scene) -> None:
    """Disabled: no session, no token, no sign-in; the journal says so."""
    db.session.expire_all()
    worker = db.session.get(User, scene.worker.id)
    assert worker is not None and not worker.active
    assert live_tokens(worker) == []
    assert [api_status(scene.app, token) for token in scene.tokens] == [401, 401]
    assert scene.session.get("/mes-signalements").status_code == 401
    assert sign_in(scene.app.test_client(), worker.email).status_code == 422
    assert actions(worker)[-1] == "user.disable"
    detail = db.session.scalars(
        select(AuditEntry.detail).where(AuditEntry.action == "user.disable")
    ).all()
    assert detail[-1]["tokens_revoked"] == 2


def assert_open_without_old_keys(scene: Scene) -> None:
    """Enabled: a fresh sign-in works; old sessions and old tokens stay refused."""
    db.session.expire_all()
    worker = db.session.get(User, scene.worker.id)
    assert worker is not None and worker.active
    assert actions(worker)[-1] == "user.enable"
    assert live_tokens(worker) == []
    assert [api_status(scene.app, token) for token in scene.tokens] == [401, 401]
    assert scene.session.get("/mes-signalements").status_code == 401
    browser = scene.app.test_client()
    assert sign_in(browser, worker.email).status_code == 303
    page = jetons_page(browser)
    assert page.count("Révoqué le") == 2
    assert not re.search(r"/jetons/\d+/revoquer", page)  # nothing left to revoke
    # A token made after enabling is accepted (the API then judges the empty report).
    fresh = create_token(db.session, worker, "nouveau")
    db.session.commit()
    assert api_status(scene.app, fresh) == 422


@pytest.mark.parametrize("enable", sorted(ENABLE))
@pytest.mark.parametrize("disable", sorted(DISABLE))
def test_every_path_disables_and_enables_to_the_same_state(
    scene: Scene, disable: str, enable: str
) -> None:
    assert [api_status(scene.app, token) for token in scene.tokens] == [422, 422]
    assert scene.session.get("/mes-signalements").status_code == 200
    DISABLE[disable](scene)
    assert_shut(scene)
    ENABLE[enable](scene)
    assert_open_without_old_keys(scene)


@pytest.mark.parametrize("enable", sorted(ENABLE))
def test_enabling_an_account_disabled_with_live_tokens_does_not_bring_them_back(
    scene: Scene, enable: str
) -> None:
    """Accounts the console disabled before its tokens were revoked with it still hold
    live tokens: enabling them must not make those work again."""
    scene.worker.active = False
    db.session.commit()
    ENABLE[enable](scene)
    db.session.expire_all()
    assert live_tokens(scene.worker) == []
    assert [api_status(scene.app, token) for token in scene.tokens] == [401, 401]


def revoke_on_jetons(scene: Scene) -> None:
    token_id = min(live_tokens(scene.worker))
    response = scene.session.post(f"/jetons/{token_id}/revoquer")
    assert response.status_code == 303


# One token, by its owner. (Disabling revokes them all: the table above.)
REVOKE: dict[str, Callable[[Scene], None]] = {"jetons": revoke_on_jetons}


@pytest.mark.parametrize("revoke", sorted(REVOKE))
def test_revoking_one_token_leaves_the_account_and_its_other_token(
    scene: Scene, revoke: str
) -> None:
    REVOKE[revoke](scene)
    db.session.expire_all()
    assert [api_status(scene.app, token) for token in scene.tokens] == [401, 422]
    assert len(live_tokens(scene.worker)) == 1
    assert scene.session.get("/mes-signalements").status_code == 200
    assert jetons_page(scene.session).count("Révoqué le") == 1
    assert db.session.scalars(select(AuditEntry.action)).all()[-1] == "token.revoke"


def test_no_token_is_made_for_a_disabled_account(scene: Scene) -> None:
    scene.cli("users", "disable", scene.worker.email)
    result = scene.app.test_cli_runner().invoke(args=["tokens", "create", scene.worker.email])
    assert result.exit_code != 0
    assert "désactivé" in result.output
    db.session.expire_all()
    assert live_tokens(scene.worker) == []


def test_the_api_has_no_account_path_outside_this_table(app: Flask) -> None:
    """The API changes reports and situations only; a route there that disables, enables or
    revokes must become a row of the tables above."""
    writes = sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        and rule.methods
        and rule.methods - {"GET", "HEAD", "OPTIONS"}
    )
    assert writes == [
        "/api/v1/reports",
        "/api/v1/reports/<id:report_id>/reject",
        "/api/v1/situations/<id:situation_id>/resolve",
    ]
