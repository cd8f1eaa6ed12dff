"""Headless Chromium with a virtual authenticator (the DevTools protocol's WebAuthn
domain): a worker adds a passkey on the setup page (`static/two_step.js` through
`navigator.credentials.create`), signs out, and signs in again with it
(`navigator.credentials.get`). The page is served as http://localhost: WebAuthn refuses
an IP address as relying party, and BASE_URL gives the rp id and the origin.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser

from barometre.extensions import db
from barometre.models import PasskeyCredential
from tests.conftest import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"])]


@pytest.fixture(autouse=True)
def real_forms(app: Flask) -> None:
    app.config["WTF_CSRF_ENABLED"] = True


def test_a_worker_adds_a_passkey_and_signs_in_with_it(
    app: Flask, live_server: str, browser: Browser
) -> None:
    site = live_server.replace("127.0.0.1", "localhost")
    app.config["SETTINGS"] = app.config["SETTINGS"].with_overrides(base_url=site)
    worker = make_user(email="cle@example.org")
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="fr-BE")
    page = context.new_page()
    devtools: Any = context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    devtools.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )

    def sign_in_with_password() -> None:
        page.goto(site + "/connexion")
        page.get_by_label("Adresse électronique").fill(worker.email)
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()

    sign_in_with_password()
    page.goto(site + "/profil/deuxieme-etape")
    page.get_by_label("Nom de la clé").fill("Ordinateur du bureau")
    page.get_by_role("button", name="Ajouter une clé d'accès").click()
    # The first second step of the account: its recovery codes, shown once.
    page.wait_for_url("**/profil/deuxieme-etape/codes", timeout=15_000)
    assert page.locator("ol.recovery-codes li").count() == 10
    page.goto(site + "/profil/deuxieme-etape")
    assert page.locator("li.token strong").all_inner_texts() == ["Ordinateur du bureau"]
    db.session.expire_all()
    [passkey] = db.session.query(PasskeyCredential).filter_by(user_id=worker.id).all()
    assert passkey.last_used_at is None
    page.get_by_role("button", name="Se déconnecter").click()

    sign_in_with_password()
    assert page.url.endswith("/connexion/deuxieme-etape")
    page.get_by_role("button", name="Utiliser ma clé d'accès").click()
    page.wait_for_url(lambda url: "/deuxieme-etape" not in url, timeout=15_000)
    page.goto(site + "/profil/sessions")
    assert page.url.endswith("/profil/sessions")
    db.session.expire_all()
    assert db.session.get(PasskeyCredential, passkey.id).last_used_at is not None
    context.close()
