"""Every email kind, to recipients in French, Dutch and English, reads as a person wrote it.

Real data on SQLite, the real delivery path and a real SMTP server: a prison
rises, goes red, falls out of red and back to green; another stops at orange 5
for want of diversity; the weekly digest goes out; an alert bounces and the
coordinators are warned. Each email received is then read for what a machine
would write: « (s) », « de orange », an ISO date, French in a Dutch or English
email, and any string of the emails without its Dutch or English translation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.pofile import read_po
from flask import Flask, current_app
from freezegun import freeze_time
from jinja2.ext import babel_extract
from sqlalchemy import select

from alerts import digest, trouble
from alerts.models import AlertEvent
from barometre import services
from barometre.extensions import db
from barometre.models import ROLE_COORDINATOR, ROLE_WORKER, MemberService, Situation
from barometre.settings import Settings
from tests.conftest import file_report, login

from .conftest import add_contact, establishment, user
from .support import SmtpServer
from .test_spamassassin import KINDS as SCORED_KINDS
from .test_spamassassin import composed, one_of_each_kind

ROOT = Path(__file__).resolve().parents[2]
LANGS = ("fr", "nl", "en")
KINDS = ("rise", "red", "lifted", "green", "digest", "trouble")
OTHER_KINDS = ("reminder", "invite", "reset", "follow", "device")
IND, COL = "individuel", "collectif"
FIRST = ("ACC-01", "ACC-02", "SEC-01")
LAST = ("OFF-01", "SEC-02")
BOUNCING = "boite-inconnue@haren.test"
FILED_AT = "2026-11-26 10:00:00"  # a Thursday
DIGEST_AT = "2026-11-30 08:30:00"  # Monday 09:30 in Brussels: the digest of 23-29 November

# What gives each kind away in its subject, in each language.
SUBJECT_KINDS = {
    "fr": {
        "lifted": "rouge est levé",
        "red": "code rouge à",
        "green": "revient au vert",
        "digest": "synthèse",
        "trouble": "non remis",
        "rise": "passe en",
    },
    "nl": {
        "lifted": "opgeheven",
        "red": "code rood in",
        "green": "opnieuw groen",
        "digest": "weekoverzicht",
        "trouble": "niet afgeleverd",
        "rise": "gaat naar",
    },
    "en": {
        "lifted": "lifted",
        "red": "code red at",
        "green": "back to green",
        "digest": "weekly digest",
        "trouble": "not delivered",
        "rise": "moves to",
    },
}

# Words a Dutch or English reader should never meet in their email.
FRENCH_ONLY = (
    "établissement",
    "signalement",
    "semaine",
    "bonjour",
    "situation problématique",
    "situations problématiques",
    "type d'offre",
    "types d'offre",
    "courriel",
    "synthèse",
    "lien personnel",
    "désabonner",
    "baromètre",
    "rouge",
    "vert",
    "sur 5",
    "offre",
    "niveau précédent",
    "changements de niveau",
)
# « niveau » is Dutch too (« het niveau »): French only in English.
FRENCH_ONLY_IN = {"nl": FRENCH_ONLY, "en": (*FRENCH_ONLY, "niveau")}
PLURAL_HACK = re.compile(r"\w\((?:s|e|es|en)\)")
# « de orange », « de a… »: French elides « de » before a vowel.
MISSING_ELISION = re.compile(r"\bde (?:orange|[aeiouyéèêàâ])", re.IGNORECASE)
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
URL = re.compile(r"https?://[^\s\"'<>]+")
TAG = re.compile(r"<[^>]+>")


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def settings_overrides(smtp_server: SmtpServer) -> dict[str, Any]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_server.port,
        "alert_group_wait": 0,
        "mail_from": "barometre@fidex.test",
        "public_barometer": False,
    }


def settings() -> Settings:
    return current_app.config["SETTINGS"]  # type: ignore[no-any-return]


def first_open(slug: str = "haren") -> Situation:
    query = (
        select(Situation)
        .join(Situation.establishment)
        .where(Situation.status == "open")
        .order_by(Situation.id)
    )
    return next(s for s in db.session.scalars(query) if s.establishment.slug == slug)


def resolve_one(coordinator: Any) -> None:
    services.resolve_situation(db.session, first_open().id, coordinator, "ok", settings())
    db.session.commit()


Received = dict[str, dict[str, list[EmailMessage]]]
PLAYED: list[Received] = []  # the story's emails, played once a process: the tests only read them


@pytest.fixture
def received(request: pytest.FixtureRequest) -> Received:
    """{lang: {kind: the emails a contact and a coordinator in `lang` received}}."""
    if not PLAYED:
        request.getfixturevalue("app")
        PLAYED.append(play(request.getfixturevalue("smtp_server")))
    return PLAYED[0]


def play(smtp_server: SmtpServer) -> Received:
    """A prison's year in an afternoon (frozen time), every email kind in every language."""
    smtp_server.collector.reset()
    service = MemberService(name="Service des tests", alert_emails="alertes@service.test")
    db.session.add(service)
    worker = user("travailleur@example.org", ROLE_WORKER, service)
    coordinators = {
        lang: user(f"coord-{lang}@fidex.test", ROLE_COORDINATOR, lang=lang) for lang in LANGS
    }
    contacts = {
        lang: add_contact(f"direction-{lang}@haren.test", language=lang).email for lang in LANGS
    }
    add_contact(BOUNCING)
    with freeze_time(FILED_AT, real_asyncio=True) as frozen:
        file_report(worker, conditions=("ACC-01",), offer_types=(IND,))  # rise: orange 1
        frozen.tick(600)
        file_report(worker, conditions=FIRST[1:], offer_types=(IND,))  # rise: orange 3
        frozen.tick(600)
        smtp_server.collector.refuse_once(BOUNCING, "550 5.1.1 Boîte inconnue")
        file_report(worker, conditions=LAST, offer_types=(COL,))  # red
        frozen.tick(600)
        resolve_one(coordinators["fr"])  # lifted: orange 4
        frozen.tick(600)
        for _ in range(4):
            resolve_one(coordinators["fr"])  # ... then green
            frozen.tick(600)
        # Saint-Gilles stops at orange 5: red waits for a second offer type.
        file_report(
            worker, establishment="saint-gilles", conditions=FIRST + LAST, offer_types=(IND,)
        )
        frozen.tick(600)
        # The red to BOUNCING failed for good: the coordinators are warned.
        trouble.warn_coordinators(db.session, settings())
        db.session.commit()
    with freeze_time(DIGEST_AT, real_asyncio=True):
        digest.plan(db.session, settings(), "2026-W49")
        db.session.commit()
    assert db.session.scalars(select(AlertEvent.kind)).all()
    found: dict[str, dict[str, list[EmailMessage]]] = {}
    for lang in LANGS:
        mails = smtp_server.collector.to(coordinators[lang].email)
        mails += smtp_server.collector.to(contacts[lang])
        found[lang] = {}
        for mail in mails:
            subject = str(mail["Subject"])
            kind = next((k for k, w in SUBJECT_KINDS[lang].items() if w in subject), subject)
            found[lang].setdefault(kind, []).append(mail)
    return found


