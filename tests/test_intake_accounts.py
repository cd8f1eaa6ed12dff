"""Accounts: invitations, password links, throttled sign-in, roles, CSRF, sessions, mail."""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

import pytest
from argon2 import Type, extract_parameters
from flask import Flask
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import select

from barometre import clock
from barometre.extensions import db
from barometre.models import AuditEntry, MemberService, User
from tests.conftest import PASSWORD, login, make_user
from tests.intake_helpers import body_of, link_path, outbox, sign_in, text

NEW_PASSWORD = "un-nouveau-mot-de-passe"


def invite(client: FlaskClient, email: str = "nouvelle@example.org", **changes: Any) -> Any:
    service = db.session.scalar(select(MemberService))
    data = {
        "email": email,
        "name": "",
        "role": "worker",
        "service": str(service.id) if service else "",
        "language": "fr",
        **changes,
    }
    return client.post("/coordination/utilisateurs/inviter", data=data)


def set_password(client: FlaskClient, path: str, password: str = NEW_PASSWORD) -> Any:
    return client.post(path, data={"password": password, "confirm": password})


def nav_of(page: str) -> str:
    """The site menu of a page."""
    start = page.index('<nav class="site-nav"')
    return page[start : page.index("</nav>", start)]


class TestInvitation:
    @pytest.mark.committing
    def test_coordinator_invites_and_the_link_sets_a_password(
        self, app: Flask, client: FlaskClient, coordinator: User, worker: User
    ) -> None:
        login(client, coordinator)
        response = invite(client)
        assert response.status_code == 303
        user = db.session.scalar(select(User).where(User.email == "nouvelle@example.org"))
        assert (
            user is not None and user.password_hash == "" and user.service_id == worker.service_id
        )
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.invite"))
        assert entry is not None and entry.actor_id == coordinator.id and entry.target_id == user.id
        [message] = outbox(app)
        assert message["To"] == "nouvelle@example.org"
        assert message["Subject"] == "Baromètre\xa0: votre invitation"
        path = link_path(message)
        fresh = app.test_client()
        page = fresh.get(path)
        assert page.status_code == 200 and "Choisir un mot de passe" in text(page)
        assert set_password(fresh, path).status_code == 303
        # Signed in at once, and the password works on the login form.
        assert fresh.get("/signalement").status_code == 200
        assert sign_in(app.test_client(), "nouvelle@example.org", NEW_PASSWORD).status_code == 303

    @pytest.mark.committing
    def test_link_is_good_once(self, app: Flask, client: FlaskClient, coordinator: User) -> None:
        login(client, coordinator)
        invite(client)
        path = link_path(outbox(app)[0])
        assert set_password(app.test_client(), path).status_code == 303
        again = app.test_client().get(path)
        assert again.status_code == 400
        assert "n'est pas valide ou a déjà servi" in text(again)
        assert set_password(app.test_client(), path, "encore-un-autre-mdp").status_code == 400

    @pytest.mark.committing
    def test_link_expires_after_seven_days(
        self, app: Flask, client: FlaskClient, coordinator: User
    ) -> None:
        login(client, coordinator)
        with freeze_time(clock.now()) as frozen:
            invite(client)
            path = link_path(outbox(app)[0])
            frozen.tick(timedelta(days=6, hours=23))
            assert app.test_client().get(path).status_code == 200
            frozen.tick(timedelta(hours=2))
            expired = app.test_client().get(path)
            assert expired.status_code == 400 and "a expiré" in text(expired)
            assert set_password(app.test_client(), path).status_code == 400

    def test_forged_link_is_refused(self, client: FlaskClient) -> None:
        assert client.get("/mot-de-passe/definir/abc.def.ghi").status_code == 400
        assert client.get("/mot-de-passe/definir/" + "x" * 5000).status_code == 400

    @pytest.mark.committing
    def test_email_is_in_the_invited_language(
        self, app: Flask, client: FlaskClient, coordinator: User
    ) -> None:
        login(client, coordinator)
        invite(client, email="nl@example.org", role="coordinator", service="", language="nl")
        [message] = outbox(app)
        assert message["Subject"] == "Barometer: uw uitnodiging"
        assert "Goedendag" in body_of(message)

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"email": "pas-une-adresse"}, "email"),
            ({"email": "a\x00b@example.org"}, "email"),
            ({"email": "x" * 10_000 + "@example.org"}, "email"),
            ({"service": ""}, "service"),
            ({"role": "admin"}, "role"),
            ({"language": "de"}, "language"),
        ],
    )
    def test_bad_invitations_store_nothing(
        self, app: Flask, client: FlaskClient, coordinator: User, changes: Any, field: str
    ) -> None:
        login(client, coordinator)
        make_user(service="Service A")
        before = db.session.query(User).count()
        response = invite(client, **changes)
        assert response.status_code == 422
        assert f'id="{field}-errors"' in text(response)
        assert db.session.query(User).count() == before and outbox(app) == []

    def test_existing_address_is_refused(
        self, app: Flask, client: FlaskClient, coordinator: User, worker: User
    ) -> None:
        login(client, coordinator)
        response = invite(client, email=worker.email.upper())
        assert response.status_code == 422
        assert "Un compte existe déjà pour cette adresse." in text(response)


