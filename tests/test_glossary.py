"""The glossary (docs/glossary.md) is the law of the words: the app says what it says.

The tables marked « (checked) » are parsed here; each cell is compared with what
the application says in that language: the seeded référentiel (database and
`barometre.referentiel`) and the catalogs through Flask-Babel.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask_babel import force_locale
from sqlalchemy import select

from barometre import referentiel
from barometre.extensions import db
from barometre.gauge import SHAPES, level_words
from barometre.levels import ROUGE, VERT
from barometre.models import Category, OfferType
from barometre.presentation import OFFER_TYPE_OFFERS

GLOSSARY = Path(__file__).resolve().parent.parent / "docs" / "glossary.md"
LANGS = ("fr", "nl", "en")


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the words do not depend on the database


def checked_rows(text: str) -> dict[str, dict[str, str]]:
    """Key -> {lang: word} for every row of the tables under a « (checked) » heading."""
    rows: dict[str, dict[str, str]] = {}
    checked = False
    for line in text.splitlines():
        if line.startswith("#"):
            checked = "(checked)" in line
        elif checked and re.match(r"^\| `[\w.]+` \|", line):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            rows[cells[0].strip("`")] = dict(zip(LANGS, cells[1:4], strict=True))
    return rows


ROWS = checked_rows(GLOSSARY.read_text(encoding="utf-8"))


def test_the_glossary_has_the_checked_tables() -> None:
    assert {f"label.{o.code}" for o in referentiel.OFFER_TYPES} <= ROWS.keys()
    assert {f"offer.{o.code}" for o in referentiel.OFFER_TYPES} <= ROWS.keys()
    assert {f"category.{c.code}" for c in referentiel.CATEGORIES} <= ROWS.keys()
    assert {"level.vert", "level.orange", "level.rouge", "shape.orange"} <= ROWS.keys()


def said(app: Flask, lang: str, words: Callable[[], str]) -> str:
    with app.test_request_context(), force_locale(lang):
        return words()


@pytest.mark.parametrize("lang", LANGS)
def test_offer_types_are_worded_as_the_glossary_says(app: Flask, lang: str) -> None:
    seeded = {o.code: o.label(lang) for o in db.session.scalars(select(OfferType))}
    for offer in referentiel.OFFER_TYPES:
        expected = ROWS[f"label.{offer.code}"][lang]
        assert getattr(offer, lang) == expected
        assert seeded[offer.code] == expected
        phrase = OFFER_TYPE_OFFERS[offer.code]
        assert said(app, lang, lambda p=phrase: str(p)) == ROWS[f"offer.{offer.code}"][lang]


@pytest.mark.parametrize("lang", LANGS)
def test_levels_and_shapes_are_worded_as_the_glossary_says(app: Flask, lang: str) -> None:
    assert said(app, lang, lambda: level_words(VERT, 0)) == ROWS["level.vert"][lang]
    assert said(app, lang, lambda: level_words("orange", 3)) == ROWS["level.orange"][lang]
    assert said(app, lang, lambda: level_words(ROUGE, 5)) == ROWS["level.rouge"][lang]
    assert said(app, lang, lambda: level_words(VERT, 0, "short")) == ROWS["short.vert"][lang]
    assert said(app, lang, lambda: level_words(ROUGE, 5, "short")) == ROWS["short.rouge"][lang]
    for colour, shape in SHAPES.items():
        assert said(app, lang, lambda s=shape: str(s)) == ROWS[f"shape.{colour}"][lang]


@pytest.mark.parametrize("lang", LANGS)
def test_categories_are_worded_as_the_glossary_says(app: Flask, lang: str) -> None:
    seeded = {c.code: c.label(lang) for c in db.session.scalars(select(Category))}
    for category in referentiel.CATEGORIES:
        assert seeded[category.code] == ROWS[f"category.{category.code}"][lang]


def test_a_word_changed_in_the_glossary_alone_is_caught() -> None:
    """The parser reads the cells the tests compare: a mismatch cannot go unseen."""
    edited = GLOSSARY.read_text(encoding="utf-8").replace("| Op cel |", "| Cellulair |")
    assert checked_rows(edited)["label.cellulaire"]["nl"] == "Cellulair"
    assert referentiel.OFFER_TYPES[2].nl != "Cellulair"
