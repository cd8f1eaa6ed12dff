"""The second step of a sign-in (issue 29): TOTP, recovery codes, passkeys,
REQUIRE_TWO_STEP, its throttle, its audit and `users reset-two-step`."""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import select
from werkzeug.test import TestResponse

from alerts.models import Notification
from barometre import clock, two_step
from barometre.extensions import db
from barometre.models import (
    ROLE_COORDINATOR,
    ROLE_WORKER,
    AuditEntry,
    PasskeyCredential,
    RecoveryCode,
    User,
)
from tests.conftest import PASSWORD, bearer, login, make_user
from tests.intake_helpers import body_of, outbox, sign_in, text
from tests.softkey import SoftKey, unb64

# 10:00:15 UTC: a quarter of a 30-second window gone.
START = datetime(2026, 12, 7, 10, 0, 15)
SECOND_STEP = "/connexion/deuxieme-etape"
SETUP = "/profil/deuxieme-etape"
REQUIRED = {"require_two_step": "coordinators"}


@pytest.fixture(autouse=True)
def _frozen() -> Iterator[Any]:
    """Every test runs at a frozen time: a session cookie is signed and read at times
    that never go backwards (itsdangerous refuses a signature from the future)."""
    with freeze_time(START) as frozen:
        yield frozen


def with_totp(user: User) -> str:
    secret = pyotp.random_base32()
    user.totp_secret, user.totp_confirmed_at = secret, clock.now()
    db.session.commit()
    return secret


def code_at(secret: str, moment: datetime) -> str:
    """The code of the app at `moment` (naive UTC)."""
    return pyotp.TOTP(secret).at(calendar.timegm(moment.utctimetuple()))


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def signed_in(client: FlaskClient) -> bool:
    return client.get("/profil").status_code == 200


def password_step(client: FlaskClient, user: User, address: str = "192.0.2.1") -> None:
    response = sign_in(client, user.email, address=address)
    assert response.status_code == 303, text(response)
    assert response.headers["Location"].endswith(SECOND_STEP)
    assert not signed_in(client)  # the password alone signs nobody in


def second_step(client: FlaskClient, code: str, address: str = "192.0.2.1") -> TestResponse:
    return client.post(SECOND_STEP, data={"code": code}, environ_base={"REMOTE_ADDR": address})


def actions(user: User) -> list[str]:
    query = select(AuditEntry.action).where(AuditEntry.target_id == user.id).order_by(AuditEntry.id)
    return list(db.session.scalars(query))


# --- TOTP -------------------------------------------------------------------------------------


def test_a_current_code_completes_the_sign_in(app: Flask, client: FlaskClient) -> None:
    worker = make_user(ROLE_WORKER)
    secret = with_totp(worker)
    with freeze_time(START):
        password_step(client, worker)
        page = client.get(SECOND_STEP)
        assert page.status_code == 200 and "Deuxième étape" in text(page)
        done = second_step(client, code_at(secret, START))
        assert done.status_code == 303
        assert done.headers["Location"].endswith("/signalement") or signed_in(client)
        assert signed_in(client)


def test_the_previous_window_is_accepted_the_one_before_not(
    app: Flask, client: FlaskClient
) -> None:
    worker = make_user(ROLE_WORKER)
    secret = with_totp(worker)
    with freeze_time(START):
        password_step(client, worker)
        assert (
            second_step(client, code_at(secret, START - timedelta(seconds=60))).status_code == 422
        )
        assert (
            second_step(client, code_at(secret, START - timedelta(seconds=30))).status_code == 303
        )
        assert signed_in(client)


def test_a_code_serves_once(app: Flask, client: FlaskClient) -> None:
    worker = make_user(ROLE_WORKER)
    secret = with_totp(worker)
    with freeze_time(START) as frozen:
        code = code_at(secret, START)
        password_step(client, worker)
        assert second_step(client, code).status_code == 303
        client.post("/deconnexion")
        frozen.tick(timedelta(seconds=5))  # the same window
        other = FlaskClient(app, app.response_class, use_cookies=True)
        password_step(other, worker)
        replayed = second_step(other, code)
        assert replayed.status_code == 422 and "déjà utilisé" in text(replayed)
        assert not signed_in(other)
        # Nor the window before, once a later one was accepted.
        earlier = code_at(secret, START - timedelta(seconds=30))
        assert second_step(other, earlier).status_code == 422
        frozen.tick(timedelta(seconds=30))
        assert second_step(other, code_at(secret, clock.now())).status_code == 303


