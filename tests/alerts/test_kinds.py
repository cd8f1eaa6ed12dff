"""Email kinds are one table (`alerts.kinds.EMAIL_KINDS`), and every email is composed from it.

Each row names its template set, who may receive it, its label (the console's
log and the coordinators' warning), and whether it is a list (List-Unsubscribe).
The scenario of the SpamAssassin test gives one notification of every kind.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, current_app
from flask_babel import force_locale
from freezegun import freeze_time
from sqlalchemy import select

from alerts import kinds, trouble
from alerts.kinds import EMAIL_KINDS, compose
from alerts.models import FOLLOW, TROUBLE, Notification, NotificationState
from barometre.extensions import db
from barometre.models import ROLE_COORDINATOR
from barometre.settings import Settings
from tests.conftest import login, make_user

from .test_spamassassin import BASE_URL, MAIL_FROM, START, one_of_each_kind

pytestmark = pytest.mark.committing  # other connections, threads or processes read its commits

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "emails"
PARTS = ("subject.txt", "txt", "html")
COMPOSED_AT = START + timedelta(days=7, minutes=1)
WARNED_AT = START + timedelta(days=9)  # a day of its own: today's warning is not sent yet


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"alert_group_wait": 0, "base_url": BASE_URL, "mail_from": MAIL_FROM}


def test_every_kind_has_its_templates_and_every_template_set_a_kind() -> None:
    sets = {p.name.removesuffix(".subject.txt") for p in TEMPLATES.glob("*.subject.txt")}
    assert sets == {row.template for row in EMAIL_KINDS.values()}
    for row in EMAIL_KINDS.values():
        assert all((TEMPLATES / f"{row.template}.{part}").is_file() for part in PARTS), row


def test_each_email_goes_as_its_row_says(app: Flask) -> None:
    examples = one_of_each_kind()
    assert set(examples) == set(EMAIL_KINDS)
    for row in db.session.scalars(select(Notification)):
        assert row.recipient_kind in EMAIL_KINDS[row.kind].recipients, (row.kind, row.recipient)
    for row in examples.values():
        kind = EMAIL_KINDS[row.kind]
        with freeze_time(COMPOSED_AT):  # a reset's link still alive
            message = compose(db.session, row, settings())
        assert message["Subject"], row.kind
        listed = message["List-Unsubscribe"] is not None
        assert listed == (kind.topic is not None), row.kind
        assert (message["List-Unsubscribe-Post"] is not None) == listed, row.kind
        if listed:
            assert str(message["List-Unsubscribe"]).endswith(f"/{kind.topic}>"), row.kind


def test_the_log_and_the_warning_name_each_kind_by_its_label(app: Flask) -> None:
    examples = one_of_each_kind()
    client = app.test_client()
    login(client, make_user(ROLE_COORDINATOR))
    page = html.unescape(client.get("/coordination/notifications").get_data(as_text=True))
    missing = [str(row.label) for row in EMAIL_KINDS.values() if str(row.label) not in page]
    assert missing == []
    assert kinds.label("inconnu") == "inconnu"
    # The warning lists undelivered emails by the same labels, in its reader's language.
    failed = [row for row in examples.values() if row.kind not in (FOLLOW, TROUBLE)]
    for row in failed:
        row.state, row.warned_at, row.dismissed_at = NotificationState.FAILED, None, None
    db.session.commit()
    with freeze_time(WARNED_AT):
        [warning, *_] = trouble.warn_coordinators(db.session, settings())
        db.session.commit()
        text = compose(db.session, warning, settings()).get_body(("plain",))
    assert text is not None
    body = str(text.get_content())
    with force_locale(warning.language):
        for row in failed:
            label = str(EMAIL_KINDS[row.kind].label)
            assert re.search(rf"n° {row.id} · {re.escape(label)}", body), (label, body)


def settings() -> Settings:
    return current_app.config["SETTINGS"]  # type: ignore[no-any-return]
