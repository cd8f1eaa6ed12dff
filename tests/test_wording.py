"""Pages that read as if a person wrote them, in French, Dutch and English (issue 16).

The public pages, the thank-you page and « Mes signalements » are rendered in
the three languages with data that exercises plurals, a red blocked by
diversity, a one-day situation and a committee note; their visible text (and
the text read aloud: alt, title, aria-label) must not hold « (s) », « de
orange », an ISO date, a French space before a colon in Dutch or English, or a
French string of the catalogs or of the référentiel on a Dutch or English page.
"""

from __future__ import annotations

import html
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from flask import Flask, current_app
from flask.testing import FlaskClient
from flask_babel import force_locale
from freezegun import freeze_time
from sqlalchemy import select

from barometre import services
from barometre.extensions import db
from barometre.models import Condition, Establishment, Report, User
from barometre.presentation import date_words
from barometre.seed import seed_referentiel
from tests.conftest import file_report, login, make_user, one_line

TRANSLATIONS = Path(__file__).resolve().parent.parent / "barometre" / "translations"
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
READ_ALOUD = re.compile(r'(?:alt|title|aria-label|data-template)="([^"]*)"')
FRENCH_WORDS = re.compile(r"\b(?:de|la|le|les|des|du|et|ni|sur|aucune?|situations?)\b")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"public_barometer": True}


@pytest.fixture
def backend() -> str:
    return "sqlite"  # wording does not depend on the database; PostgreSQL runs elsewhere


def get(client: FlaskClient, url: str, lang: str) -> str:
    """A page as a browser asking for `lang` gets it (its own app context, as in production)."""
    with client.application.app_context():
        return client.get(url, headers={"Accept-Language": lang}).get_data(as_text=True)


def visible(page: str) -> str:
    """The text a person sees or hears: tags dropped, alt/title/aria-label kept."""
    spoken = " ".join(READ_ALOUD.findall(page))
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    body = re.sub(r"<[^>]+>", " ", body)
    return one_line(html.unescape(body + " " + spoken))


def french_fragments(lang: str) -> set[str]:
    """French strings that have another wording in `lang`: none may show on its pages."""
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    fragments: set[str] = set()
    for message in catalog:
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for source, translated in zip(ids, strings, strict=False):
            if not source or source == translated:
                continue
            for part in re.split(r"%\(\w+\)[sd]|\{n\}", str(source)):
                part = part.strip(" :;,.()·—")
                if len(part) >= 14 and " " in part and FRENCH_WORDS.search(part):
                    fragments.add(part)
    for condition in db.session.scalars(select(Condition)):
        if condition.label(lang) != condition.label_fr:
            fragments.add(condition.label_fr)
        if condition.examples and condition.examples_in(lang) != condition.examples:
            fragments.add(condition.examples)
    return fragments


def scene(author: User, coordinator: User) -> Report:
    """Haren blocked at orange 5 (one offer type); Saint-Gilles with a one-day situation."""
    with freeze_time("2026-11-20 10:00:00"):
        outcome = file_report(author, establishment="saint-gilles", conditions=("ACC-02",))
        services.resolve_situation(
            db.session,
            outcome.new_situations[0].id,
            coordinator,
            "Réglé",
            current_app.config["SETTINGS"],
        )
        db.session.commit()
    with freeze_time("2026-11-25 10:00:00"):
        for code in ("ACC-01", "ACC-02", "ACC-03", "SEC-01"):
            file_report(author, conditions=(code,), offer_types=("individuel",))
    with freeze_time("2026-11-30 10:00:00"):
        last = file_report(author, conditions=("SEC-04", "SEC-01"), offer_types=("individuel",))
    assert last.report is not None
    return last.report


def pages(client: FlaskClient, author: User, report: Report, lang: str) -> dict[str, str]:
    public = {
        url: get(client, url, lang)
        for url in ("/", "/etablissements/haren", "/etablissements/saint-gilles", "/codes")
    }
    login(client, author)
    signed_in = {
        url: get(client, url, lang)
        for url in (
            "/",
            "/etablissements/haren",
            f"/signalement/{report.id}/merci",
            "/mes-signalements",
            "/signalement",
        )
    }
    return {**public, **{"signed-in " + url: page for url, page in signed_in.items()}}