def every(received: Received, lang: str) -> Iterator[tuple[str, str, str]]:
    """(kind, part, words) of every email received in `lang`."""
    for kind, messages in received[lang].items():
        for message in messages:
            for part, body in bodies(message).items():
                yield kind, part, body


def bodies(message: EmailMessage) -> dict[str, str]:
    """Subject, text and HTML as a person reads them: links and tags out."""
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    readable = TAG.sub(" ", str(html.get_content()))
    return {
        "subject": str(message["Subject"]),
        "text": URL.sub("", str(text.get_content())),
        "html": URL.sub("", readable.replace("&#39;", "'").replace("&amp;", "&")),
    }


def test_every_kind_reaches_every_language(received: Received) -> None:
    for lang in LANGS:
        assert sorted(received[lang]) == sorted(KINDS), lang
        for messages in received[lang].values():
            assert all(m["Content-Language"] == lang for m in messages)


@pytest.mark.parametrize("lang", LANGS)
def test_no_plural_written_with_parentheses(received: Received, lang: str) -> None:
    for kind, part, body in every(received, lang):
        assert not PLURAL_HACK.search(body), (lang, kind, part, PLURAL_HACK.findall(body))


def test_french_elides_de_before_a_vowel(received: Received) -> None:
    texts = []
    for kind, part, body in every(received, "fr"):
        assert not MISSING_ELISION.findall(body), (kind, part, MISSING_ELISION.findall(body))
        texts.append(body)
    assert any("est passé d'orange 1 sur 5 à orange 3 sur 5" in t for t in texts)
    assert any("est passé de rouge à orange 4 sur 5" in t for t in texts)


@pytest.mark.parametrize("lang", LANGS)
def test_no_iso_date_is_shown(received: Received, lang: str) -> None:
    for kind, part, body in every(received, lang):
        assert not ISO_DATE.search(body), (lang, kind, part, ISO_DATE.findall(body))


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_no_french_in_dutch_or_english_emails(received: Received, lang: str) -> None:
    french = FRENCH_ONLY_IN[lang]
    for kind, part, body in every(received, lang):
        words = body.lower()
        found = [w for w in french if re.search(rf"(?<!\w){re.escape(w)}(?!\w)", words)]
        assert not found, (lang, kind, part, found)


def test_the_digest_subject_names_the_week_in_each_language(
    received: Received,
) -> None:
    subjects = {lang: str(received[lang]["digest"][0]["Subject"]) for lang in LANGS}
    assert subjects["fr"] == "Baromètre\xa0: synthèse hebdomadaire du 23 au 29 novembre 2026"
    assert subjects["nl"] == "Barometer: weekoverzicht van 23 tot en met 29 november 2026"
    assert subjects["en"] == "Barometer: weekly digest, 23 to 29 November 2026"


