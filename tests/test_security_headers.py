"""Every response carries the security headers; cookies carry their flags;
every error is a friendly French page (or JSON under /api/), never a traceback."""

from __future__ import annotations

import html
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from flask import Flask, abort, session
from flask.testing import FlaskClient
from werkzeug.wrappers import Response

from barometre import create_app
from barometre.auth import PUBLIC, access
from barometre.models import User
from barometre.security import CSP, embeddable
from tests.conftest import bearer, login, make_settings

EXPECTED = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@pytest.fixture
def backend() -> str:
    return "sqlite"


def add_test_routes(app: Flask) -> None:
    """Routes that only tests have: a forced error code, a session write, an embeddable view."""

    @access(PUBLIC)
    def fail(code: int) -> Any:
        if code == 500:
            raise RuntimeError("boom: secret detail")
        abort(code)

    @access(PUBLIC)
    def remember() -> Any:
        session["seen"] = True
        return "ok"

    @access(PUBLIC)
    @embeddable
    def badge() -> Any:
        return Response("<svg xmlns='http://www.w3.org/2000/svg'/>", mimetype="image/svg+xml")

    @access(PUBLIC)
    def form() -> Any:
        from flask import request

        return str(len(request.form))

    app.add_url_rule("/test/fail/<int:code>", view_func=fail)
    app.add_url_rule("/test/remember", view_func=remember)
    app.add_url_rule("/test/badge.svg", view_func=badge)
    app.add_url_rule("/test/form", view_func=form, methods=["POST"])


@pytest.fixture
def test_client(app: Flask) -> FlaskClient:
    add_test_routes(app)
    return app.test_client()


@pytest.mark.parametrize(
    "url", ["/", "/healthz", "/api/v1/referentiel", "/nulle-part", "/static/barometre.css"]
)
def test_every_response_has_the_security_headers(test_client: FlaskClient, url: str) -> None:
    response = test_client.get(url)
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (url, name)
    assert "camera=()" in response.headers["Permissions-Policy"]
    assert "geolocation=()" in response.headers["Permissions-Policy"]
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert "Strict-Transport-Security" not in response.headers  # plain http here


def test_error_responses_have_them_too(test_client: FlaskClient) -> None:
    for code in (400, 403, 404, 500):
        response = test_client.get(f"/test/fail/{code}")
        assert response.status_code == code
        assert response.headers["Content-Security-Policy"] == CSP
        assert response.headers["X-Frame-Options"] == "DENY"


def test_an_embeddable_view_may_be_framed_and_loaded_elsewhere(test_client: FlaskClient) -> None:
    response = test_client.get("/test/badge.svg")
    assert "X-Frame-Options" not in response.headers
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert "frame-ancestors *" in response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_view_may_set_its_own_policy(app: Flask) -> None:
    @access(PUBLIC)
    def own() -> Any:
        return Response("x", headers={"Content-Security-Policy": "default-src 'none'"})

    app.add_url_rule("/test/own", view_func=own)
    response = app.test_client().get("/test/own")
    assert response.headers["Content-Security-Policy"] == "default-src 'none'"


def test_signed_in_pages_are_never_cached(test_client: FlaskClient, worker: User) -> None:
    assert "no-store" not in test_client.get("/healthz").headers.get("Cache-Control", "")
    login(test_client, worker)
    assert test_client.get("/").headers["Cache-Control"] == "no-store"
    api = test_client.get("/api/v1/establishments", headers=bearer(worker))
    assert api.headers["Cache-Control"] == "no-store"


def set_cookie_header(client: FlaskClient, name: str = "session") -> str:
    response = client.get("/test/remember")
    (header,) = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "=")]
    return header


def test_session_cookie_flags_over_http(test_client: FlaskClient) -> None:
    header = set_cookie_header(test_client)
    assert "HttpOnly" in header and "SameSite=Lax" in header
    assert "Secure" not in header  # a browser would drop it on plain http


class TestBehindTLS:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, object]:
        return {"base_url": "https://barometre.fidex.example"}

    def test_hsts_and_secure_cookies(self, test_client: FlaskClient) -> None:
        response = test_client.get("/healthz")
        assert response.headers["Strict-Transport-Security"] == (
            "max-age=31536000; includeSubDomains"
        )
        header = set_cookie_header(test_client)
        assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header

    def test_remember_cookie_gets_the_same_flags(self, app: Flask) -> None:
        assert app.config["REMEMBER_COOKIE_SECURE"] is True
        assert app.config["REMEMBER_COOKIE_HTTPONLY"] is True
        assert app.config["REMEMBER_COOKIE_SAMESITE"] == "Lax"


class TestBehindAProxy:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, object]:
        return {"trusted_proxies": 1}

    def test_forwarded_https_counts_as_secure(self, test_client: FlaskClient) -> None:
        direct = test_client.get("/healthz")
        assert "Strict-Transport-Security" not in direct.headers
        proxied = test_client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
        assert "Strict-Transport-Security" in proxied.headers


