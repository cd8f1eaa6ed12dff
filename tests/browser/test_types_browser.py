"""A worker gives each condition its own offer types, at 360 px, without and with JavaScript.

The real app on a loopback port (SQLite, migrated and seeded, CSRF on), Debian's
Chromium; the stored report is read back from the database.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask_migrate import upgrade
from playwright.sync_api import Page, expect, sync_playwright
from sqlalchemy import select
from werkzeug.serving import make_server

from barometre import create_app
from barometre.extensions import db
from barometre.models import ROLE_WORKER, Report
from barometre.seed import ensure_service, ensure_user, seed_referentiel
from tests.browser.support import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import PASSWORD, make_settings

pytestmark = pytest.mark.browser

WORKER = "travailleuse@service.example"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Flask]]:
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
        yield f"http://127.0.0.1:{server.server_port}", app
    finally:
        server.shutdown()
        thread.join(timeout=10)
        with app.app_context():
            db.engine.dispose()


def phone_page(javascript: bool) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        context = browser.new_context(
            viewport={"width": 360, "height": 760}, locale="fr-BE", java_script_enabled=javascript
        )
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()


@pytest.fixture
def phone_without_js() -> Iterator[Page]:
    yield from phone_page(javascript=False)


@pytest.fixture
def phone_with_js() -> Iterator[Page]:
    yield from phone_page(javascript=True)


def sign_in(page: Page, base: str) -> None:
    page.goto(base + "/connexion?next=/signalement")
    page.get_by_label("Adresse électronique").fill(WORKER)
    page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page).to_have_url(base + "/signalement")


def assert_fits_the_screen(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the page is {width} px wide on a 360 px screen"


def stored(app: Flask) -> list[tuple[str, tuple[str, ...]]]:
    with app.app_context():
        reports = db.session.scalars(select(Report)).all()
        assert len(reports) == 1
        result = [(c.code, types) for c, types in reports[0].condition_types()]
        db.session.remove()
        return result


def test_types_per_condition_without_javascript(
    served: tuple[str, Flask], phone_without_js: Page
) -> None:
    base, app = served
    page = phone_without_js
    sign_in(page, base)
    assert_fits_the_screen(page)
    # The matrix: every condition's types are there, no script needed.
    expect(page.locator("#types-OFF-06-cellulaire")).to_be_visible()
    page.get_by_label("Prison de Haren").check()
    page.locator("#condition-ACC-02").check()
    page.locator("#types-ACC-02-individuel").check()
    page.locator("#types-ACC-02-collectif").check()
    page.locator("#condition-SEC-01").check()
    page.locator("#types-SEC-01-cellulaire").check()
    page.locator("#condition-OFF-06").check()  # no type yet: refused, nothing lost
    page.get_by_label(re.compile("^Description")).fill("Parloir fermé, attente au greffe.")
    page.get_by_role("button", name="Envoyer le signalement").click()

    expect(page.locator("#types-OFF-06-errors")).to_contain_text("au moins un type d'offre")
    for box in (
        "condition-ACC-02",
        "types-ACC-02-individuel",
        "types-ACC-02-collectif",
        "condition-SEC-01",
        "types-SEC-01-cellulaire",
        "condition-OFF-06",
    ):
        expect(page.locator(f"#{box}")).to_be_checked()
    expect(page.locator("#types-SEC-01-individuel")).not_to_be_checked()
    expect(page.get_by_label(re.compile("^Description"))).to_have_value(
        "Parloir fermé, attente au greffe."
    )
    expect(page.get_by_label("Prison de Haren")).to_be_checked()
    assert_fits_the_screen(page)

    page.locator("#types-OFF-06-individuel").check()
    page.get_by_role("button", name="Envoyer le signalement").click()
    expect(page).to_have_url(re.compile(r"/signalement/\d+/merci$"))
    assert stored(app) == [
        ("ACC-02", ("individuel", "collectif")),
        ("SEC-01", ("cellulaire",)),
        ("OFF-06", ("individuel",)),
    ]


def test_types_per_condition_with_javascript(
    served: tuple[str, Flask], phone_with_js: Page
) -> None:
    base, app = served
    page = phone_with_js
    sign_in(page, base)
    # A condition's types show once it is ticked.
    expect(page.locator("#types-ACC-02")).to_be_hidden()
    page.get_by_label("Prison de Haren").check()
    page.locator("#condition-ACC-02").check()
    expect(page.locator("#types-ACC-02")).to_be_visible()
    page.locator("#types-ACC-02").get_by_role("checkbox", name="Individuel").check()
    page.locator("#types-ACC-02").get_by_role("checkbox", name="Collectif").check()
    # Unticking a condition clears its types; ticking it again starts afresh.
    page.locator("#condition-ACC-03").check()
    page.locator("#types-ACC-03").get_by_role("checkbox", name="Cellulaire").check()
    page.locator("#condition-ACC-03").uncheck()
    expect(page.locator("#types-ACC-03")).to_be_hidden()
    expect(page.locator("#types-ACC-03-cellulaire")).not_to_be_checked()
    # The filter finds "pas de DECT"; its row gets its own type.
    page.get_by_label(re.compile("Chercher une condition")).fill("dect")
    page.locator("#condition-SEC-01").check()
    page.locator("#types-SEC-01").get_by_role("checkbox", name="Cellulaire").check()
    assert_fits_the_screen(page)
    page.get_by_role("button", name="Envoyer le signalement").click()
    expect(page).to_have_url(re.compile(r"/signalement/\d+/merci$"))
    assert stored(app) == [("ACC-02", ("individuel", "collectif")), ("SEC-01", ("cellulaire",))]
