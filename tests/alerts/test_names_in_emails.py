"""Alerts and digests name the establishment, and give its note, in the recipient's language.

French stays the fallback: a language without a name of its own gets the French one.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import pytest
from flask import current_app
from sqlalchemy import select

from alerts import digest, emails
from alerts.models import AlertEvent
from barometre.extensions import db
from barometre.settings import Settings
from tests.conftest import file_report

from .conftest import establishment
from .support import SmtpServer

pytestmark = pytest.mark.committing  # other connections, threads or processes read its commits

HAREN_NL = "Gevangenis van Haren"
NOTE_FR = "Vert, avec une alerte sur les temps d'attente"
NOTE_NL = "Groen, met een waarschuwing over de wachttijden"


@pytest.fixture
def settings_overrides(smtp_server: SmtpServer) -> dict[str, Any]:
    return {"smtp_host": "127.0.0.1", "smtp_port": smtp_server.port, "alert_group_wait": 0}


def settings() -> Settings:
    return current_app.config["SETTINGS"]  # type: ignore[no-any-return]


def translate_haren() -> None:
    haren = establishment("haren")
    haren.name_nl = HAREN_NL
    haren.committee_note, haren.committee_note_nl = NOTE_FR, NOTE_NL
    db.session.commit()


def said(message: EmailMessage) -> str:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return f"{message['Subject']}\n{text.get_content()}\n{html.get_content()}"


def test_a_dutch_contacts_rise_names_haren_in_dutch(
    people: dict[str, Any], smtp: SmtpServer
) -> None:
    translate_haren()
    file_report(people["worker"], conditions=("ACC-01",))
    [dutch] = smtp.collector.to(people["nl"])
    assert HAREN_NL in said(dutch) and "Prison de Haren" not in said(dutch)
    [coordinator_nl] = smtp.collector.to(people["coordinator_nl"].email)
    assert HAREN_NL in said(coordinator_nl)
    [french] = smtp.collector.to(people["fr"])
    assert "Prison de Haren" in said(french) and HAREN_NL not in said(french)
    # The context the templates are given: the name and note in each language.
    event = db.session.scalar(select(AlertEvent))
    assert event is not None
    kinds = emails.offer_types_by_code(db.session)
    for lang, name, note in [
        ("nl", HAREN_NL, NOTE_NL),
        ("en", "Haren Prison", NOTE_FR),  # the seeded English name; no English note: French
        ("fr", "Prison de Haren", NOTE_FR),
    ]:
        context = emails.event_context(db.session, event, lang, kinds, settings(), True)
        assert (context["establishment"], context["note"]) == (name, note)


def test_a_dutch_contacts_digest_names_haren_and_gives_its_note_in_dutch(
    people: dict[str, Any], smtp: SmtpServer
) -> None:
    translate_haren()
    file_report(people["worker"], conditions=("ACC-01",))
    smtp.collector.reset()
    digest.plan(db.session, settings(), "2026-W10")
    db.session.commit()
    [dutch] = smtp.collector.to(people["nl"])
    assert HAREN_NL in said(dutch) and NOTE_NL in said(dutch)
    assert NOTE_FR not in said(dutch)
    [french] = smtp.collector.to(people["fr"])
    assert "Prison de Haren" in said(french) and NOTE_FR in said(french)
    assert HAREN_NL not in said(french)


def test_the_seeded_dutch_name_reaches_a_dutch_contact_untouched(
    people: dict[str, Any], smtp: SmtpServer
) -> None:
    """Nobody typed a name: the seed's own « Gevangenis van Haren » is in the Dutch email."""
    file_report(people["worker"], conditions=("ACC-01",))
    [dutch] = smtp.collector.to(people["nl"])
    assert dutch["Subject"] == "Barometer: Gevangenis van Haren gaat naar code oranje 1 op 5"
    assert "Prison de Haren" not in said(dutch)
    [french] = smtp.collector.to(people["fr"])
    assert "Prison de Haren" in said(french) and HAREN_NL not in said(french)
