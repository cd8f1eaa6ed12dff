"""The console's menu reaches every console page; its home shows what waits."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from barometre.console.models import Export
from barometre.extensions import db
from barometre.models import ROLE_COORDINATOR
from tests.conftest import file_report, login, make_user

# Console pages reached from another page rather than the menu: a file to download.
NOT_IN_MENU = {"/coordination/donnees/registre.txt"}


def console_pages(app: Flask) -> set[str]:
    """Every GET page under /coordination/ that takes no parameter."""
    return {
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/coordination")
        and "GET" in (rule.methods or ())
        and not rule.arguments
    } - NOT_IN_MENU


def menu_links(html: str) -> set[str]:
    nav = html.split('<nav class="console-nav"')[1].split("</nav>")[0]
    return set(re.findall(r'href="([^"]+)"', nav))


def test_one_menu_reaches_every_console_page_from_every_console_page(
    app: Flask, client: FlaskClient
) -> None:
    login(client, make_user(ROLE_COORDINATOR))
    pages = console_pages(app)
    assert {"/coordination/notifications", "/coordination/outbox", "/coordination/donnees"} <= pages
    for page in sorted(pages):
        response = client.get(page, follow_redirects=True)
        assert response.status_code == 200, page
        links = menu_links(response.get_data(as_text=True))
        assert {p.rstrip("/") or "/" for p in pages} <= {p.rstrip("/") or "/" for p in links}, page


def test_the_home_shows_reviews_situations_and_running_exports(
    app: Flask, client: FlaskClient
) -> None:
    file_report(conditions=("SEC-01", "ACC-01"))
    db.session.add(Export(kind="reports", format="csv", state="running"))
    db.session.commit()
    login(client, make_user(ROLE_COORDINATOR))
    home = client.get("/coordination/").get_data(as_text=True)
    assert "1 signalement à examiner" in home
    assert "2 situations ouvertes" in home
    assert "1 export en cours" in home
    assert "0 courriel en échec (non remis)" in home
    assert "console-trouble" not in home
