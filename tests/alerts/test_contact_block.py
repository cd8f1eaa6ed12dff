"""The end of an alert says what to do (issue 26).

An establishment's contact reads since when each open situation is open and was
last confirmed, what the committee asks (its own sentence, or the default) and
whom at Fidex to answer (the establishment's own contact, or the FIDEX_CONTACT_*
settings); a member service or a follower reads only whom at Fidex to write to;
a coordinator, who is Fidex, reads none of it. In French, Dutch and English, in
the text and the HTML of every alert kind.
"""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from html import unescape
from typing import Any

import pytest
from flask import Flask
from freezegun import freeze_time
from sqlalchemy import select

from alerts.kinds import compose
from alerts.models import TO_CONTACT, TO_COORDINATOR, TO_FOLLOWER, TO_SERVICE, Notification
from barometre.extensions import db
from barometre.models import Establishment

from .test_spamassassin import BASE_URL, MAIL_FROM, START, one_of_each_kind, settings

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

ALERT_KINDS = ("rise", "red", "green", "lifted", "reminder")
LANGS = ("fr", "nl", "en")
NAME, EMAIL, PHONE = "Aline Verhaegen", "aline@fidex.be", "+32 2 512 00 00"
# What a contact is asked when the committee wrote nothing, in each language.
ASKED = {
    "fr": "Le comité vous demande de faire le nécessaire",
    "nl": "Het comité vraagt u het nodige te doen",
    "en": "The committee asks you to do what is needed",
}
THANKED = {
    "fr": "Le comité ne vous demande rien de plus pour l'instant.",
    "nl": "Het comité vraagt u voorlopig niets meer.",
    "en": "The committee asks nothing more of you for now.",
}
ANSWER = {"fr": "Répondre à Fidex", "nl": "Fidex antwoorden", "en": "Reply to Fidex"}
WRITE = {"fr": "Contact à Fidex", "nl": "Contactpersoon bij Fidex", "en": "Contact at Fidex"}
SINCE = {
    "fr": "ouverte le 2 mars 2026",
    "nl": "geopend op 2 maart 2026",
    "en": "opened on 2 March 2026",
}


BASE = {"alert_group_wait": 0, "base_url": BASE_URL, "mail_from": MAIL_FROM}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        **BASE,
        "fidex_contact_name": NAME,
        "fidex_contact_email": EMAIL,
        "fidex_contact_phone": PHONE,
    }


def composed_as(row: Notification, lang: str, kind: str = TO_CONTACT) -> tuple[str, str]:
    """The text and the HTML (tags removed) this row's email has for `lang` and `kind`."""
    before = row.language, row.recipient_kind
    try:
        row.language, row.recipient_kind = lang, kind
        with freeze_time(START + timedelta(days=7, minutes=1)):
            message = compose(db.session, row, settings())
    finally:
        row.language, row.recipient_kind = before
    return bodies(message)


def bodies(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    words = unescape(str(html.get_content()))
    return str(text.get_content()), " ".join(words.replace("<br>", " ").split())


def contact_rows() -> dict[str, Notification]:
    one_of_each_kind()
    rows = db.session.scalars(
        select(Notification).where(Notification.recipient_kind == TO_CONTACT)
    ).all()
    found = {row.kind: row for row in rows if row.kind in ALERT_KINDS}
    assert set(found) == set(ALERT_KINDS)
    return found


def haren() -> Establishment:
    return db.session.scalars(select(Establishment).where(Establishment.slug == "haren")).one()


def test_every_alert_to_a_contact_ends_with_the_request_and_whom_to_answer(app: Flask) -> None:
    for kind, row in contact_rows().items():
        for lang in LANGS:
            for body in composed_as(row, lang):
                what = f"{kind}/{lang}"
                assert NAME in body and EMAIL in body and PHONE in body, what
                assert ANSWER[lang] in body, what
                expected = THANKED if kind == "green" else ASKED
                assert expected[lang] in body, what
                # The block comes at the end: after the situations, before the footer.
                assert body.index(ANSWER[lang]) > body.index(expected[lang]), what
                if kind != "green":
                    assert SINCE[lang] in body, what


def test_the_committees_own_request_and_contact_replace_the_defaults(app: Flask) -> None:
    rows = contact_rows()
    place = haren()
    place.committee_request = "Merci de rouvrir les parloirs avant vendredi."
    place.committee_request_nl = "Gelieve de bezoekzalen tegen vrijdag te heropenen."
    place.fidex_contact_name, place.fidex_contact_phone = "Bruno Fidex", "02/123.45.67"
    db.session.commit()
    own = {
        "fr": place.committee_request,
        "nl": place.committee_request_nl,
        "en": place.committee_request,  # no English request: the French one
    }
    for kind, row in rows.items():
        for lang in LANGS:
            for body in composed_as(row, lang):
                what = f"{kind}/{lang}"
                assert own[lang] in body and ASKED[lang] not in body, what
                assert "Bruno Fidex" in body and "02/123.45.67" in body, what
                # The establishment's contact replaces the default as a whole.
                assert NAME not in body and EMAIL not in body and PHONE not in body, what


@pytest.mark.parametrize("kind", [TO_SERVICE, TO_FOLLOWER])
def test_services_and_followers_get_whom_to_write_to_and_nothing_asked(
    app: Flask, kind: str
) -> None:
    for alert, row in contact_rows().items():
        for lang in LANGS:
            for body in composed_as(row, lang, kind):
                what = f"{alert}/{lang}"
                assert WRITE[lang] in body and NAME in body and PHONE in body, what
                assert ANSWER[lang] not in body, what
                assert ASKED[lang] not in body and THANKED[lang] not in body, what


def test_coordinators_are_fidex_and_get_none_of_it(app: Flask) -> None:
    for alert, row in contact_rows().items():
        for body in composed_as(row, "fr", TO_COORDINATOR):
            assert NAME not in body and WRITE["fr"] not in body, alert
            assert ASKED["fr"] not in body, alert


class TestWithoutAnyFidexContact:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return BASE

    def test_a_contact_is_still_asked_and_nobody_is_named(self, app: Flask) -> None:
        rows = contact_rows()
        for lang in LANGS:
            text, html = composed_as(rows["rise"], lang)
            for body in (text, html):
                assert ASKED[lang] in body and ANSWER[lang] not in body, lang
            for kind in (TO_SERVICE, TO_FOLLOWER):
                for body in composed_as(rows["rise"], lang, kind):
                    assert WRITE[lang] not in body, (kind, lang)
