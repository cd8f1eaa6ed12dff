"""Every page of every role at 360 and 1280 px: no sideways scroll, no axe violation.

The walk reads `app.url_map` like the access test, so a page added later is
walked without editing this file; a GET route with an argument this file does not
know how to fill fails the suite (add it to `fill`). The HTML part of every email
kind is also rendered at 360 px with the same rule.
"""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, BrowserContext
from werkzeug.routing import Rule

from alerts.channels import service as channels
from alerts.emails import preferences_token
from alerts.follow import service as follow
from alerts.follow.models import FollowRequest
from barometre.auth import BAROMETER, COORDINATOR, PUBLIC, USER
from barometre.console.exports import create_export, run_export
from barometre.console.filters import Filters
from barometre.console.import_jobs import create_import, run_import
from barometre.extensions import db
from barometre.models import Contact, Establishment, User
from barometre.password_links import make_token
from barometre.services import resolve_situation
from tests.browser.support import AXE
from tests.conftest import file_report, login, make_user

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"])]

WIDTHS = (360, 1280)
ROLES = ("anonymous", "worker", "coordinator")
# Who reaches a page under each access rule (PUBLIC_BAROMETER on).
REACHES = {
    PUBLIC: set(ROLES),
    BAROMETER: set(ROLES),
    USER: {"worker", "coordinator"},
    COORDINATOR: {"coordinator"},
}
NOT_PAGES = {"static"}  # files, not pages
# The signed alert links: preferences, and the one-click unsubscription (its GET page, its POST).
ALERT_LINKS = ("alerts.preferences", "alerts.one_click_page", "alerts.one_click")
IND, COLL, CELL = "individuel", "collectif", "cellulaire"
DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"public_barometer": True, "alert_group_wait": 0}


