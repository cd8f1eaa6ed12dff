"""Establishment names and the committee note in Dutch and English, French the fallback.

The model's fallback, the console's forms (create, rename, note) and their
journal, the command line, the public pages and feeds for a Dutch reader, the
API's `names`, and hostile text refused in every new field.
"""

from __future__ import annotations

import html
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from barometre import referentiel
from barometre.extensions import db
from barometre.models import AuditEntry, Establishment, User
from tests.conftest import file_report, login

HAREN_NL = "Gevangenis van Haren"
HAREN_EN = "Haren Prison"
NOTE_FR = "Vert, avec une alerte sur les temps d'attente"
NOTE_NL = "Groen, met een waarschuwing over de wachttijden"
NOTE_EN = "Green, with a warning about waiting times"
HOSTILE = {"RTL override": "Haren\u202eexe", "control": "Haren\x1b[31m", "NUL": "Ha\x00ren"}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"public_barometer": True}


@pytest.fixture
def console(client: FlaskClient, coordinator: User) -> FlaskClient:
    login(client, coordinator)
    return client


def text(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def get(client: FlaskClient, url: str, lang: str = "fr") -> str:
    """A page as a browser asking for `lang` gets it (its own app context, as in production)."""
    with client.application.app_context():
        return text(client.get(url, headers={"Accept-Language": lang}))


def establishment(slug: str = "haren") -> Establishment:
    db.session.expire_all()
    row = db.session.scalar(select(Establishment).where(Establishment.slug == slug))
    assert row is not None
    return row


def translate_haren(note: bool = True) -> Establishment:
    haren = establishment()
    haren.name_nl, haren.name_en = HAREN_NL, HAREN_EN
    if note:
        haren.committee_note = NOTE_FR
        haren.committee_note_nl, haren.committee_note_en = NOTE_NL, NOTE_EN
    db.session.commit()
    return haren


def without_dutch(row: Establishment) -> None:
    """A prison whose Dutch name was taken away: the French one stands in."""
    row.name_nl = ""
    db.session.commit()


def referentiel_slugs() -> list[str]:
    return [seeded.slug for seeded in referentiel.ESTABLISHMENTS]


def journal() -> list[tuple[str, dict[str, Any]]]:
    rows = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))
    return [(row.action, row.detail) for row in rows]


# --- the model --------------------------------------------------------------------------


def test_names_and_note_fall_back_to_french(app: Flask) -> None:
    row = Establishment(slug="x", name="Prison de X", committee_note=NOTE_FR)
    assert [row.name_in(lang) for lang in ("fr", "nl", "en")] == ["Prison de X"] * 3
    assert row.note_in("nl") == NOTE_FR and row.note_in("en") == NOTE_FR
    row.name_nl, row.committee_note_en = "Gevangenis van X", NOTE_EN
    assert row.names() == {"fr": "Prison de X", "nl": "Gevangenis van X", "en": "Prison de X"}
    assert row.note_in("en") == NOTE_EN and row.note_in("nl") == NOTE_FR
    assert row.name_in("de") == "Prison de X"  # an unknown language: French
    # Without a French note there is no note, in any language.
    row.committee_note = ""
    assert row.note_in("en") == "" and row.note_in("fr") == ""


def test_stored_names_are_read_back(app: Flask) -> None:
    translate_haren()
    haren = establishment()
    assert haren.names() == {"fr": "Prison de Haren", "nl": HAREN_NL, "en": HAREN_EN}
    assert haren.note_in("nl") == NOTE_NL
    without_dutch(establishment("saint-gilles"))
    assert establishment("saint-gilles").name_in("nl") == "Prison de Saint-Gilles"


# --- the seed ---------------------------------------------------------------------------


def test_the_seed_names_every_brussels_prison_in_the_three_languages(app: Flask) -> None:
    rows = {row.slug: row.names() for row in db.session.scalars(select(Establishment))}
    assert rows == {
        "haren": {"fr": "Prison de Haren", "nl": HAREN_NL, "en": HAREN_EN},
        "saint-gilles": {
            "fr": "Prison de Saint-Gilles",
            "nl": "Gevangenis van Sint-Gillis",
            "en": "Saint-Gilles Prison",
        },
    }
    for slug in referentiel_slugs():
        row = establishment(slug)
        assert row.name_nl and row.name_en, slug  # given, not the French fallback