class TestReset:
    @pytest.mark.committing
    def test_reset_link_changes_the_password_once(
        self, app: Flask, client: FlaskClient, worker: User
    ) -> None:
        response = client.post("/mot-de-passe/oubli", data={"email": worker.email})
        assert response.status_code == 303
        [message] = outbox(app)
        assert message["Subject"] == "Baromètre\xa0: nouveau mot de passe"
        path = link_path(message)
        assert set_password(client, path).status_code == 303
        assert sign_in(app.test_client(), worker.email, PASSWORD).status_code == 422
        assert sign_in(app.test_client(), worker.email, NEW_PASSWORD).status_code == 303
        assert app.test_client().get(path).status_code == 400

    @pytest.mark.committing
    def test_reset_link_expires(self, app: Flask, client: FlaskClient, worker: User) -> None:
        with freeze_time(clock.now()) as frozen:
            client.post("/mot-de-passe/oubli", data={"email": worker.email})
            path = link_path(outbox(app)[0])
            frozen.tick(timedelta(hours=2, minutes=1))
            response = app.test_client().get(path)
            assert response.status_code == 400 and "a expiré" in text(response)

    def test_unknown_address_gets_the_same_answer_and_no_email(
        self, app: Flask, client: FlaskClient
    ) -> None:
        response = client.post("/mot-de-passe/oubli", data={"email": "personne@example.org"})
        assert response.status_code == 303 and outbox(app) == []
        page = text(client.get(response.headers["Location"]))
        assert "Si un compte existe pour cette adresse" in page


class TestThrottling:
    def test_sixth_failure_for_one_account_is_429(
        self, app: Flask, client: FlaskClient, worker: User
    ) -> None:
        with freeze_time(clock.now()) as frozen:
            for attempt in range(5):
                # Five different addresses: the account limit is what refuses.
                response = sign_in(client, worker.email, "faux", address=f"192.0.2.{attempt}")
                assert response.status_code == 422
                frozen.tick(timedelta(seconds=5))
            refused = sign_in(client, worker.email, PASSWORD, address="198.51.100.7")
            assert refused.status_code == 429
            assert "Trop de tentatives de connexion" in text(refused)
            frozen.tick(timedelta(seconds=40))
            assert (
                sign_in(client, worker.email, PASSWORD, address="198.51.100.7").status_code == 303
            )

    def test_sixth_failure_from_one_address_is_429(
        self, app: Flask, client: FlaskClient, worker: User
    ) -> None:
        with freeze_time(clock.now()) as frozen:
            for attempt in range(5):
                response = sign_in(client, f"inconnu{attempt}@example.org", "faux")
                assert response.status_code == 422
            refused = sign_in(client, worker.email, PASSWORD)
            assert refused.status_code == 429
            assert "Réessayez dans une minute" in text(refused)
            assert sign_in(client, worker.email, PASSWORD, address="192.0.2.99").status_code == 303
            frozen.tick(timedelta(seconds=61))
            assert sign_in(app.test_client(), worker.email, PASSWORD).status_code == 303

    def test_failures_spread_over_minutes_are_not_throttled(
        self, client: FlaskClient, worker: User
    ) -> None:
        with freeze_time(clock.now()) as frozen:
            for _ in range(8):
                assert sign_in(client, worker.email, "faux").status_code == 422
                frozen.tick(timedelta(seconds=20))

    def test_inactive_account_cannot_sign_in(self, client: FlaskClient, worker: User) -> None:
        worker.active = False
        db.session.commit()
        assert sign_in(client, worker.email, PASSWORD).status_code == 422

    @pytest.mark.parametrize(
        "data",
        [
            {"email": "a\x00@example.org", "password": "x"},
            {"email": "x" * 10_000, "password": "x"},
            {"email": "a@example.org", "password": "\x00" * 3},
            {"email": "", "password": ""},
        ],
    )
    def test_bad_login_input_is_a_field_error(self, client: FlaskClient, data: Any) -> None:
        response = client.post("/connexion", data=data)
        assert response.status_code == 422
        assert "field-errors" in text(response)


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


