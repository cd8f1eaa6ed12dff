"""Every registered route × every role gives the status its access rule promises.

The walk reads `app.url_map`, so a route added later is checked without
editing this file; a view without `access_rule` fails the suite.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import IntegerConverter, Rule

from barometre import clock
from barometre.auth import BAROMETER, COORDINATOR, PUBLIC, USER
from barometre.extensions import db
from barometre.models import ROLE_COORDINATOR, ROLE_WORKER, ApiToken
from tests.conftest import bearer, file_report, login, make_user

ROLES = ("anonymous", "worker", "coordinator")
ALLOWED = "allowed"  # reached the view: anything but 401/403 and never a 5xx
SIGN_IN = "sign in"  # anonymous: 401 now, a redirect to the login page later
FORBIDDEN = "forbidden"  # signed in without the right: 403

# The expectation table: (rule, token_only) -> role -> outcome, per PUBLIC_BAROMETER.
TABLE: dict[tuple[str, bool], dict[str, str]] = {
    (PUBLIC, False): {"anonymous": ALLOWED, "worker": ALLOWED, "coordinator": ALLOWED},
    (BAROMETER, False): {"anonymous": SIGN_IN, "worker": ALLOWED, "coordinator": ALLOWED},
    (USER, False): {"anonymous": SIGN_IN, "worker": ALLOWED, "coordinator": ALLOWED},
    (COORDINATOR, False): {"anonymous": SIGN_IN, "worker": FORBIDDEN, "coordinator": ALLOWED},
    # Token-only views never accept the session cookie (CSRF-exempt writes).
    (USER, True): {"anonymous": SIGN_IN, "worker": SIGN_IN, "coordinator": SIGN_IN},
    (COORDINATOR, True): {"anonymous": SIGN_IN, "worker": SIGN_IN, "coordinator": SIGN_IN},
}

SAMPLE_VALUES = {"slug": "haren", "filename": "barometre.css"}


def expected(rule: str, token_only: bool, role: str, public: bool) -> str:
    if rule == BAROMETER and public and not token_only:
        return ALLOWED
    return TABLE[(rule, token_only)][role]


def sample_url(rule: Rule) -> str:
    values: dict[str, Any] = {}
    for name in rule.arguments:
        converter = rule._converters[name]
        values[name] = (
            1 if isinstance(converter, IntegerConverter) else SAMPLE_VALUES.get(name, "x")
        )
    built = rule.build(values, append_unknown=False)
    assert built is not None, rule.rule
    return built[1]


def check(status: int, outcome: str, where: str) -> None:
    assert status < 500, where
    if outcome == ALLOWED:
        assert status not in (401, 403), where
    elif outcome == SIGN_IN:
        assert status in (302, 303, 401), where
    else:
        assert status == 403, where


class Clients:
    """One client per role; each request starts signed in again (a POST may sign out)."""

    def __init__(self, app: Flask) -> None:
        self.users = {"worker": make_user(ROLE_WORKER), "coordinator": make_user(ROLE_COORDINATOR)}
        file_report(self.users["worker"])  # report 1, situation 1 exist
        self.made = {role: app.test_client() for role in ROLES}

    def __getitem__(self, role: str) -> FlaskClient:
        client = self.made[role]
        user = self.users.get(role)
        if user is not None:
            db.session.refresh(user)
            login(client, user)
        return client


def clients(app: Flask) -> Clients:
    return Clients(app)


def test_every_route_has_an_access_rule(app: Flask) -> None:
    missing = [
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        and getattr(app.view_functions[rule.endpoint], "access_rule", None)
        not in (PUBLIC, BAROMETER, USER, COORDINATOR)
    ]
    assert missing == []


@pytest.mark.committing  # an app of its own: it adds a route, which a served app refuses
def test_a_view_without_rule_answers_403(app: Flask) -> None:
    app.add_url_rule("/sans-regle", "sans_regle", lambda: "secret")
    response = app.test_client().get("/sans-regle")
    assert response.status_code == 403 and b"secret" not in response.data


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(
    "settings_overrides",
    [{"public_barometer": False}, {"public_barometer": True}],
    ids=["private", "public"],
)
def test_every_route_for_every_role(app: Flask, settings_overrides: dict[str, Any]) -> None:
    public = settings_overrides["public_barometer"]
    made = clients(app)
    walked = 0
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions[rule.endpoint]
        access_rule = PUBLIC if rule.endpoint == "static" else view.access_rule
        token_only = bool(getattr(view, "access_token_only", False))
        url = sample_url(rule)
        # Writes last per route, and coordinators last, so that no POST hides a GET's answer.
        for method in sorted(
            (rule.methods or set()) - {"HEAD", "OPTIONS"}, key=lambda m: m != "GET"
        ):
            for role in ROLES:
                response = made[role].open(url, method=method)
                outcome = expected(access_rule, token_only, role, public)
                check(
                    response.status_code,
                    outcome,
                    f"{method} {url} as {role}: {response.status_code}",
                )
                walked += 1
    assert walked > 60  # the walk really covered the app


def test_private_pages_show_nothing_to_anonymous(client: FlaskClient) -> None:
    worker = make_user(ROLE_WORKER, service="Service-Tres-Prive")
    file_report(worker, description="Description-tres-privee")
    for url in (
        "/",
        "/etablissements/haren",
        "/badge/haren.svg",
        "/feed.atom",
        "/coordination/",
        "/coordination/signalements",
        "/coordination/signalements/1",
        "/coordination/exports",
    ):
        response = client.get(url)
        assert response.status_code in (302, 303, 401), url
        body = response.get_data(as_text=True)
        assert "Description-tres-privee" not in body and "Service-Tres-Prive" not in body
        assert "Prison de Haren" not in body


class TestBearerTokensOnlyOnTheApi:
    """Issue 11, item 7: `Authorization: Bearer` opens `/api/` and nothing else."""

    def test_a_token_does_not_open_the_token_page(self, client: FlaskClient) -> None:
        headers = bearer(make_user(ROLE_WORKER))
        response = client.get("/jetons", headers=headers)
        assert response.status_code in (302, 303, 401)
        assert client.get("/mes-signalements", headers=headers).status_code in (302, 303, 401)

    def test_a_token_mints_no_token(self, client: FlaskClient) -> None:
        headers = bearer(make_user(ROLE_WORKER))
        response = client.post("/jetons", data={"name": "volé"}, headers=headers)
        assert response.status_code in (302, 303, 401, 400)
        assert db.session.query(ApiToken).count() == 1

    def test_a_coordinators_token_does_not_open_the_console(self, client: FlaskClient) -> None:
        headers = bearer(make_user(ROLE_COORDINATOR))
        for url in ("/coordination/", "/coordination/signalements", "/signalement"):
            assert client.get(url, headers=headers).status_code in (302, 303, 401), url

    def test_the_token_still_works_on_the_api(self, client: FlaskClient) -> None:
        headers = bearer(make_user(ROLE_WORKER))
        body = {
            "establishment": "haren",
            "visit_date": clock.today().isoformat(),
            "conditions": ["SEC-01"],
            "offer_types": ["individuel"],
        }
        assert client.post("/api/v1/reports", json=body, headers=headers).status_code == 201

    def test_public_pages_ignore_a_token(self, client: FlaskClient) -> None:
        headers = {"Authorization": "Bearer bar_not-a-token"}
        assert client.get("/connexion", headers=headers).status_code == 200