def test_seed_fills_empty_names_and_keeps_what_a_coordinator_typed(app: Flask) -> None:
    # A database seeded before the names existed, where a coordinator named one prison.
    haren, saint_gilles = establishment(), establishment("saint-gilles")
    haren.name_nl, haren.name_en = "", ""
    saint_gilles.name = "Prison de Saint-Gilles (Bruxelles)"
    saint_gilles.name_nl, saint_gilles.name_en = "Gevangenis Sint-Gillis", ""
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["seed"])
    assert result.exit_code == 0, result.output
    assert establishment().names() == {"fr": "Prison de Haren", "nl": HAREN_NL, "en": HAREN_EN}
    assert establishment("saint-gilles").names() == {
        "fr": "Prison de Saint-Gilles (Bruxelles)",  # renamed: kept
        "nl": "Gevangenis Sint-Gillis",  # typed: kept
        "en": "Saint-Gilles Prison",  # empty: filled
    }
    revision = establishment().revision
    again = app.test_cli_runner().invoke(args=["seed"])
    assert again.exit_code == 0, again.output
    assert establishment().revision == revision  # nothing to fill: the row is not rewritten


# --- pages, feeds, badge, API -----------------------------------------------------------


def test_a_dutch_visitor_sees_the_dutch_name_and_note(client: FlaskClient) -> None:
    translate_haren()
    without_dutch(establishment("saint-gilles"))
    dutch = "nl-BE,nl;q=0.9"
    cards = get(client, "/", dutch)
    assert HAREN_NL in cards and NOTE_NL in cards
    assert "Prison de Haren" not in cards and NOTE_FR not in cards
    page = get(client, "/etablissements/haren", dutch)
    assert f"<h1>{HAREN_NL}</h1>" in page and NOTE_NL in page
    assert "Prison de Haren" not in page
    english = get(client, "/etablissements/haren", "en")
    assert f"<h1>{HAREN_EN}</h1>" in english and NOTE_EN in english
    french = get(client, "/", "fr-BE")
    assert "Prison de Haren" in french and NOTE_FR in french and HAREN_NL not in french
    # Saint-Gilles has no Dutch name: the French one, in Dutch pages too.
    assert "Prison de Saint-Gilles" in cards


def test_the_cards_follow_a_new_dutch_name_at_once(console: FlaskClient) -> None:
    assert HAREN_NL in get(console, "/", "nl")
    haren = establishment()
    console.post(
        f"/coordination/etablissements/{haren.id}",
        data={"name": "Prison de Haren", "name_nl": "Gevangenis Haren", "name_en": ""},
    )
    assert "Gevangenis Haren<" in get(console, "/", "nl")


def test_badge_and_feeds_name_the_establishment_in_the_readers_language(
    client: FlaskClient, worker: User
) -> None:
    file_report(worker)  # a level change: an entry in the feeds
    translate_haren(note=False)
    assert HAREN_NL in get(client, "/badge/haren.svg", "nl")
    assert "Prison de Haren" in get(client, "/badge/haren.svg")
    assert HAREN_NL in get(client, "/etablissements/haren/feed.atom", "nl")
    assert f"<title>{HAREN_EN}: " in get(client, "/feed.atom", "en")
    french = get(client, "/etablissements/haren/feed.atom")
    assert "<title>Prison de Haren\xa0: " in french and HAREN_NL not in french


def test_the_api_gives_every_name_and_note_and_keeps_its_fields(client: FlaskClient) -> None:
    translate_haren()
    one = client.get("/api/v1/establishments/haren").get_json()
    assert one["name"] == "Prison de Haren" and one["committee_note"] == NOTE_FR
    assert one["names"] == {"fr": "Prison de Haren", "nl": HAREN_NL, "en": HAREN_EN}
    assert one["committee_notes"] == {"fr": NOTE_FR, "nl": NOTE_NL, "en": NOTE_EN}
    listed = {
        e["slug"]: e for e in client.get("/api/v1/establishments").get_json()["establishments"]
    }
    assert listed["haren"]["names"]["nl"] == HAREN_NL
    assert listed["saint-gilles"]["names"]["nl"] == "Gevangenis van Sint-Gillis"
    assert listed["saint-gilles"]["committee_notes"] is None
    schema = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert "names" in schema["Establishment"]["required"]
    assert set(schema["Establishment"]["properties"]) >= set(one) - {"open_situations"}