def test_forwarded_headers_are_ignored_without_a_trusted_proxy(test_client: FlaskClient) -> None:
    response = test_client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers


FRENCH = {
    400: "Requête invalide.",
    401: "Authentification requise.",
    403: "Accès refusé.",
    404: "Page introuvable.",
    413: "Envoi trop volumineux.",
    429: "Trop de tentatives. Réessayez dans une minute.",
    500: "Erreur interne. L'équipe a été prévenue.",
    503: "Service momentanément indisponible.",
}


@pytest.mark.parametrize("code", sorted(FRENCH))
def test_error_pages_are_friendly_and_french(test_client: FlaskClient, code: int) -> None:
    response = test_client.get(f"/test/fail/{code}")
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == code
    assert response.mimetype == "text/html"
    assert FRENCH[code] in page
    assert f"Code d'erreur\xa0: {code}" in page
    assert "Retour au baromètre" in page
    assert "Traceback" not in page and "boom" not in page


def test_real_triggers_of_error_pages(test_client: FlaskClient, worker: User) -> None:
    assert test_client.get("/pas/de/page").status_code == 404
    assert test_client.get("/coordination/donnees").status_code == 401
    login(test_client, worker)
    forbidden = test_client.get("/coordination/donnees")
    assert forbidden.status_code == 403 and "Accès refusé." in forbidden.get_data(as_text=True)


def test_too_large_bodies_are_413(test_client: FlaskClient, worker: User) -> None:
    big = "x" * (1024 * 1024 + 1)
    page = test_client.post("/test/form", data={"description": big})
    assert page.status_code == 413 and "Envoi trop volumineux." in page.get_data(as_text=True)
    api = test_client.post(
        "/api/v1/reports",
        data=big,
        headers={**bearer(worker), "Content-Type": "application/json"},
    )
    assert api.status_code == 413 and api.get_json() == {"error": "Envoi trop volumineux."}


class TestSmallerLimit:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, object]:
        return {"max_content_length": 32 * 1024}

    def test_max_content_length_is_a_setting(self, test_client: FlaskClient) -> None:
        assert test_client.post("/test/form", data={"d": "x" * 40_000}).status_code == 413
        assert test_client.post("/test/form", data={"d": "x" * 20_000}).status_code == 200


def test_api_errors_are_json_with_required_headers(test_client: FlaskClient) -> None:
    unauthorised = test_client.post("/api/v1/reports", json={})
    assert unauthorised.status_code == 401
    assert unauthorised.headers["WWW-Authenticate"].startswith("Bearer")
    not_allowed = test_client.delete("/api/v1/reports")
    assert not_allowed.status_code == 405
    assert "POST" in not_allowed.headers["Allow"]
    assert not_allowed.get_json() == {"error": "Méthode non autorisée."}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=["postgresql", "sqlite"])
def app_without_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """An app whose database cannot be reached (nothing listens / no such folder)."""
    if request.param == "postgresql":
        url = f"postgresql://postgres@127.0.0.1:{free_port()}/barometre"
    else:
        url = f"sqlite:///{tmp_path}/no/such/folder/barometre.db"
    application = create_app(make_settings(tmp_path, url, public_barometer=True))
    with application.app_context():
        yield application


def test_database_down_gives_a_503_page_not_a_traceback(app_without_database: Flask) -> None:
    client = app_without_database.test_client()
    page = client.get("/")
    assert page.status_code == 503
    text = page.get_data(as_text=True)
    assert "Service momentanément indisponible." in text and "Rien n'est perdu" in text
    assert "Traceback" not in text and "OperationalError" not in text
    assert page.headers["Content-Security-Policy"] == CSP
    assert page.headers["Retry-After"] == "30"
    api = client.get("/api/v1/establishments")
    assert api.status_code == 503
    assert api.get_json() == {"error": "Service momentanément indisponible."}


def test_database_down_with_a_signed_in_user_is_503(app_without_database: Flask) -> None:
    client = app_without_database.test_client()
    with client.session_transaction() as cookie_session:
        cookie_session["_user_id"] = "1:1"
        cookie_session["_session"] = "a-session-secret"
    response = client.get("/coordination/donnees")
    assert response.status_code == 503
    assert "Service momentanément indisponible." in response.get_data(as_text=True)


def test_database_down_badge_and_feed_keep_their_kind(app_without_database: Flask) -> None:
    """Embedded badges and feed readers get an SVG and plain text, not an HTML page."""
    client = app_without_database.test_client()
    badge = client.get("/badge/haren.svg")
    assert badge.status_code == 503 and badge.mimetype == "image/svg+xml"
    assert badge.headers["Retry-After"] == "30"
    svg = ElementTree.fromstring(badge.data)  # noqa: S314 - our own answer
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert "Service momentanément indisponible." in "".join(svg.itertext())
    feed = client.get("/feed.atom")
    assert feed.status_code == 503 and feed.mimetype == "text/plain"
    assert feed.headers["Retry-After"] == "30"
    assert feed.get_data(as_text=True).strip() == "Service momentanément indisponible."
