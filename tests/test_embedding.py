"""Badges and feeds: who may keep them and who may show them (issue 24, items 8 and 9).

Public barometer: any cache may keep them five minutes and any website may load
them (`Cross-Origin-Resource-Policy: cross-origin`, no `X-Frame-Options`).
Private barometer: only the signed-in reader's own browser keeps them
(`private`), and no other website may load them (`same-origin`, `DENY`).
The browser itself is tested with two origins in tests/browser/test_badge_browser.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from barometre.models import User
from tests.conftest import login

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

EMBEDDED = ("/badge/haren.svg", "/feed.atom", "/etablissements/haren/feed.atom")


def signed_in(app: Flask, user: User) -> FlaskClient:
    client = app.test_client()
    login(client, user)
    return client


class TestPublic:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"public_barometer": True}

    @pytest.mark.parametrize("url", EMBEDDED)
    def test_anyone_may_keep_and_show_them(self, app: Flask, worker: User, url: str) -> None:
        for client in (app.test_client(), signed_in(app, worker)):
            response = client.get(url)
            assert response.status_code == 200
            assert response.headers["Cache-Control"] == "public, max-age=300"
            assert {"accept-language", "cookie"} <= {v.lower() for v in response.vary}
            assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
            assert "X-Frame-Options" not in response.headers

    def test_other_pages_stay_enclosed(self, app: Flask) -> None:
        page = app.test_client().get("/etablissements/haren")
        assert page.headers["Cross-Origin-Resource-Policy"] == "same-origin"
        assert page.headers["X-Frame-Options"] == "DENY"


class TestPrivate:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"public_barometer": False}

    @pytest.mark.parametrize("url", EMBEDDED)
    def test_only_the_readers_browser_keeps_them_and_no_other_site_shows_them(
        self, app: Flask, worker: User, url: str
    ) -> None:
        response = signed_in(app, worker).get(url)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "private, max-age=300"
        assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"
        assert response.headers["X-Frame-Options"] == "DENY"
        anonymous = app.test_client().get(url)
        assert anonymous.status_code != 200
        assert "public" not in anonymous.headers.get("Cache-Control", "")