# --- the console ------------------------------------------------------------------------


def test_console_create_and_rename_with_dutch_and_english_names(console: FlaskClient) -> None:
    added = console.post(
        "/coordination/etablissements",
        data={"name": "Prison de Forest", "name_nl": "Gevangenis van Vorst", "name_en": ""},
    )
    assert added.status_code == 302
    forest = establishment("forest")  # the slug comes from the French name
    assert forest.names() == {
        "fr": "Prison de Forest",
        "nl": "Gevangenis van Vorst",
        "en": "Prison de Forest",
    }
    form = text(console.get(f"/coordination/etablissements/{forest.id}"))
    assert 'value="Gevangenis van Vorst"' in form
    assert "Nom (néerlandais)" in form and "Nom (anglais)" in form
    # Optional, with an example of each language's name.
    assert "Facultatif, ex. «\xa0Gevangenis van Haren\xa0»" in form
    assert "Facultatif, ex. «\xa0Haren Prison\xa0»" in form
    renamed = console.post(
        f"/coordination/etablissements/{forest.id}",
        data={"name": "Prison de Forest", "name_nl": "", "name_en": "Forest Prison"},
    )
    assert renamed.status_code == 302
    forest = establishment("forest")
    assert (forest.slug, forest.name_nl, forest.name_en) == ("forest", "", "Forest Prison")
    assert journal() == [
        ("establishment.create", {"slug": "forest"}),
        ("establishment.rename", {"slug": "forest", "languages": "nl, en"}),
    ]
    listing = get(console, "/coordination/etablissements", "en")
    assert "Forest Prison" in listing


def test_console_note_in_three_languages_round_trip(console: FlaskClient) -> None:
    haren = establishment()
    url = f"/coordination/etablissements/{haren.id}/note"
    alone = console.post(url, data={"note": "", "note_nl": NOTE_NL, "note_en": ""})
    assert alone.status_code == 422 and "Écrivez aussi la note en français" in text(alone)
    too_long = console.post(url, data={"note": NOTE_FR, "note_nl": "x" * 281, "note_en": ""})
    assert too_long.status_code == 422 and "280 caractères au maximum" in text(too_long)
    done = console.post(url, data={"note": NOTE_FR, "note_nl": NOTE_NL, "note_en": NOTE_EN})
    assert done.status_code == 302
    haren = establishment()
    assert (haren.committee_note_nl, haren.committee_note_en) == (NOTE_NL, NOTE_EN)
    form = text(console.get(f"/coordination/etablissements/{haren.id}"))
    assert NOTE_NL in form and NOTE_EN in form and "Note du comité (néerlandais)" in form
    console.post(url, data={"note": NOTE_FR, "note_nl": NOTE_NL, "note_en": NOTE_EN, "remove": "1"})
    haren = establishment()
    assert (haren.committee_note, haren.committee_note_nl, haren.committee_note_en) == ("", "", "")
    assert journal() == [
        ("establishment.note.set", {"slug": "haren", "languages": "fr, nl, en"}),
        ("establishment.note.remove", {"slug": "haren", "languages": "fr, nl, en"}),
    ]


@pytest.mark.parametrize("bad", HOSTILE.values(), ids=HOSTILE.keys())
def test_console_refuses_hostile_text_in_the_new_fields(console: FlaskClient, bad: str) -> None:
    haren = establishment()
    attempts = [
        ("/coordination/etablissements", {"name": "Prison X", "name_nl": bad}),
        ("/coordination/etablissements", {"name": "Prison X", "name_en": bad}),
        (f"/coordination/etablissements/{haren.id}", {"name": "Prison de Haren", "name_nl": bad}),
        (f"/coordination/etablissements/{haren.id}", {"name": "Prison de Haren", "name_en": bad}),
        (f"/coordination/etablissements/{haren.id}/note", {"note": "Note", "note_nl": bad}),
        (f"/coordination/etablissements/{haren.id}/note", {"note": "Note", "note_en": bad}),
    ]
    for url, data in attempts:
        response = console.post(url, data=data)
        assert response.status_code == 422, (url, data)
        assert "caractère interdit" in text(response), (url, data)
    haren = establishment()
    assert (haren.name_nl, haren.name_en, haren.committee_note) == (HAREN_NL, HAREN_EN, "")
    assert db.session.scalar(select(Establishment).where(Establishment.slug == "x")) is None
    assert journal() == []