def test_french_reads_as_french(received: Received) -> None:
    rise = bodies(received["fr"]["rise"][0])
    assert rise["subject"] == "Baromètre\xa0: la prison de Haren passe en code orange 1 sur 5"
    assert "Le niveau de la prison de Haren est passé de vert à orange 1 sur 5." in rise["text"]
    red = bodies(received["fr"]["red"][0])
    assert "La prison de Haren est en code rouge" in red["text"]
    assert "(individuel, collectif)" in red["text"]
    summary = bodies(received["fr"]["digest"][0])["text"]  # the coordinator's: every prison
    assert "Saint-Gilles" in summary
    assert (
        "Rouge en attente\xa0: il faut des situations touchant au moins 2 types d'offre"
        " (manque\xa0: collectif, cellulaire)." in summary
    )


def test_an_english_contact_from_the_cli_or_the_console_gets_english_alerts(
    app: Flask, smtp: SmtpServer
) -> None:
    runner = app.test_cli_runner()
    added = runner.invoke(args=["contacts", "add", "haren", "cli-en@haren.test", "--lang", "en"])
    assert added.exit_code == 0, added.output
    client = app.test_client()
    login(client, user("coord@fidex.test", ROLE_COORDINATOR))
    haren = establishment("haren")
    form = {"new-email": "console-en@haren.test", "new-language": "en", "new-alerts": "y"}
    page = client.post(f"/coordination/etablissements/{haren.id}/contacts", data=form)
    assert page.status_code == 302, page.get_data(as_text=True)
    file_report(conditions=("ACC-01",), offer_types=(IND,))
    for address in ("cli-en@haren.test", "console-en@haren.test"):
        [message] = smtp.collector.to(address)
        assert message["Content-Language"] == "en"
        assert message["Subject"] == "Barometer: Haren Prison moves to code orange 1 of 5"
        assert "Hello," in bodies(message)["text"]


# --- every string of the emails is translated -----------------------------------------------

EMAIL_TEMPLATES = sorted((ROOT / "templates" / "emails").glob("*.*"))
# The Python modules whose words go into the emails' context.
EMAIL_CODE = [
    ROOT / "alerts" / "emails.py",
    ROOT / "alerts" / "kinds.py",
    ROOT / "alerts" / "digest.py",
    ROOT / "alerts" / "trouble.py",
    ROOT / "alerts" / "reminders.py",
    ROOT / "alerts" / "follow" / "emails.py",
    ROOT / "alerts" / "account_emails.py",
    ROOT / "barometre" / "presentation.py",
    ROOT / "barometre" / "gauge.py",
]
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}


def email_msgids() -> set[str]:
    found: set[str] = set()
    for path in EMAIL_TEMPLATES:
        for _, message, _, _ in extract_from_file(babel_extract, str(path), keywords=KEYWORDS):
            found.add(message[0] if isinstance(message, tuple) else message)
    for path in EMAIL_CODE:
        for _, message, _, _ in extract_from_file("python", str(path), keywords=KEYWORDS):
            found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_the_email_templates_are_one_set_for_every_language() -> None:
    assert not (ROOT / "templates" / "emails" / "fr").exists()
    assert not (ROOT / "templates" / "emails" / "nl").exists()
    for kind in KINDS:
        for ext in ("subject.txt", "txt", "html"):
            assert (ROOT / "templates" / "emails" / f"{kind}.{ext}").is_file(), (kind, ext)


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_every_string_of_the_emails_is_translated(lang: str) -> None:
    msgids = email_msgids()
    assert "Bonjour," in msgids
    path = ROOT / "barometre" / "translations" / lang / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle)
    missing = []
    for msgid in sorted(msgids):
        message = catalog.get(msgid)
        strings = message.string if message is not None else ""
        forms = strings if isinstance(strings, (list, tuple)) else (strings,)
        if message is None or message.fuzzy or not all(forms):
            missing.append(msgid)
    assert not missing, f"{lang}: email strings without a translation: {missing}"


# --- the other kinds: reminder, invitation, password reset, follow confirmation, new device -


@pytest.mark.parametrize("lang", LANGS)
def test_every_other_kind_reads_right_in_each_language(
    app: Flask, smtp_server: SmtpServer, lang: str
) -> None:
    """The kinds the scenario above does not live through, composed as the product sends
    them (the SpamAssassin test's week: one notification of every kind), then read with the
    same eyes."""
    rows = one_of_each_kind()
    assert set(rows) == set(SCORED_KINDS)
    french = FRENCH_ONLY_IN.get(lang, ())
    for kind in OTHER_KINDS:
        message = composed(rows[kind], lang)
        assert message["Content-Language"] == lang, kind
        for part, body in bodies(message).items():
            where = (lang, kind, part)
            assert not PLURAL_HACK.search(body), (*where, PLURAL_HACK.findall(body))
            assert not ISO_DATE.search(body), (*where, ISO_DATE.findall(body))
            if lang == "fr":
                assert not MISSING_ELISION.findall(body), (*where, MISSING_ELISION.findall(body))
            words = body.lower()
            found = [w for w in french if re.search(rf"(?<!\w){re.escape(w)}(?!\w)", words)]
            assert not found, (*where, found)
