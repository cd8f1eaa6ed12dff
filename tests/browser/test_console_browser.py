"""Headless Chromium: a coordinator rejects a report and the barometer falls; axe-core finds
no accessibility violation on the barometer, an establishment page and the review pages.

The app runs for real (werkzeug server on a free port, CSRF on); the coordinator's
session cookie comes from the Flask test client, since signing in is another page's job.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page

from barometre.models import User
from tests.browser.support import AXE
from tests.conftest import file_report, login

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"])]

IND, COLL = "individuel", "collectif"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"public_barometer": True}


@pytest.fixture(autouse=True)
def real_forms(app: Flask) -> None:
    app.config["WTF_CSRF_ENABLED"] = True  # the real forms, with their tokens


def signed_in_page(browser: Browser, app: Flask, base: str, user: User) -> Page:
    client = app.test_client()
    login(client, user)
    cookie = client.get_cookie("session")
    assert cookie is not None
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, locale="fr-BE", bypass_csp=True
    )
    context.add_cookies([{"name": "session", "value": cookie.value, "url": base}])
    return context.new_page()


def axe_violations(page: Page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        f"{v['id']}: {v['help']} -> {[n['target'] for n in v['nodes']][:3]}" for v in violations
    ]


def card(page: Page, slug: str) -> tuple[str | None, str | None]:
    element = page.locator(f"#etablissement-{slug}")
    return element.get_attribute("data-colour"), element.get_attribute("data-step")


def test_a_coordinator_rejects_a_report_and_the_barometer_falls(
    app: Flask, live_server: str, browser: Browser, worker: User, coordinator: User
) -> None:
    for code, offer in (("ACC-01", IND), ("ACC-02", IND), ("ACC-03", COLL), ("SEC-01", IND)):
        file_report(worker, conditions=(code,), offer_types=(offer,))
    last = file_report(worker, conditions=("SEC-02",), offer_types=(COLL,), description="Bloqué")
    assert last.report is not None and last.after.colour == "rouge"

    public = browser.new_context(
        viewport={"width": 360, "height": 740}, locale="fr-BE", bypass_csp=True
    ).new_page()
    public.goto(live_server + "/")
    assert card(public, "haren") == ("rouge", "5")
    assert "Code rouge" in public.locator("#etablissement-haren").inner_text()
    assert axe_violations(public) == []
    public.goto(live_server + "/etablissements/haren")
    assert axe_violations(public) == []

    page = signed_in_page(browser, app, live_server, coordinator)
    page.goto(live_server + "/coordination/signalements")
    assert axe_violations(page) == []
    page.get_by_role("link", name=f"Examiner le n° {last.report.id}").click()
    page.get_by_role("button", name="Rejeter").click()  # no reason yet: a field error
    assert "Ce champ est obligatoire." in page.locator("#reason-error").inner_text()
    assert page.locator("#reason").get_attribute("aria-invalid") == "true"
    assert axe_violations(page) == []
    page.get_by_label("Motif du rejet").fill("Doublon d'un autre signalement")
    page.get_by_role("button", name="Rejeter").click()
    assert "Signalement rejeté" in page.locator(".flash").inner_text()
    assert "Rejeté" in page.locator("#review-state").inner_text()

    page.goto(live_server + "/")
    assert card(page, "haren") == ("orange", "4")
    assert "Code orange 4 sur 5" in page.locator("#etablissement-haren").inner_text()
    public.goto(live_server + "/")
    assert card(public, "haren") == ("orange", "4")
    page.goto(live_server + "/etablissements/haren")
    assert "Un signalement a été retiré par le comité" in page.locator("table.changes").inner_text()
    assert axe_violations(page) == []


def test_pages_run_under_the_content_security_policy(
    app: Flask, live_server: str, browser: Browser, worker: User, coordinator: User
) -> None:
    """Without bypass: no page of ours needs an inline script or style the CSP forbids."""
    file_report(worker, conditions=("ACC-01",), offer_types=(IND,))
    client = app.test_client()
    login(client, coordinator)
    cookie = client.get_cookie("session")
    assert cookie is not None
    context = browser.new_context(locale="fr-BE")
    context.add_cookies([{"name": "session", "value": cookie.value, "url": live_server}])
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    for path in ("/", "/etablissements/haren", "/codes", "/signalement", "/coordination/"):
        page.goto(live_server + path)
        page.wait_for_load_state("load")
    assert refused == []
