"""Helpers for the intake tests: the outbox, links in emails, signing in by the form."""

from __future__ import annotations

import html
import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import PASSWORD

LINK = re.compile(r"https?://\S+?(/mot-de-passe/definir/\S+)")


def outbox(app: Flask) -> list[EmailMessage]:
    from alerts.account import wait_background

    wait_background(app)  # a reset email leaves from a thread of its own
    folder: Path = app.config["SETTINGS"].outbox_path
    files = (
        sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns) if folder.exists() else []
    )
    return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in files]  # type: ignore[misc]


def text(response: TestResponse) -> str:
    """The page as a reader sees it (entities decoded)."""
    return html.unescape(response.get_data(as_text=True))


def body_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def link_path(message: EmailMessage) -> str:
    found = LINK.search(body_of(message))
    assert found, body_of(message)
    return found.group(1)


def sign_in(
    client: FlaskClient,
    email: str,
    password: str = PASSWORD,
    address: str = "192.0.2.1",
    **extra: Any,
) -> TestResponse:
    return client.post(
        "/connexion",
        data={"email": email, "password": password, **extra},
        environ_base={"REMOTE_ADDR": address},
    )
