"""Headless Chromium at 360 px: a coordinator, whom REQUIRE_TWO_STEP requires a second
step of, signs in, is sent to set up a code app, sees the recovery codes once, opens the
console, signs out and signs in again with a code (TOTP). axe-core finds no violation on
the setup page, the recovery codes, and « Deuxième étape ». CSRF is on.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
import pytest
from flask import Flask
from playwright.sync_api import Browser

from barometre.models import ROLE_COORDINATOR
from tests.browser.test_console_browser import axe_violations
from tests.conftest import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"])]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"require_two_step": "coordinators"}


@pytest.fixture(autouse=True)
def real_forms(app: Flask) -> None:
    app.config["WTF_CSRF_ENABLED"] = True


def code(secret: str, windows_ago: int = 0) -> str:
    return pyotp.TOTP(secret).at(int(time.time()) - 30 * windows_ago)


def test_a_coordinator_sets_up_and_signs_in_with_a_code_at_360px(
    app: Flask, live_server: str, browser: Browser
) -> None:
    coordinator = make_user(ROLE_COORDINATOR, email="coordination@fidex.test")
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, locale="fr-BE", bypass_csp=True
    )
    page = context.new_page()

    def sign_in_with_password() -> None:
        page.goto(live_server + "/connexion")
        page.get_by_label("Adresse électronique").fill(coordinator.email)
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()

    sign_in_with_password()
    assert page.url.endswith("/profil/deuxieme-etape")
    assert page.locator("svg.qr-code").count() == 1
    assert axe_violations(page) == []
    page.goto(live_server + "/coordination/")  # nothing else opens
    assert page.url.endswith("/profil/deuxieme-etape")
    secret = page.locator("code.totp-secret").inner_text().replace(" ", "")
    # The window before: this one's code is left for the sign-in below (a code serves once).
    page.get_by_label("Code à 6 chiffres").fill(code(secret, windows_ago=1))
    page.get_by_role("button", name="Activer l'application de codes").click()
    assert page.locator("h1").inner_text() == "Codes de secours"
    codes = page.locator("ol.recovery-codes li").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"[a-z2-9-]{19}", c) for c in codes)
    assert axe_violations(page) == []
    page.get_by_role("link", name="J'ai noté mes codes : continuer").click()
    page.goto(live_server + "/coordination/")
    assert page.url.endswith("/coordination/")
    page.get_by_role("button", name="Se déconnecter").click()

    sign_in_with_password()
    assert page.url.endswith("/connexion/deuxieme-etape")
    assert page.locator("h1").inner_text() == "Deuxième étape"
    assert axe_violations(page) == []
    page.get_by_role("textbox", name="Code").fill(code(secret))
    page.get_by_role("button", name="Valider").click()
    assert page.url == live_server + "/"
    page.goto(live_server + "/coordination/")
    assert page.url.endswith("/coordination/")
    context.close()
