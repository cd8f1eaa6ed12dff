"""Issue 26: the weekly digest tells the truth about its week, its count and its ages.

The digest of an ISO week covers the seven Brussels days before it is due
(`digest.covered_days`): its subject, its heading and every line about « the
week » name those days, and its level changes and reports are read from them,
whenever the digest is written (on time, caught up later in the week, retried).
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask, current_app
from freezegun import freeze_time

from alerts import digest
from barometre.extensions import db
from barometre.models import ROLE_COORDINATOR, ROLE_WORKER, User
from barometre.settings import Settings
from tests.conftest import file_report, login, make_user

from .conftest import add_contact
from .support import SmtpServer

pytestmark = pytest.mark.committing  # the SMTP server's thread reads its commits

WEEK = "2026-W49"  # due Monday 30 November 2026 08:00 in Brussels: covers 23-29 November
LAST_DAY = "2026-11-29 22:30:00"  # Sunday 29 November, 23:30 in Brussels: inside
AFTER = "2026-11-29 23:30:00"  # Monday 30 November, 00:30 in Brussels: after it
ON_TIME = "2026-11-30 07:05:00"  # Monday 08:05 in Brussels
CAUGHT_UP = "2026-12-06 18:00:00"  # Sunday 6 December: the run caught up at the week's end
CONTACTS = {"fr": "direction@haren.test", "nl": "directie@haren.test", "en": "office@haren.test"}


@pytest.fixture
def settings_overrides(smtp_server: SmtpServer) -> dict[str, Any]:
    return {"smtp_host": "127.0.0.1", "smtp_port": smtp_server.port, "alert_group_wait": 0}


def settings() -> Settings:
    return current_app.config["SETTINGS"]  # type: ignore[no-any-return]


def worker() -> User:
    return make_user(ROLE_WORKER)


def contacts() -> None:
    for lang, address in CONTACTS.items():
        add_contact(address, language=lang, alerts=False)


def send(moment: str) -> None:
    with freeze_time(moment, real_asyncio=True):
        digest.plan(db.session, settings(), WEEK)
        db.session.commit()


def parts(message: EmailMessage) -> tuple[str, str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    plain = str(text.get_content()).replace("\r", "")
    return str(message["Subject"]), plain, str(html.get_content())


def received(smtp: SmtpServer, lang: str) -> tuple[str, str, str]:
    [message] = smtp.collector.to(CONTACTS[lang])
    return parts(message)


def test_the_covered_week_runs_from_midnight_to_midnight_in_brussels() -> None:
    """Summer time starts on Sunday 29 March 2026: that week lasts 167 hours."""
    week = digest.covered_week("2026-W14", Settings())  # Monday 30 March: 23-29 March
    assert week.before == datetime(2026, 3, 15, 23, 0)  # Monday 16 March, 00:00 CET
    assert week.start == datetime(2026, 3, 22, 23, 0)  # Monday 23 March, 00:00 CET
    assert week.end == datetime(2026, 3, 29, 22, 0)  # Monday 30 March, 00:00 CEST


@pytest.mark.parametrize("moment", [ON_TIME, CAUGHT_UP])
def test_subject_heading_and_changes_name_the_same_days(
    app: Flask, smtp: SmtpServer, moment: str
) -> None:
    contacts()
    author = worker()
    with freeze_time(LAST_DAY):
        file_report(author, conditions=("ACC-01",))  # vert -> orange 1, on the last day
    with freeze_time(AFTER):
        file_report(author, conditions=("ACC-02",))  # orange 1 -> orange 2, the next day
    with freeze_time("2026-12-06 10:00:00"):
        file_report(author, conditions=("SEC-01",))  # orange 2 -> orange 3, 6 December
    smtp.collector.reset()
    send(moment)
    subject, text, html = received(smtp, "fr")
    days = "du 23 au 29 novembre 2026"
    assert subject == f"Baromètre\xa0: synthèse hebdomadaire {days}"
    assert f"Voici la synthèse hebdomadaire du baromètre {days} pour votre établissement." in text
    assert f">Synthèse hebdomadaire {days}</h1>" in html
    assert f"Changements de niveau {days}\xa0:\n- 29 nov. 2026 à 23:30\xa0: vert → orange 1" in text
    assert "30 nov. 2026" not in text and "6 déc. 2026" not in text  # after the week
    assert f"1 signalement {days} (semaine précédente\xa0: 0)." in text
    assert "cette semaine" not in text and "cette semaine" not in html
    assert "29 nov. 2026 à 23:30" in html and "30 nov. 2026" not in html
    nl_subject, nl_text, _ = received(smtp, "nl")
    assert nl_subject == "Barometer: weekoverzicht van 23 tot en met 29 november 2026"
    assert "Niveauwijzigingen van 23 tot en met 29 november 2026:\n" in nl_text
    en_subject, en_text, _ = received(smtp, "en")
    assert en_subject == "Barometer: weekly digest, 23 to 29 November 2026"
    assert "Level changes, 23 to 29 November 2026:\n" in en_text


def test_a_week_without_change_says_so_with_its_days(app: Flask, smtp: SmtpServer) -> None:
    contacts()
    with freeze_time(AFTER):
        file_report(worker(), conditions=("ACC-01",))  # after the week: not in it
    smtp.collector.reset()
    send(ON_TIME)
    _, text, html = received(smtp, "fr")
    assert "Aucun changement de niveau du 23 au 29 novembre 2026." in text
    assert "0 signalement du 23 au 29 novembre 2026 (semaine précédente\xa0: 0)." in text
    assert "Aucun changement de niveau du 23 au 29 novembre 2026." in html


@pytest.mark.parametrize(
    ("lang", "intro", "heading", "plural"),
    [
        (
            "fr",
            "Voici la synthèse hebdomadaire du baromètre du 23 au 29 novembre 2026"
            " pour votre établissement.",
            "Votre établissement.",
            "établissements",
        ),
        (
            "nl",
            "Hier is het weekoverzicht van de barometer van 23 tot en met 29 november 2026"
            " voor uw gevangenis.",
            "Uw gevangenis.",
            "gevangenissen",
        ),
        (
            "en",
            "Here is the barometer's weekly digest, 23 to 29 November 2026, for your prison.",
            "Your prison.",
            "prisons",
        ),
    ],
)
def test_a_one_establishment_digest_speaks_in_the_singular(
    app: Flask, smtp: SmtpServer, lang: str, intro: str, heading: str, plural: str
) -> None:
    contacts()
    send(ON_TIME)
    _, text, html = received(smtp, lang)
    assert intro in text
    assert f">{heading}</p>" in html
    assert plural not in text.lower() and plural not in html.lower()


def test_a_two_establishment_contact_reads_the_plural(app: Flask, smtp: SmtpServer) -> None:
    add_contact("direction@haren.test", language="fr", alerts=False)
    add_contact("direction@haren.test", slug="saint-gilles", language="fr", alerts=False)
    send(ON_TIME)
    _, text, html = received(smtp, "fr")
    assert (
        "Voici la synthèse hebdomadaire du baromètre du 23 au 29 novembre 2026"
        " pour vos 2 établissements, du plus préoccupant au moins préoccupant." in text
    )
    assert ">Vos 2 établissements, du plus préoccupant au moins préoccupant.</p>" in html


def test_each_open_situation_says_how_long_it_has_been_open(app: Flask, smtp: SmtpServer) -> None:
    contacts()
    author = worker()
    with freeze_time("2026-11-18 10:00:00"):  # Wednesday 18 November: 12 days before
        file_report(author, conditions=("ACC-01",))
    with freeze_time("2026-11-28 22:30:00"):  # Saturday 28 November, 23:30 in Brussels
        file_report(author, conditions=("SEC-01",))
    with freeze_time("2026-11-29 23:30:00"):  # Monday 00:30 in Brussels: the digest's day
        file_report(author, conditions=("OFF-01",))
    smtp.collector.reset()
    send(ON_TIME)
    _, text, html = received(smtp, "fr")
    lines = [line for line in text.splitlines() if line.startswith("- ") and "ouverte" in line]
    assert [line.rsplit(", ", 1)[1] for line in lines] == [
        "ouverte depuis 12 jours",
        "ouverte depuis 2 jours",
        "ouverte aujourd'hui",
    ]
    assert "ouverte depuis 12 jours" in html and "ouverte aujourd&#39;hui" in html
    _, nl_text, _ = received(smtp, "nl")
    assert "open sinds 12 dagen" in nl_text and "vandaag geopend" in nl_text
    _, en_text, _ = received(smtp, "en")
    assert "open for 12 days" in en_text and "opened today" in en_text


def test_a_situation_open_for_one_day_is_in_the_singular(app: Flask, smtp: SmtpServer) -> None:
    contacts()
    with freeze_time("2026-11-29 10:00:00"):  # Sunday: one day before Monday's digest
        file_report(worker(), conditions=("ACC-01",))
    smtp.collector.reset()
    send(ON_TIME)
    assert ", ouverte depuis 1 jour\n" in received(smtp, "fr")[1]
    assert ", open sinds 1 dag\n" in received(smtp, "nl")[1]
    assert ", open for 1 day\n" in received(smtp, "en")[1]


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("fr", "Synthèse hebdomadaire du 23 au 29 novembre 2026"),
        ("nl", "Weekoverzicht van 23 tot en met 29 november 2026"),
        ("en", "Weekly digest, 23 to 29 November 2026"),
    ],
)
def test_the_notification_log_names_the_digests_week_in_words(
    app: Flask, smtp: SmtpServer, lang: str, words: str
) -> None:
    contacts()
    send(ON_TIME)
    coordinator = make_user(ROLE_COORDINATOR)
    coordinator.language = lang
    db.session.commit()
    client = app.test_client()
    login(client, coordinator)
    page = client.get("/coordination/notifications", headers={"Accept-Language": lang})
    html = page.get_data(as_text=True)
    assert words in html
    assert WEEK not in html and "W49" not in html