@pytest.mark.parametrize("lang", ["fr", "nl", "en"])
def test_pages_read_right_in_every_language(
    client: FlaskClient, coordinator: User, lang: str
) -> None:
    author = make_user(email="auteur@example.org")
    report = scene(author, coordinator)
    with freeze_time("2026-11-30 12:00:00"):
        rendered = pages(client, author, report, lang)
    french = french_fragments(lang) if lang != "fr" else set()
    for url, page in rendered.items():
        assert f'<html lang="{lang}">' in page, url
        text = visible(page)
        assert "(s)" not in text, url
        assert not re.search(r"\bde [Oo]range", text), url
        assert not ISO_DATE.search(text), (url, ISO_DATE.findall(text))
        if lang != "fr":
            assert not re.search(r"\w :", text), (url, re.findall(r".{30}\w :.{20}", text))
            shown = [fragment for fragment in french if fragment in text]
            assert not shown, (url, shown)


def test_french_grammar_on_the_pages(client: FlaskClient, coordinator: User) -> None:
    author = make_user(email="auteur@example.org")
    report = scene(author, coordinator)
    with freeze_time("2026-11-30 12:00:00"):
        rendered = {url: visible(page) for url, page in pages(client, author, report, "fr").items()}
    haren = rendered["/etablissements/haren"]
    assert "Niveau de la prison de Haren du" in haren
    assert "(symbole en forme de triangle)" in haren
    assert (
        "Rouge en attente\xa0: il faut des situations touchant au moins 2 types d'offre"
        " (manque\xa0: collectif, cellulaire)." in haren
    )
    assert "Types d'offre\xa0: individuel" in haren
    assert "Historique de la prison de Haren" in rendered["/"]
    closed = rendered["/etablissements/saint-gilles"]
    assert "constatée une seule fois, le 20 novembre 2026" in closed
    assert "ouverte du 20 novembre 2026 au 20 novembre 2026" not in closed
    thanks = rendered[f"signed-in /signalement/{report.id}/merci"]
    assert "5 situations problématiques ouvertes" in thanks
    assert (
        "Rouge en attente\xa0: il faut des situations touchant au moins 2 types d'offre"
        " (manque\xa0: collectif, cellulaire)." in thanks
    )
    mine = rendered["signed-in /mes-signalements"]
    assert "Prison de Haren · 30 novembre 2026" in mine
    assert "Envoyé le 30 nov. 2026 à 11:00" in mine  # Brussels time
    assert "(Prison de Haren, 30 novembre 2026)" in mine


def test_committee_note_colon_follows_each_language(client: FlaskClient) -> None:
    haren = db.session.scalar(select(Establishment).where(Establishment.slug == "haren"))
    assert haren is not None
    haren.committee_note = "Suivi en cours"
    db.session.commit()
    said = {lang: visible(get(client, "/", lang)) for lang in ("fr", "nl", "en")}
    assert "Note du comité baromètre\xa0: Suivi en cours" in said["fr"]
    assert "Opmerking van het barometercomité: Suivi en cours" in said["nl"]
    assert "Barometer committee note: Suivi en cours" in said["en"]


@pytest.mark.parametrize(
    ("lang", "question"),
    [
        ("fr", "Quelles conditions n'étaient pas réunies lors de votre visite\xa0?"),
        ("nl", "Aan welke voorwaarden was tijdens uw bezoek niet voldaan?"),
        ("en", "Which conditions were not met during your visit?"),
    ],
)
def test_the_questionnaire_asks_which_conditions_were_not_met(
    client: FlaskClient, lang: str, question: str
) -> None:
    worker = make_user()
    login(client, worker)
    page = visible(get(client, "/signalement", lang))
    assert question in page