class TestAccess:
    @pytest.mark.parametrize(
        "path", ["/signalement", "/mes-signalements", "/jetons", "/profil", "/signalement/1/merci"]
    )
    def test_anonymous_browsers_go_to_the_login_page(self, client: FlaskClient, path: str) -> None:
        response = client.get(path, headers={"Accept": BROWSER_ACCEPT})
        assert response.status_code == 303
        assert response.headers["Location"] == f"/connexion?next={path}"
        # A script or a scraper asking for no HTML gets the plain 401 instead.
        assert client.get(path).status_code == 401

    def test_login_comes_back_to_next(self, client: FlaskClient, worker: User) -> None:
        response = sign_in(client, worker.email, next="/mes-signalements")
        assert response.headers["Location"] == "/mes-signalements"

    @pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil"])
    def test_next_never_leaves_the_site(
        self, client: FlaskClient, worker: User, target: str
    ) -> None:
        response = sign_in(client, worker.email, next=target)
        assert response.headers["Location"] == "/signalement"

    def test_a_workers_tokens_are_under_the_profile_not_in_the_menu(
        self, client: FlaskClient, worker: User
    ) -> None:
        login(client, worker)
        for path in ("/signalement", "/mes-signalements", "/profil"):
            menu = nav_of(text(client.get(path)))
            assert 'href="/jetons"' not in menu and "Jetons d'API" not in menu, path
        profile = text(client.get("/profil"))
        assert profile.count('id="titre-jetons"') == 1
        assert "<section" not in profile[: profile.index("</title>")]
        assert 'href="/jetons">Gérer mes jetons d\'API</a>' in profile
        tokens = text(client.get("/jetons"))
        assert 'href="/profil" aria-current="page"' in nav_of(tokens)

    def test_a_coordinator_keeps_the_tokens_in_the_menu(
        self, client: FlaskClient, coordinator: User
    ) -> None:
        login(client, coordinator)
        assert 'href="/jetons"' in nav_of(text(client.get("/profil")))

    def test_api_keeps_its_json_401(self, client: FlaskClient) -> None:
        response = client.post("/api/v1/reports", json={})
        assert response.status_code == 401 and response.is_json

    def test_worker_cannot_reach_coordinator_pages(self, client: FlaskClient, worker: User) -> None:
        login(client, worker)
        assert client.get("/coordination/utilisateurs/inviter").status_code == 403
        assert invite(client).status_code == 403

    def test_every_intake_route_declares_its_access(self, app: Flask) -> None:
        for rule in app.url_map.iter_rules():
            if rule.endpoint.startswith("intake."):
                view = app.view_functions[rule.endpoint]
                assert getattr(view, "access_rule", None), rule.endpoint


class TestCsrf:
    def test_form_without_token_is_a_french_400(
        self, app: Flask, client: FlaskClient, worker: User
    ) -> None:
        app.config["WTF_CSRF_ENABLED"] = True
        response = client.post("/connexion", data={"email": worker.email, "password": PASSWORD})
        assert response.status_code == 400
        assert "Le formulaire a expiré ou n'est pas valide" in text(response)

    def test_form_with_its_token_passes(
        self, app: Flask, client: FlaskClient, worker: User
    ) -> None:
        app.config["WTF_CSRF_ENABLED"] = True
        page = client.get("/connexion").get_data(as_text=True)
        token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        response = client.post(
            "/connexion", data={"email": worker.email, "password": PASSWORD, "csrf_token": token}
        )
        assert response.status_code == 303


