"""A worker files a report from a 360 px wide phone, in headless Chromium (Playwright).

The real app runs on a loopback port (SQLite, migrated and seeded, CSRF on);
axe-core checks the questionnaire and the confirmation page.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask_migrate import upgrade
from playwright.sync_api import Page, expect, sync_playwright
from werkzeug.serving import make_server

from barometre import create_app
from barometre.extensions import db
from barometre.models import ROLE_WORKER
from barometre.seed import ensure_service, ensure_user, seed_referentiel
from tests.browser.support import AXE, CHROMIUM, CHROMIUM_ARGS
from tests.conftest import PASSWORD, make_settings

pytestmark = pytest.mark.browser

WORKER = "travailleuse@service.example"


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[str]:
    app = create_app(make_settings(tmp_path))
    with app.app_context():
        upgrade()
        seed_referentiel(db.session)
        service = ensure_service(db.session, "Service d'aide aux justiciables")
        ensure_user(db.session, WORKER, ROLE_WORKER, PASSWORD, service)
        db.session.commit()
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def phone() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        # The production CSP forbids inline scripts; axe is injected as one.
        context = browser.new_context(
            viewport={"width": 360, "height": 760}, locale="fr-BE", bypass_csp=True
        )
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    violations: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return violations


def assert_accessible(page: Page) -> None:
    violations = axe_violations(page)
    summary = [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["html"][:160] for n in v["nodes"]]}
        for v in violations
    ]
    assert not violations, json.dumps(summary, ensure_ascii=False, indent=2)


def assert_fits_the_screen(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the page is {width} px wide on a 360 px screen"


def test_worker_reports_from_a_phone_and_sees_the_new_level(live_server: str, phone: Page) -> None:
    phone.goto(live_server + "/signalement")
    expect(phone).to_have_url(re.compile(r"/connexion\?next="))
    assert_accessible(phone)
    phone.get_by_label("Adresse électronique").fill(WORKER)
    phone.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    phone.get_by_role("button", name="Se connecter").click()
    expect(phone).to_have_url(live_server + "/signalement")
    expect(phone.get_by_role("heading", level=1)).to_contain_text("Signaler un problème")
    assert_fits_the_screen(phone)
    assert_accessible(phone)

    # The filter box finds "pas de DECT" in a few keystrokes.
    phone.get_by_label(re.compile("Chercher une condition")).fill("dect")
    visible = phone.locator("[data-search]:visible")
    expect(visible).to_have_count(1)
    expect(visible.first).to_contain_text("se déplacer librement")

    phone.get_by_label("Prison de Haren").check()
    visible.first.get_by_role("checkbox").check()
    phone.get_by_role("checkbox", name="Cellulaire", exact=True).check()
    phone.get_by_label(re.compile("^Description")).fill("Pas de DECT à l'accueil ce matin.")
    phone.get_by_role("button", name="Envoyer le signalement").click()

    expect(phone).to_have_url(re.compile(r"/signalement/\d+/merci$"))
    result = phone.locator("section.result")
    expect(result.locator(".badge")).to_contain_text("Code orange 1 sur 5")
    expect(result).to_contain_text("Code vert → Code orange 1 sur 5")
    expect(result).to_contain_text("Nouvelles situations problématiques")
    assert_fits_the_screen(phone)
    assert_accessible(phone)

    # Back button and a second tap: still one report.
    phone.go_back()
    phone.get_by_role("button", name="Envoyer le signalement").click()
    expect(phone).to_have_url(re.compile(r"/signalement/\d+/merci$"))
    phone.goto(live_server + "/mes-signalements")
    expect(phone.locator("li.report")).to_have_count(1)


def test_errors_are_shown_next_to_the_fields(live_server: str, phone: Page) -> None:
    phone.goto(live_server + "/connexion")
    phone.get_by_label("Adresse électronique").fill(WORKER)
    phone.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    phone.get_by_role("button", name="Se connecter").click()
    phone.get_by_role("button", name="Envoyer le signalement").click()
    expect(phone.locator("#conditions-errors")).to_contain_text("au moins une condition")
    expect(phone.locator("#establishment-errors")).to_contain_text("Choisissez un établissement")
    assert_accessible(phone)
