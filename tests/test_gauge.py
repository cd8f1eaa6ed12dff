"""A level is said, drawn and painted in one place, `barometre.gauge`: its words in every
form, its colour and the ink written on it; the stylesheet holds a checked copy of the
colours and nothing else in the code or the templates spells them.

Pure: no app, no database (outside a request Flask-Babel gives the French source).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from barometre import gauge
from barometre.gauge import COLOURS, FILLS, SWATCHES, Form, contrast, level_words, swatch
from barometre.levels import ORANGE, ROUGE, VERT, level_at, rank_of

ROOT = Path(__file__).resolve().parent.parent
STYLESHEETS = sorted((ROOT / "barometre" / "static").glob("*.css"))
FORMS: tuple[Form, ...] = ("named", "bare", "short", "brief", "mark", "glyph")

# rank -> the level in each form of FORMS, in French.
FRENCH = {
    0: ("Code vert", "vert", "vert", "vert", "V", "●"),
    1: ("Code orange 1 sur 5", "orange 1 sur 5", "orange 1/5", "orange 1", "1", "▲ 1"),
    3: ("Code orange 3 sur 5", "orange 3 sur 5", "orange 3/5", "orange 3", "3", "▲ 3"),
    5: ("Code orange 5 sur 5", "orange 5 sur 5", "orange 5/5", "orange 5", "5", "▲ 5"),
    6: ("Code rouge", "rouge", "rouge", "rouge", "R", "■"),
}


@pytest.mark.parametrize("rank", FRENCH)
def test_a_level_in_every_form(rank: int) -> None:
    said = tuple(level_words(*level_at(rank), form) for form in FORMS)
    assert said == FRENCH[rank]


def test_a_rank_and_its_level_are_one_position_of_the_gauge() -> None:
    assert [level_at(rank) for rank in range(7)] == [
        (VERT, 0),
        *((ORANGE, step) for step in range(1, 6)),
        (ROUGE, 5),
    ]
    assert all(rank_of(*level_at(rank)) == rank for rank in range(7))


def test_each_position_has_its_colour_orange_darkening_as_it_rises() -> None:
    assert [swatch(*level_at(rank)) for rank in range(7)] == list(SWATCHES)
    assert swatch(ORANGE, 0) == swatch(VERT, 0)  # no step: no orange
    assert {VERT: SWATCHES[0], ORANGE: SWATCHES[5], ROUGE: SWATCHES[6]} == COLOURS
    oranges = [contrast(s.fill, "#ffffff") for s in SWATCHES[1:6]]
    assert oranges == sorted(oranges)


@pytest.mark.parametrize("position", SWATCHES, ids=FILLS)
def test_the_ink_on_each_colour_reads_at_wcag_aa(position: gauge.Swatch) -> None:
    assert contrast(position.fill, position.ink) >= 4.5


def test_the_contrast_ratio_is_wcag_s() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    assert contrast("#ffffff", "#ffffff") == pytest.approx(1)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # the AA grey


def test_the_stylesheet_declares_the_gauge_s_colours() -> None:
    """Pages paint a level with CSS variables; their values are the gauge's, verbatim.
    To change a colour, change `gauge.FILLS` and paste `gauge.css_variables()` here."""
    css = (ROOT / "barometre" / "static" / "barometre.css").read_text(encoding="utf-8")
    assert gauge.css_variables() in css.splitlines()


def test_no_other_file_spells_a_level_colour() -> None:
    """Templates, stylesheets and code name a level's colour through the gauge: a
    colour written out again would drift (the emails once had their own palette)."""
    line = gauge.css_variables()
    files = [
        *STYLESHEETS,
        *(ROOT / "templates").rglob("*.*"),
        *(
            p
            for package in ("barometre", "alerts", "intake")
            for p in (ROOT / package).rglob("*.py")
        ),
    ]
    spelt = {
        str(path.relative_to(ROOT)): colour
        for path in files
        if path.name != "gauge.py"
        for colour in FILLS
        if colour in path.read_text(encoding="utf-8").replace(line, "").lower()
    }
    assert not spelt


def test_the_page_colours_follow_from_the_variables() -> None:
    """Every level rule of the stylesheets reads a variable: no hex colour beside
    a level's class (`level-orange`, `pos-rouge`, `step-3`, `fill-vert`, `rank-6`)."""
    level_rule = re.compile(r"[^{}]*(?:vert|orange|rouge|step-\d|rank-\d)[^{}]*\{([^}]*)\}")
    for path in STYLESHEETS:
        for body in level_rule.findall(path.read_text(encoding="utf-8")):
            assert not re.search(r"#[0-9a-fA-F]{3,6}\b", body), (path.name, body)