def test_a_wrong_code_is_refused_and_audited(app: Flask, client: FlaskClient) -> None:
    worker = make_user(ROLE_WORKER)
    secret = with_totp(worker)
    with freeze_time(START):
        password_step(client, worker)
        refused = second_step(client, wrong(code_at(secret, START)))
        assert refused.status_code == 422 and "Code incorrect" in text(refused)
        assert second_step(client, "abcdef").status_code == 422
        assert not signed_in(client)
    assert actions(worker).count("two_step.failure") == 2


def test_second_step_failures_are_throttled_per_account(app: Flask, client: FlaskClient) -> None:
    worker = make_user(ROLE_WORKER)
    secret = with_totp(worker)
    with freeze_time(START) as frozen:
        password_step(client, worker)
        for _ in range(5):
            assert second_step(client, wrong(code_at(secret, START))).status_code == 422
        # From another address too: the account's window is full.
        refused = second_step(client, code_at(secret, START), address="198.51.100.7")
        assert refused.status_code == 429
        assert "Trop de tentatives pour la deuxième étape" in text(refused)
        assert not signed_in(client)
        frozen.tick(timedelta(seconds=61))
        password_step(client, worker)
        assert second_step(client, code_at(secret, clock.now())).status_code == 303


def test_second_step_failures_are_throttled_per_address(app: Flask) -> None:
    users = [make_user(ROLE_WORKER) for _ in range(6)]
    secrets = [with_totp(user) for user in users]
    with freeze_time(START):
        for user, secret in zip(users[:5], secrets[:5], strict=True):
            client = app.test_client()
            password_step(client, user)
            assert second_step(client, wrong(code_at(secret, START))).status_code == 422
        last = app.test_client()
        password_step(last, users[5])
        assert second_step(last, code_at(secrets[5], START)).status_code == 429
        # The passkey ceremony is refused as well.
        options = last.post(SECOND_STEP + "/cle/options", environ_base={"REMOTE_ADDR": "192.0.2.1"})
        assert options.status_code == 429


def test_the_password_step_expires_after_five_minutes(app: Flask, client: FlaskClient) -> None:
    worker = make_user(ROLE_WORKER)
    secret = with_totp(worker)
    with freeze_time(START) as frozen:
        password_step(client, worker)
        frozen.tick(timedelta(minutes=5, seconds=1))
        late = second_step(client, code_at(secret, clock.now()))
        assert late.status_code == 303 and late.headers["Location"].endswith("/connexion")
        assert not signed_in(client)


def test_a_password_change_voids_a_pending_second_step(app: Flask, client: FlaskClient) -> None:
    worker = make_user(ROLE_WORKER)
    secret = with_totp(worker)
    with freeze_time(START):
        password_step(client, worker)
        worker.session_version += 1
        db.session.commit()
        assert second_step(client, code_at(secret, START)).status_code == 303
        assert not signed_in(client)


def test_the_second_step_page_without_a_password_step_sends_to_sign_in(
    client: FlaskClient,
) -> None:
    response = client.get(SECOND_STEP)
    assert response.status_code == 303 and response.headers["Location"].endswith("/connexion")


# --- setting it up, recovery codes --------------------------------------------------------------


def setup_secret(client: FlaskClient) -> str:
    page = client.get(SETUP)
    assert page.status_code == 200
    assert "<svg" in page.get_data(as_text=True)  # the QR code, inline
    found = re.search(r'<code class="totp-secret">([A-Z2-7 ]+)</code>', text(page))
    assert found is not None
    return found.group(1).replace(" ", "")


def set_up_totp(client: FlaskClient) -> tuple[str, list[str]]:
    secret = setup_secret(client)
    response = client.post(SETUP + "/application", data={"code": code_at(secret, clock.now())})
    assert response.status_code == 200, text(response)
    codes = re.findall(
        r"<code>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</code>", text(response)
    )
    assert response.headers["Cache-Control"] == "no-store"
    return secret, codes


