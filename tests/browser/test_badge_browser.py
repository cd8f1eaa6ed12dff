"""Headless Chromium, two origins: a member's website shows the badge (issue 24, item 9).

The app runs on one port of 127.0.0.1, a "member website" on another: a
different origin (the port differs) but the same site, so the browser sends the
app's session cookie with the image request and only the app's headers decide
whether the image may be drawn there. The member page holds the badge and a
control image of its own, which always loads.

Public barometer: the badge is drawn on the other origin. Private barometer: even
for a signed-in reader whose cookie goes with the request, the badge is not
drawn there (it is on the app's own pages).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, request, request_finished
from playwright.sync_api import Browser, BrowserContext, Page
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from barometre.models import User
from tests.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"])]

CONTROL = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20">'
    b'<rect width="40" height="20" fill="#888"/></svg>'
)


def member_site(app_origin: str) -> Any:
    """A WSGI app: a page that embeds the barometer's badge, and its own control image."""
    page = (
        "<!doctype html><html lang='fr'><head><title>Membre</title></head><body>"
        f"<img id='badge' alt='Haren' src='{app_origin}/badge/haren.svg'>"
        "<img id='control' alt='' src='/control.svg'>"
        "</body></html>"
    ).encode()

    def serve(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/control.svg":
            body, kind = CONTROL, "image/svg+xml"
        else:
            body, kind = page, "text/html; charset=utf-8"
        start_response("200 OK", [("Content-Type", kind), ("Content-Length", str(len(body)))])
        return [body]

    return serve


@pytest.fixture
def member_origin(live_server: str) -> Iterator[str]:
    """Another origin than the app's: the same host, another port."""
    server = make_server("127.0.0.1", 0, member_site(live_server), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    origin = f"http://127.0.0.1:{server.server_port}"
    assert origin != live_server
    yield origin
    server.shutdown()
    thread.join(timeout=10)


def widths(page: Page) -> dict[str, int]:
    """naturalWidth of each image once the browser is done with it (0: not drawn)."""
    page.wait_for_function("() => [...document.images].every((image) => image.complete)")
    found: dict[str, int] = page.evaluate(
        "() => Object.fromEntries([...document.images].map((i) => [i.id, i.naturalWidth]))"
    )
    return found


def context(browser: Browser, app: Flask, origin: str, user: User | None) -> BrowserContext:
    made = browser.new_context(locale="fr-BE")
    if user is not None:
        client = app.test_client()
        login(client, user)
        cookie = client.get_cookie("session")
        assert cookie is not None
        made.add_cookies([{"name": "session", "value": cookie.value, "url": origin}])
    return made


def same_origin_width(page: Page, origin: str) -> int:
    """The badge loaded by a page of the app itself."""
    page.goto(origin + "/codes")
    width: int = page.evaluate(
        """() => new Promise((done) => {
            const image = new Image();
            image.onload = () => done(image.naturalWidth);
            image.onerror = () => done(0);
            image.src = "/badge/haren.svg";
        })"""
    )
    return width


class TestPublic:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"public_barometer": True}

    def test_a_member_website_shows_the_badge(
        self, app: Flask, live_server: str, member_origin: str, browser: Browser
    ) -> None:
        page = context(browser, app, live_server, None).new_page()
        page.goto(member_origin + "/")
        shown = widths(page)
        assert shown["control"] == 40
        assert shown["badge"] > 0, shown


class TestPrivate:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"public_barometer": False}

    def test_a_private_badge_stays_on_the_barometer(
        self,
        app: Flask,
        live_server: str,
        member_origin: str,
        browser: Browser,
        worker: User,
    ) -> None:
        answered: list[int] = []

        def record(_sender: Flask, response: Response, **_extra: Any) -> None:
            if request.path == "/badge/haren.svg":
                answered.append(response.status_code)

        with request_finished.connected_to(record, app):
            for user in (None, worker):
                page = context(browser, app, live_server, user).new_page()
                page.goto(member_origin + "/")
                shown = widths(page)
                assert shown["control"] == 40
                assert shown["badge"] == 0, (user, shown)
        # The signed-in reader's cookie went with the image request (the app answered it with
        # the badge): the browser held it back because of the app's headers alone.
        assert answered[0] != 200 and answered[1:] == [200], answered
        page = context(browser, app, live_server, worker).new_page()
        assert same_origin_width(page, live_server) > 0  # the app's own pages draw it