def test_a_dutch_name_is_one_line(console: FlaskClient) -> None:
    haren = establishment()
    response = console.post(
        f"/coordination/etablissements/{haren.id}",
        data={"name": "Prison de Haren", "name_nl": "Gevangenis\nvan Haren"},
    )
    assert response.status_code == 422 and "Ce champ tient sur une seule ligne." in text(response)


# --- the command line -------------------------------------------------------------------


def run(app: Flask, *args: str) -> Result:
    result = app.test_cli_runner().invoke(args=["establishments", *args])
    db.session.expire_all()
    return result


def test_cli_creates_and_edits_names_and_note(app: Flask) -> None:
    created = run(app, "create", "Prison de Forest", "--name-nl", "Gevangenis van Vorst")
    assert created.exit_code == 0, created.output
    assert "Établissement ajouté\xa0: Prison de Forest (identifiant forest)" in created.output
    forest = establishment("forest")
    assert (forest.name_nl, forest.name_en) == ("Gevangenis van Vorst", "")
    edited = run(
        app, "edit", "forest", "--name-en", "Forest Prison", "--note", NOTE_FR, "--note-nl", NOTE_NL
    )
    assert edited.exit_code == 0, edited.output
    forest = establishment("forest")
    assert forest.names() == {
        "fr": "Prison de Forest",
        "nl": "Gevangenis van Vorst",  # not given: unchanged
        "en": "Forest Prison",
    }
    assert (forest.note_in("nl"), forest.note_in("en")) == (NOTE_NL, NOTE_FR)
    renamed = run(app, "edit", "forest", "--name", "Prison de Forest (B)", "--name-nl", "")
    assert renamed.exit_code == 0, renamed.output
    forest = establishment("forest")
    assert (forest.slug, forest.name, forest.name_nl) == ("forest", "Prison de Forest (B)", "")
    assert forest.committee_note_nl == NOTE_NL  # the note was not touched
    listed = run(app, "list")
    assert "forest\tPrison de Forest (B)\tPrison de Forest (B)\tForest Prison\tactif" in (
        listed.output
    )
    removed = run(app, "edit", "forest", "--note", "")
    assert removed.exit_code == 0 and establishment("forest").committee_note_nl == ""
    assert [action for action, _ in journal()] == [
        "establishment.create",
        "establishment.rename",
        "establishment.note.set",
        "establishment.rename",
        "establishment.note.remove",
    ]


@pytest.mark.parametrize("option", ["--name-nl", "--name-en", "--note-nl", "--note-en"])
@pytest.mark.parametrize("bad", HOSTILE.values(), ids=HOSTILE.keys())
def test_cli_refuses_hostile_text_with_a_french_error(app: Flask, option: str, bad: str) -> None:
    result = run(app, "edit", "haren", "--note", NOTE_FR, option, bad)
    assert result.exit_code == 1
    assert f"{option} refusé" in result.output and "caractère interdit" in result.output
    haren = establishment()
    assert (haren.name_nl, haren.name_en, haren.committee_note) == (HAREN_NL, HAREN_EN, "")
    if option.startswith("--name"):
        created = run(app, "create", "Prison X", option, bad)
        assert created.exit_code == 1 and "caractère interdit" in created.output
        assert (
            db.session.scalar(select(Establishment).where(Establishment.name == "Prison X")) is None
        )


def test_cli_errors_in_french(app: Flask) -> None:
    unknown = run(app, "edit", "nulle-part", "--name-nl", "X")
    assert unknown.exit_code == 1 and "Établissement inconnu\xa0: nulle-part" in unknown.output
    long = run(app, "create", "Prison X", "--name-en", "x" * 201)
    assert long.exit_code == 1 and "--name-en refusé\xa0: 200 caractères au maximum." in long.output
    alone = run(app, "edit", "haren", "--note-nl", NOTE_NL)
    assert alone.exit_code == 1 and "Écrivez aussi la note en français" in alone.output
    blank = run(app, "edit", "haren", "--note", "", "--note-nl", "  ")  # nothing to translate
    assert blank.exit_code == 0, blank.output
    assert establishment().committee_note_nl == ""