def test_a_worker_sets_up_a_code_app_and_sees_the_recovery_codes_once(
    app: Flask, client: FlaskClient
) -> None:
    worker = make_user(ROLE_WORKER)
    login(client, worker)
    with freeze_time(START):
        secret = setup_secret(client)
        wrong_code = wrong(code_at(secret, START))
        refused = client.post(SETUP + "/application", data={"code": wrong_code})
        assert refused.status_code == 422 and "Code incorrect" in text(refused)
        secret, codes = set_up_totp(client)
    assert len(codes) == 10 and len(set(codes)) == 10
    again = text(client.get(SETUP))
    assert not any(code in again for code in codes)  # shown once
    assert "10 codes de secours non utilisés" in again
    stored = db.session.scalars(select(RecoveryCode.code_hash)).all()
    assert not any(code.replace("-", "") in stored or code in stored for code in codes)
    assert "two_step.setup" in actions(worker)


def test_each_recovery_code_serves_once(app: Flask) -> None:
    worker = make_user(ROLE_WORKER)
    with freeze_time(START):
        setup = app.test_client()
        login(setup, worker)
        _secret, codes = set_up_totp(setup)
    with freeze_time(START + timedelta(minutes=2)):
        client = app.test_client()
        password_step(client, worker)
        # As printed, or typed in capitals without the dashes.
        used = second_step(client, codes[0].upper().replace("-", " "))
        assert used.status_code == 303
        assert "il vous en reste 9" in text(client.get("/profil"))
        other = app.test_client()
        password_step(other, worker)
        assert second_step(other, codes[0]).status_code == 422
        assert second_step(other, codes[1]).status_code == 303
    assert actions(worker).count("two_step.recovery_code_used") == 2
    assert two_step.recovery_codes_left(db.session, worker) == 8


def test_new_recovery_codes_and_turning_off_ask_the_password(app: Flask) -> None:
    worker = make_user(ROLE_WORKER)
    client = app.test_client()
    login(client, worker)
    with freeze_time(START):
        _secret, first = set_up_totp(client)
        assert client.post(SETUP + "/codes", data={"password": "faux"}).status_code == 422
        fresh = client.post(SETUP + "/codes", data={"password": PASSWORD})
        assert fresh.status_code == 200
        assert not any(code in text(fresh) for code in first)
        assert client.post(SETUP + "/desactiver", data={"password": "faux"}).status_code == 422
        assert client.post(SETUP + "/desactiver", data={"password": PASSWORD}).status_code == 303
    db.session.refresh(worker)
    assert not two_step.has_second_step(db.session, worker)
    assert two_step.recovery_codes_left(db.session, worker) == 0
    assert "two_step.remove" in actions(worker)
    # Signing in again: the password is enough.
    other = app.test_client()
    assert sign_in(other, worker.email).status_code == 303
    assert signed_in(other)


# --- passkeys ---------------------------------------------------------------------------------


def register_passkey(client: FlaskClient, key: SoftKey, name: str = "Téléphone") -> TestResponse:
    options = client.post(SETUP + "/cles/options")
    assert options.status_code == 200
    answer = key.create(json.loads(options.get_data(as_text=True)))
    return client.post(SETUP + "/cles", json={"credential": answer, "name": name})


def passkey_sign_in(client: FlaskClient, key: SoftKey, **how: Any) -> TestResponse:
    options = client.post(SECOND_STEP + "/cle/options")
    assert options.status_code == 200, options.get_data(as_text=True)
    return client.post(SECOND_STEP + "/cle", json=key.get(json.loads(options.data), **how))


def test_a_passkey_is_registered_and_signs_in(app: Flask) -> None:
    origin = app.config["SETTINGS"].base_url
    worker = make_user(ROLE_WORKER)
    setup = app.test_client()
    login(setup, worker)
    key = SoftKey(origin)
    added = register_passkey(setup, key)
    assert added.status_code == 200, added.get_data(as_text=True)
    # The first second step: the recovery codes are shown once, on the next page.
    assert added.json == {"redirect": SETUP + "/codes"}
    codes_page = setup.get(SETUP + "/codes")
    assert len(re.findall(r"<code>[a-z2-9-]{19}</code>", text(codes_page))) == 10
    assert setup.get(SETUP + "/codes").status_code == 303  # once
    [stored] = db.session.scalars(select(PasskeyCredential)).all()
    assert stored.name == "Téléphone" and stored.credential_id
    assert unb64(stored.credential_id) == key.credential_id
    assert "passkey.add" in actions(worker)

    client = app.test_client()
    password_step(client, worker)
    page = text(client.get(SECOND_STEP))
    assert "Utiliser ma clé d'accès" in page and "two_step.js" in page
    done = passkey_sign_in(client, key)
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.json is not None and done.json["redirect"].endswith("/signalement")
    assert signed_in(client)
    db.session.refresh(stored)
    assert stored.sign_count == 1 and stored.last_used_at is not None


