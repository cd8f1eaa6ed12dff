"""Issue 28: production that writes its emails to a folder says so on every console page."""

from __future__ import annotations

import html
from typing import Any

import pytest
from flask.testing import FlaskClient

from barometre.models import User
from tests.conftest import login


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # REQUIRE_TWO_STEP is `coordinators` by default in production: not this test's subject.
    return {
        "env": "production",
        "mail_backend": "outbox",
        "smtp_host": "smtp.example.org",
        "require_two_step": "none",
    }


def test_the_console_says_no_email_leaves(client: FlaskClient, coordinator: User) -> None:
    login(client, coordinator)
    page = html.unescape(client.get("/coordination/").get_data(as_text=True))
    assert "Les courriels sont écrits dans un dossier (MAIL_BACKEND=outbox)" in page
    assert "réglez SMTP_HOST pour qu'ils partent." in page