class World:
    """Enough data that every page has rows to show and every id in a URL exists."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.worker = make_user("worker", email="travailleuse@example.org")
        self.coordinator = make_user("coordinator", email="coordination@example.org")
        haren = db.session.query(Establishment).filter_by(slug="haren").one()
        db.session.add(Contact(establishment=haren, email="direction@haren.test", name="Direction"))
        db.session.commit()
        long_text = "Attente au greffe sans explication, " * 40
        for code, types in (
            ("ACC-01", (IND,)),
            ("ACC-02", (IND, COLL)),
            ("SEC-01", (COLL,)),
            ("OFF-01", (CELL,)),
            ("CON-01", (IND,)),
        ):
            file_report(self.worker, conditions=(code,), offer_types=types, description=long_text)
        settings = app.config["SETTINGS"]
        resolve_situation(db.session, 1, self.coordinator, "Réglé avec la direction", settings)
        db.session.commit()
        export = create_export(db.session, self.coordinator, "reports", "csv", Filters())
        db.session.commit()
        run_export(export.id)
        # A history import refused line by line (an unknown condition on many lines): the
        # job page with its table of bad lines.
        history = (DATA / "history_reports.csv").read_bytes().replace(b";SEC-01;", b";XXX-99;")
        job = create_import(db.session, self.coordinator, history, None, dry_run=True)
        db.session.commit()
        run_import(job.id)
        result = CliRunner().invoke(app.cli, ["digest", "send"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        # A confirmed follower (the console lists it) and a request waiting for its link.
        choice = follow.Choice(alerts=True, red_only=False, digest=True)
        for address in ("voisin@example.org", "voisine@example.org"):
            follow.request_follow(db.session, haren, address, "fr", choice, "client")
        db.session.commit()
        requests = db.session.query(FollowRequest).order_by(FollowRequest.id).all()
        follow.confirm(db.session, requests[0])
        db.session.commit()
        self.follow_request = requests[1]
        # A webhook channel of the committee (« Qui reçoit quoi », its removal page).
        channels.add(db.session, None, settings, "https://hooks.example.org/barometre/hook")
        db.session.commit()

    def outbox(self) -> list[Path]:
        folder: Path = self.app.config["SETTINGS"].outbox_path
        return sorted(folder.glob("notification-*.eml"))

    def fill(self, rule: Rule) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in rule.arguments:
            converter = type(rule._converters[name]).__name__
            if rule.endpoint in ALERT_LINKS and name == "token":
                values[name] = preferences_token(
                    "direction@haren.test", self.app.config["SETTINGS"]
                )
            elif rule.rule.endswith("/suivre/confirmer/<token>") and name == "token":
                values[name] = follow.follow_token(self.follow_request, self.app.config["SETTINGS"])
            elif rule.endpoint == "intake.set_password" and name == "token":
                values[name] = make_token(self.worker, "reset")
            elif rule.endpoint == "history_import.template" and name == "name":
                values[name] = "modele-signalements.csv"
            elif rule.endpoint == "year_report.tables" and name == "fmt":
                values[name] = "csv"
            elif rule.endpoint == "alerts.outbox_message" and name == "name":
                values[name] = self.outbox()[0].name
            elif rule.endpoint in ALERT_LINKS[1:] and name == "topic":
                values[name] = "alertes"
            elif name == "slug":
                values[name] = "haren"
            elif converter in ("IntegerConverter", "IdConverter"):
                values[name] = 1
            else:
                raise AssertionError(f"{rule.rule}: teach this test how to fill <{name}>")
        return values


def session_cookie(app: Flask, user: User | None) -> str | None:
    if user is None:
        return None
    client: FlaskClient = app.test_client()
    login(client, user)
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def contexts(
    browser: Browser, app: Flask, base: str, world: World, width: int
) -> dict[str, BrowserContext]:
    users = {"anonymous": None, "worker": world.worker, "coordinator": world.coordinator}
    made = {}
    for role, user in users.items():
        context = browser.new_context(
            viewport={"width": width, "height": 800}, locale="fr-BE", bypass_csp=True
        )
        cookie = session_cookie(app, user)
        if cookie:
            context.add_cookies([{"name": "session", "value": cookie, "url": base}])
        made[role] = context
    return made


def html_pages(app: Flask, world: World) -> list[tuple[str, str]]:
    """(role, path) of every GET page that answers HTML to that role."""
    users = {"anonymous": None, "worker": world.worker, "coordinator": world.coordinator}
    clients = {role: app.test_client() for role in users}
    pages = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in (rule.methods or set()) or rule.endpoint in NOT_PAGES:
            continue
        view = app.view_functions[rule.endpoint]
        if getattr(view, "access_token_only", False):
            continue
        built = rule.build(world.fill(rule), append_unknown=False)
        assert built is not None
        path = built[1]
        for role in sorted(REACHES[view.access_rule]):
            user = users[role]
            if user is not None:
                login(clients[role], user)
            response = clients[role].get(path, follow_redirects=True)
            if response.mimetype == "text/html" and response.request.path == path:
                assert response.status_code == 200, f"{path} as {role}: {response.status_code}"
                pages.append((role, path))
    return pages


def overflow(page: Any) -> str | None:
    """What sticks out sideways, if anything: the page must not scroll horizontally."""
    width = page.evaluate("document.documentElement.scrollWidth")
    view = page.evaluate("window.innerWidth")
    if width <= view:
        return None
    culprits = page.evaluate(
        """(view) => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > view + 1)
            .slice(0, 4)
            .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''))""",
        view,
    )
    return f"scrollWidth {width} > {view}: {culprits}"


def small_targets(page: Any) -> list[str]:
    """Buttons and check boxes a finger cannot hit: under 44 px high (with their label)."""
    found: list[str] = page.evaluate(
        """() => [...document.querySelectorAll(
              'button, input[type=submit], input[type=checkbox], input[type=radio], select')]
            .filter(e => e.offsetParent !== null)
            .filter(e => {
              const labels = [e, e.closest('label'), ...(e.labels || [])].filter(Boolean);
              return Math.max(...labels.map(l => l.getBoundingClientRect().height)) < 43.5;
            })
            .slice(0, 4)
            .map(e => e.outerHTML.slice(0, 80))"""
    )
    return found


def axe_violations(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("async () => (await axe.run(document)).violations")
    return [f"{v['id']}: {[n['target'] for n in v['nodes']][:3]}" for v in violations]


@pytest.mark.slow
def test_every_page_of_every_role_fits_a_phone_and_a_desktop(
    app: Flask, live_server: str, browser: Browser
) -> None:
    """Both widths in one test: the world and the walk of the pages are built once."""
    world = World(app)
    pages = html_pages(app, world)
    assert len(pages) > 40  # the walk really covered the app
    problems = []
    for width in WIDTHS:
        made = contexts(browser, app, live_server, world, width)
        opened = {role: context.new_page() for role, context in made.items()}
        for role, path in pages:
            page = opened[role]
            page.goto(live_server + path)
            sideways = overflow(page)
            if sideways:
                problems.append(f"{width} px {role} {path}: {sideways}")
            if width == 360:
                problems += [f"{width} px {role} {path}: {v}" for v in axe_violations(page)]
                problems += [f"{role} {path}: too small {t}" for t in small_targets(page)]
        for context in made.values():
            context.close()
    assert problems == [], "\n".join(problems)


def test_every_email_kind_fits_a_phone(app: Flask, browser: Browser) -> None:
    world = World(app)
    messages = []
    for path in world.outbox():
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        messages.append(message)
    subjects = {str(m["Subject"]) for m in messages}
    assert len(subjects) >= 6, subjects  # rises, red and the digest
    context = browser.new_context(viewport={"width": 360, "height": 800})
    page = context.new_page()
    problems = []
    for message in messages:
        body = message.get_body(preferencelist=("html",))
        assert body is not None
        page.set_content(body.get_content())
        sideways = overflow(page)
        if sideways:
            problems.append(f"{message['Subject']}: {sideways}")
    context.close()
    assert problems == []