def test_a_passkey_answer_for_another_site_or_challenge_is_refused(app: Flask) -> None:
    origin = app.config["SETTINGS"].base_url
    worker = make_user(ROLE_WORKER)
    setup = app.test_client()
    login(setup, worker)
    key = SoftKey(origin)
    assert register_passkey(setup, key).status_code == 200
    # Registration from another origin is refused too.
    stranger = SoftKey("https://hameconnage.example")
    assert register_passkey(setup, stranger).status_code == 422
    client = app.test_client()
    password_step(client, worker)
    assert passkey_sign_in(client, key, origin="https://hameconnage.example").status_code == 422
    assert passkey_sign_in(client, key, rp_id="hameconnage.example").status_code == 422
    # An answer without a challenge asked first.
    assert (
        client.post(
            SECOND_STEP + "/cle", json=key.get({"challenge": "x", "rpId": "127.0.0.1"})
        ).status_code
        == 400
    )
    # Another authenticator's key.
    assert passkey_sign_in(client, SoftKey(origin)).status_code == 422
    assert not signed_in(client)
    assert actions(worker).count("two_step.failure") == 3


def test_a_passkey_is_removed_but_never_the_last_step_without_the_password(app: Flask) -> None:
    origin = app.config["SETTINGS"].base_url
    worker = make_user(ROLE_WORKER)
    client = app.test_client()
    login(client, worker)
    first, second = SoftKey(origin), SoftKey(origin)
    assert register_passkey(client, first, "Un").status_code == 200
    assert register_passkey(client, second, "Deux").status_code == 200
    one, two = db.session.scalars(select(PasskeyCredential).order_by(PasskeyCredential.id)).all()
    assert client.post(f"{SETUP}/cles/{one.id}/retirer").status_code == 303
    assert client.post(f"{SETUP}/cles/{two.id}/retirer").status_code == 303
    assert db.session.scalars(select(PasskeyCredential.name)).all() == ["Deux"]
    # Another account's passkey: 404.
    stranger = app.test_client()
    login(stranger, make_user(ROLE_WORKER))
    assert stranger.post(f"{SETUP}/cles/{two.id}/retirer").status_code == 404


# --- REQUIRE_TWO_STEP -------------------------------------------------------------------------


def console_urls(app: Flask) -> list[str]:
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/coordination") or "GET" not in (rule.methods or ()):
            continue
        values = {name: 1 for name in rule.arguments}
        try:
            built = rule.build(values, append_unknown=False)
        except (ValueError, TypeError):
            continue
        if built is not None:
            urls.append(built[1])
    return urls


