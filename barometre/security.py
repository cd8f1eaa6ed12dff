"""Security headers and cookie flags on every response.

Deny by default here too: no inline script or style, no framing, no sniffing,
no referrer to other sites, no powerful browser features. A view that other
sites may embed (a badge image, a widget) opts out of the framing and
cross-origin restrictions with `@embeddable` (or `@embeddable_when`, for a view
others may embed only under a setting), and only of those.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

from .settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "base-uri 'self'; form-action 'self'"
)
CSP = f"{_POLICY}; frame-ancestors 'none'"
EMBEDDABLE_CSP = f"{_POLICY}; frame-ancestors *"
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), "
    "accelerometer=(), gyroscope=(), magnetometer=(), browsing-topics=()"
)
HSTS = "max-age=31536000; includeSubDomains"


def embeddable_when(condition: Callable[[Settings], bool]) -> Callable[[F], F]:
    """Let other sites show this view (frame it, load it as an image) while `condition`
    holds for the app's settings (e.g. only while the barometer is public)."""

    def mark(view: F) -> F:
        view.embeddable = condition  # type: ignore[attr-defined]
        return view

    return mark


def _always(_settings: Settings) -> bool:
    return True


def embeddable(view: F) -> F:
    """Let other sites show this view, always."""
    return embeddable_when(_always)(view)


def _is_embeddable() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    condition = getattr(view, "embeddable", None)
    return condition is not None and bool(condition(current_app.config["SETTINGS"]))


def served_over_https(settings: Settings) -> bool:
    return request.is_secure or settings.base_url.startswith("https://")


def _carries_identity() -> bool:
    """Does the request carry a session cookie or a token? (Decided without the database.)"""
    cookie = current_app.config["SESSION_COOKIE_NAME"]
    return cookie in request.cookies or "Authorization" in request.headers


# The headers every response gets unless its view set its own, for views that others may
# not embed and for those they may (see `embeddable`).
ENCLOSED = (
    ("Content-Security-Policy", CSP),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)
OPEN_TO_OTHERS = (
    ("Content-Security-Policy", EMBEDDABLE_CSP),
    ("Cross-Origin-Resource-Policy", "cross-origin"),
)
ALWAYS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Permissions-Policy", PERMISSIONS_POLICY),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)


def add_security_headers(response: Response) -> Response:
    """after_request: a view may set its own value, which is then kept."""
    headers = response.headers
    wanted = [*(OPEN_TO_OTHERS if _is_embeddable() else ENCLOSED), *ALWAYS]
    if served_over_https(current_app.config["SETTINGS"]):
        wanted.append(("Strict-Transport-Security", HSTS))
    if _carries_identity():
        # Pages seen signed in may hold report text: no shared or browser cache keeps them.
        wanted.append(("Cache-Control", "no-store"))
    # One look at what the view set (Headers.setdefault reads them all for each name).
    present = {name.lower() for name in headers.keys()}  # noqa: SIM118 - Headers, not a dict
    for name, value in wanted:
        if name.lower() not in present:
            headers.add(name, value)
    return response


def configure_cookies(app: Flask, settings: Settings) -> None:
    """The session cookie's flags are set in `configure`; the remember-me cookie gets the same."""
    secure = settings.base_url.startswith("https://")
    app.config.update(
        REMEMBER_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        PREFERRED_URL_SCHEME="https" if secure else "http",
    )


def init_security(app: Flask) -> None:
    settings: Settings = app.config["SETTINGS"]
    configure_cookies(app, settings)
    if settings.trusted_proxies:
        # Behind a reverse proxy that terminates TLS: trust its X-Forwarded-* headers
        # (and only from that many hops), so request.is_secure and the client address hold.
        count = settings.trusted_proxies
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=count, x_proto=count, x_host=count, x_port=count
        )
    app.after_request(add_security_headers)