def test_examples_are_examples_in_the_page_language(client: FlaskClient) -> None:
    codes = {lang: visible(get(client, "/codes", lang)) for lang in ("fr", "nl", "en")}
    assert "Exemples\xa0: tuberculose (TBC)" in codes["fr"]
    assert "Voorbeelden: tuberculose (tbc)" in codes["nl"]
    assert "Examples: tuberculosis (TB)" in codes["en"]
    # Qualifiers of the norm are in its label, not shown as examples.
    for qualifier in (
        "sauf accord contraire",
        "30 à 45 minutes",
        "gravement contagieuse",
        "(nous)",
    ):
        assert f"Exemples\xa0: {qualifier}" not in codes["fr"]
        assert qualifier in codes["fr"]
    assert "twix et unités" not in codes["nl"] and "twix en leefeenheden" in codes["nl"]


def test_pourquoi_un_barometre_is_on_the_codes_page(client: FlaskClient) -> None:
    expected = {
        "fr": "Pourquoi un baromètre\xa0?",
        "nl": "Waarom een barometer?",
        "en": "Why a barometer?",
    }
    for lang, heading in expected.items():
        page = visible(get(client, "/codes", lang))
        assert heading in page
    fr = visible(get(client, "/codes", "fr"))
    assert "promotion de la santé" in fr and "malmenés" in fr


def test_seed_brings_the_new_wording_to_an_existing_database(app: Any) -> None:
    sec03 = db.session.scalar(select(Condition).where(Condition.code == "SEC-03"))
    assert sec03 is not None
    # As main seeded it: the qualifier shown as an example, no Dutch or English example.
    sec03.label_fr = (
        "Les travailleurs ne sont pas enfermés dans les locaux (sauf si accord contraire)"
    )
    sec03.examples, sec03.examples_nl, sec03.examples_en = "sauf si accord contraire", "", ""
    db.session.commit()
    seed_referentiel(db.session)
    seed_referentiel(db.session)  # idempotent
    db.session.commit()
    db.session.expire_all()
    sec03 = db.session.scalar(select(Condition).where(Condition.code == "SEC-03"))
    sec04 = db.session.scalar(select(Condition).where(Condition.code == "SEC-04"))
    assert sec03 is not None and sec04 is not None
    assert sec03.examples == "" and sec03.label_fr.endswith(
        "dans les locaux, sauf accord contraire"
    )
    assert (sec04.examples_nl, sec04.examples_en) == ("tuberculose (tbc)", "tuberculosis (TB)")


def test_prison_words_are_explained_on_the_codes_page(client: FlaskClient) -> None:
    explained = {
        "fr": ("Les mots du terrain", "«\xa0Twix\xa0» est le nom que le terrain donne"),
        "nl": ("Woorden uit de praktijk", "De psychosociale dienst van de gevangenis"),
        "en": ("Prison words", "The prison's administrative office"),
    }
    for lang, sentences in explained.items():
        page = visible(get(client, "/codes", lang))
        for sentence in sentences:
            assert sentence in page, (lang, sentence)


def test_the_first_of_the_month_is_written_1er_in_french(app: Flask) -> None:
    with app.test_request_context():
        with force_locale("fr"):
            assert date_words(date(2026, 12, 1)) == "1er décembre 2026"
            assert date_words(date(2026, 12, 2)) == "2 décembre 2026"
        with force_locale("nl"):
            assert date_words(date(2026, 12, 1)) == "1 december 2026"


def test_red_pending_is_one_sentence_for_pages_and_emails(app: Flask) -> None:
    """`presentation.red_pending_sentence`: the emails can say it as the pages do (issue 26),
    with the threshold they are given and the offer types' labels in their language."""
    from barometre.presentation import red_pending_sentence

    with app.test_request_context("/"):
        said = red_pending_sentence(("collectif", "cellulaire"), {"collectif": "Collectif"})
        assert said == (
            "Rouge en attente\xa0: il faut des situations touchant au moins 2 types d'offre"
            " (manque\xa0: collectif, cellulaire)."
        )
        with force_locale("nl"):
            said = red_pending_sentence(("cellulaire",), {"cellulaire": "Op cel"}, 3)
        assert said == (
            "Rood in afwachting: er zijn situaties nodig die minstens 3 soorten aanbod treffen"
            " (ontbreekt: op cel)."
        )
        with force_locale("en"):
            said = red_pending_sentence(("cellulaire",), {"cellulaire": "In-cell services"}, 2)
        assert said == (
            "Red pending: situations must affect at least 2 offer types"
            " (missing: in-cell services)."
        )