class TestRequired:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return REQUIRED

    def test_a_coordinator_is_sent_to_set_up_and_can_open_nothing_else(
        self, app: Flask, client: FlaskClient
    ) -> None:
        coordinator = make_user(ROLE_COORDINATOR)
        response = sign_in(client, coordinator.email)
        assert response.status_code == 303 and response.headers["Location"].endswith(SETUP)
        urls = console_urls(app)
        assert len(urls) > 15
        for url in [*urls, "/", "/profil", "/signalement", "/jetons", "/etablissements/haren"]:
            got = client.get(url)
            assert got.status_code == 303, url
            assert got.headers["Location"].endswith(SETUP), url
        # Writes are refused outright.
        for rule in app.url_map.iter_rules():
            if "POST" in (rule.methods or ()) and rule.rule.startswith("/coordination"):
                url = rule.build({name: 1 for name in rule.arguments}, append_unknown=False)
                assert url is not None
                assert client.post(url[1]).status_code == 403, rule.rule
        assert client.post("/jetons", data={"name": "x"}).status_code == 403
        # The setup page, signing out and static files answer.
        assert client.get(SETUP).status_code == 200
        assert client.get("/static/barometre.css").status_code == 200
        with freeze_time(START):
            set_up_totp(client)
            for url in urls[:5]:
                assert client.get(url).status_code not in (303, 403), url
            assert client.get("/coordination/").status_code == 200
        # Now required: it cannot be turned off.
        refused = client.post(SETUP + "/desactiver", data={"password": PASSWORD})
        assert refused.status_code == 303
        assert two_step.has_totp(db.session.get(User, coordinator.id))  # type: ignore[arg-type]
        assert client.post("/deconnexion").status_code == 303

    def test_a_worker_is_not_forced(self, app: Flask, client: FlaskClient) -> None:
        worker = make_user(ROLE_WORKER)
        response = sign_in(client, worker.email)
        assert response.status_code == 303 and response.headers["Location"].endswith("/signalement")
        assert client.get("/signalement").status_code == 200
        with freeze_time(START):
            set_up_totp(client)  # but may enable it
        assert client.post(SETUP + "/desactiver", data={"password": PASSWORD}).status_code == 303
        assert not two_step.has_second_step(db.session, worker)

    def test_an_api_token_opens_the_api_never_the_pages(
        self, app: Flask, client: FlaskClient
    ) -> None:
        coordinator = make_user(ROLE_COORDINATOR)
        headers = bearer(coordinator)
        for url in ("/coordination/", "/coordination/signalements", "/profil", "/jetons"):
            assert client.get(url, headers=headers).status_code in (302, 401), url
        assert client.get("/api/v1/establishments", headers=headers).status_code == 200
        # A session beside a token is still a session: sent to set up.
        login(client, coordinator)
        assert client.get("/api/v1/establishments", headers=headers).status_code == 403

    def test_with_a_second_step_the_coordinator_is_asked_it(
        self, app: Flask, client: FlaskClient
    ) -> None:
        coordinator = make_user(ROLE_COORDINATOR)
        secret = with_totp(coordinator)
        with freeze_time(START):
            password_step(client, coordinator)
            assert second_step(client, code_at(secret, START)).status_code == 303
            assert client.get("/coordination/").status_code == 200


def test_require_two_step_takes_three_values_and_the_mode_decides_when_empty() -> None:
    from barometre.settings import Settings, SettingsError

    assert Settings().two_step_required_of == "none"
    assert Settings(env="production").two_step_required_of == "coordinators"
    assert Settings(require_two_step="all").two_step_required_of == "all"
    with pytest.raises(SettingsError, match="REQUIRE_TWO_STEP: 'coordinators', 'all' ou 'none'"):
        Settings.from_env({"REQUIRE_TWO_STEP": "tous"})


def test_all_requires_it_of_workers_too(app: Flask) -> None:
    worker = make_user(ROLE_WORKER)
    settings = app.config["SETTINGS"].with_overrides(require_two_step="all")
    assert two_step.must_set_up(db.session, worker, settings)
    assert not two_step.must_set_up(
        db.session, worker, settings.with_overrides(require_two_step="none")
    )


# --- the command line -------------------------------------------------------------------------


@pytest.mark.committing  # the email leaves after the commit
def test_reset_two_step_removes_everything_audits_and_tells_the_person(app: Flask) -> None:
    coordinator = make_user(ROLE_COORDINATOR, email="perdu@fidex.test")
    client = app.test_client()
    login(client, coordinator)
    with freeze_time(START):
        set_up_totp(client)
    assert register_passkey(client, SoftKey(app.config["SETTINGS"].base_url)).status_code == 200
    result = app.test_cli_runner().invoke(args=["users", "reset-two-step", "Perdu@Fidex.test"])
    assert result.exit_code == 0, result.output
    assert "Deuxième étape réinitialisée pour perdu@fidex.test" in result.output
    assert "1 clé d'accès et 10 codes de secours retirés" in result.output
    db.session.expire_all()
    user = db.session.get(User, coordinator.id)
    assert user is not None and not two_step.has_second_step(db.session, user)
    assert two_step.recovery_codes_left(db.session, user) == 0
    [entry] = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "two_step.reset"))
    assert entry.actor_id is None and entry.target_id == user.id
    assert entry.detail == {"totp": 1, "passkeys": 1, "recovery_codes": 10}
    [row] = db.session.scalars(select(Notification).where(Notification.kind == "twostep"))
    assert row.recipient == "perdu@fidex.test"
    [email] = outbox(app)
    assert email["To"] == "perdu@fidex.test"
    assert "deuxième étape réinitialisée" in str(email["Subject"])
    assert "configurez une nouvelle deuxième étape" in body_of(email)
    unknown = app.test_cli_runner().invoke(args=["users", "reset-two-step", "personne@x.test"])
    assert unknown.exit_code != 0 and "Compte inconnu" in unknown.output