class TestSessions:
    def test_logout_ends_the_session(self, client: FlaskClient, worker: User) -> None:
        sign_in(client, worker.email)
        assert client.post("/deconnexion").status_code == 303
        assert client.get("/signalement").status_code in (303, 401)  # signed out

    def test_a_saved_cookie_replayed_after_logout_opens_nothing(
        self, app: Flask, client: FlaskClient, worker: User
    ) -> None:
        """Issue 11, item 8: sign-out ends the session on the server, not only in the browser."""
        sign_in(client, worker.email)
        cookie_name = app.config["SESSION_COOKIE_NAME"]
        saved = client.get_cookie(cookie_name)
        assert saved is not None
        assert client.get("/mes-signalements").status_code == 200
        assert client.post("/deconnexion").status_code == 303
        replay = app.test_client()
        replay.set_cookie(cookie_name, saved.value, domain=saved.domain)
        assert replay.get("/mes-signalements").status_code in (303, 401)
        assert replay.get("/jetons").status_code in (303, 401)
        fresh = app.test_client()  # signing in again works
        sign_in(fresh, worker.email)
        assert fresh.get("/mes-signalements").status_code == 200

    def test_password_change_ends_other_sessions(
        self, app: Flask, client: FlaskClient, worker: User
    ) -> None:
        other = app.test_client()
        sign_in(client, worker.email)
        sign_in(other, worker.email)
        data = {"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
        assert client.post("/profil/mot-de-passe", data=data).status_code == 303
        assert client.get("/signalement").status_code == 200
        assert other.get("/signalement").status_code in (303, 401)  # signed out

    def test_wrong_current_password_changes_nothing(
        self, client: FlaskClient, worker: User
    ) -> None:
        sign_in(client, worker.email)
        data = {
            "current_password": "faux-faux-faux",
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        }
        response = client.post("/profil/mot-de-passe", data=data)
        assert response.status_code == 422
        assert "Mot de passe actuel incorrect." in text(response)
        db.session.refresh(worker)
        assert worker.session_version == 1


class TestLanguage:
    def test_anonymous_choice_is_a_cookie(self, client: FlaskClient) -> None:
        response = client.post("/langue", data={"lang": "nl", "next": "/connexion"})
        assert response.status_code == 303 and response.headers["Location"] == "/connexion"
        page = client.get("/connexion").get_data(as_text=True)
        assert '<html lang="nl">' in page and "Aanmelden" in page

    def test_signed_in_choice_changes_the_pages_not_the_profile(
        self, client: FlaskClient, worker: User
    ) -> None:
        login(client, worker)
        client.post("/langue", data={"lang": "en", "next": "/signalement"})
        db.session.refresh(worker)
        assert worker.language is None  # the emails' language is the profile's, untouched
        page = client.get("/signalement").get_data(as_text=True)
        assert "Send the report" in page and "Safety and security" in page

    def test_profile_language(self, client: FlaskClient, worker: User) -> None:
        login(client, worker)
        assert client.post("/profil/langue", data={"language": "nl"}).status_code == 303
        db.session.refresh(worker)
        assert worker.language == "nl"
        assert "Melding versturen" in client.get("/signalement").get_data(as_text=True)

    def test_unknown_language_is_400(self, client: FlaskClient) -> None:
        assert client.post("/langue", data={"lang": "xx"}).status_code == 400


@pytest.mark.committing
def test_invitation_when_the_mail_server_is_down(
    app: Flask, client: FlaskClient, coordinator: User, worker: User
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings = app.config["SETTINGS"]
    app.config["SETTINGS"] = settings.with_overrides(smtp_host="127.0.0.1", smtp_port=closed_port)
    login(client, coordinator)
    response = invite(client)
    assert response.status_code == 303
    page = text(client.get(response.headers["Location"]))
    assert "est créé mais le courriel n'a pas pu partir" in page
    assert db.session.scalar(select(User).where(User.email == "nouvelle@example.org")) is not None


@pytest.mark.argon2_full_cost
def test_passwords_are_hashed_at_argon2s_production_cost(app: Flask, client: FlaskClient) -> None:
    """The suite hashes cheaply (tests/conftest.py); the product never does."""
    worker = make_user()
    used = extract_parameters(worker.password_hash)
    assert (used.type, used.time_cost, used.memory_cost) == (Type.ID, 3, 65536)
    assert sign_in(client, worker.email, PASSWORD).status_code == 303
