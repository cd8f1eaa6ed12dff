"""The blueprint of the intake pages, and what every page's template needs from it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, request, url_for
from flask_babel import get_locale

from barometre.clients import client_network
from barometre.extensions import login_manager
from barometre.languages import LANGUAGE_NAMES, LANGUAGES

bp = Blueprint("intake", __name__)


@bp.record_once
def _set_login_view(_state: Any) -> None:
    # The app's 401 handler sends browsers here.
    login_manager.login_view = "intake.login"


@bp.app_context_processor
def page_globals() -> dict[str, Any]:
    return {
        "get_locale": lambda: str(get_locale() or "fr"),
        "language_names": {code: LANGUAGE_NAMES[code] for code in LANGUAGES},
    }


def current_language() -> str:
    return str(get_locale() or "fr")


def safe_next(target: str | None, default: str) -> str:
    """A local path to go back to; anything pointing elsewhere gives the default."""
    if not target or len(target) > 2000 or any(ord(c) < 32 for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target:
        return default
    return target


def home_for(user: Any) -> str:
    """Where an account lands once signed in."""
    if user.is_coordinator:
        return url_for("barometre.index")
    return url_for("intake.questionnaire")


def client_address() -> str:
    """The client the sign-in and password-link throttles count (an IPv6 client is its /64)."""
    return client_network(request.remote_addr)
