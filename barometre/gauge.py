"""The gauge: the seven positions of a level (vert, orange 1 to 5, rouge), each said in
words, drawn by a shape and painted in a colour.

The one place where a level is put into words or colour. Pages, the console, the feed,
the badge, emails and the digest read it here, so that a level is always said the
same way, and never by colour alone (WCAG 1.4.1). The stylesheet holds the same
colours as CSS variables: `css_variables()` writes that line, a test checks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from .levels import MAX_ORANGE_STEP, ORANGE, ROUGE, VERT, rank_of

Form = Literal["named", "bare", "short", "brief", "mark", "glyph"]

# Every way a level is said, by form then colour; `%(step)d` is the orange step.
WORDS: dict[str, dict[str, LazyString | str]] = {
    # On its own: « Code orange 3 sur 5 ».
    "named": {
        VERT: _l("Code vert"),
        ORANGE: _l("Code orange %(step)d sur 5"),
        ROUGE: _l("Code rouge"),
    },
    # Inside a sentence: « passe d'orange 2 sur 5 à rouge ».
    "bare": {VERT: _l("vert"), ORANGE: _l("orange %(step)d sur %(max)d"), ROUGE: _l("rouge")},
    # On the badge: a few characters.
    "short": {VERT: _l("vert"), ORANGE: _l("orange %(step)d/5"), ROUGE: _l("rouge")},
    # The colour of an offer type or of a category alone (R13), never red: « orange 3 ».
    "brief": {VERT: _l("vert"), ORANGE: _l("orange %(step)d"), ROUGE: _l("rouge")},
    # A position of the gauge on the page: « V », « 3 », « R ».
    "mark": {VERT: _l("V"), ORANGE: "%(step)d", ROUGE: _l("R")},
    # The shape, then the step: « ▲ 3 », for text drawn inside a chart.
    "glyph": {VERT: "●", ORANGE: "▲ %(step)d", ROUGE: "■"},
}

# One shape per colour, so the level reads without colour: « (symbole en forme de carré) ».
SHAPES = {VERT: _l("cercle"), ORANGE: _l("triangle"), ROUGE: _l("carré")}

# The colour of each position, vert (0), orange 1 to 5, rouge (6): the orange darkens as
# it rises. Each is said in CSS as the variable of `css_variables()`.
FILLS = ("#1b7f3b", "#f3c58f", "#e9a150", "#d9822b", "#c06a10", "#b35900", "#b00020")
DARK, LIGHT = "#000000", "#ffffff"


def kind(colour: str, step: int) -> str:
    """vert, orange or rouge: the word a level's colour is known by (vert has no step)."""
    if colour == VERT or step == 0:
        return VERT
    return ROUGE if colour == ROUGE else ORANGE


def level_words(colour: str, step: int, form: Form = "named") -> str:
    """The one way a level is put into words, in the current locale (see `WORDS`)."""
    words = WORDS[form][kind(colour, step)]
    return str(words) % {"step": step, "max": MAX_ORANGE_STEP}


# French elides « de » before a vowel or a mute h: « d'orange », « de rouge ».
_ELIDED = tuple("aeiouyàâéèêëîïôöûüh")


def level_change_words(from_colour: str, from_step: int, to_colour: str, to_step: int) -> str:
    """« d'orange 2 sur 5 à rouge », « de vert à orange 1 sur 5 »."""
    before = level_words(from_colour, from_step, "bare")
    after = level_words(to_colour, to_step, "bare")
    if before.lower().startswith(_ELIDED):
        return _("d'%(before)s à %(after)s", before=before, after=after)
    return _("de %(before)s à %(after)s", before=before, after=after)


def contrast(first: str, second: str) -> float:
    """The WCAG 2 contrast ratio of two colours written #rrggbb (1 to 21)."""
    light, dark = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _luminance(colour: str) -> float:
    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(int(colour[i : i + 2], 16)) for i in (1, 3, 5))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


@dataclass(frozen=True)
class Swatch:
    """A position's colour, and the ink written on it."""

    fill: str
    ink: str


def readable(fill: str) -> Swatch:
    """`fill` with the ink that reads better on it, black or white (WCAG contrast ratio)."""
    return Swatch(fill, DARK if contrast(fill, DARK) > contrast(fill, LIGHT) else LIGHT)


SWATCHES = tuple(readable(fill) for fill in FILLS)

# The colour a level's colour is known by: the card's edge, the badge, the gauge.
COLOURS = {VERT: SWATCHES[0], ORANGE: SWATCHES[MAX_ORANGE_STEP], ROUGE: SWATCHES[-1]}


def swatch(colour: str, step: int) -> Swatch:
    """The colour of a level, orange by its step: as the emails and the charts paint it."""
    shown = kind(colour, step)
    return SWATCHES[0 if shown == VERT else rank_of(shown, min(step, MAX_ORANGE_STEP))]


def css_variables() -> str:
    """The stylesheet's line of level colours: `--vert`, `--orange-1` … `--orange-5`,
    `--orange` (orange's own), `--rouge`, then the ink on each (`--orange-ink`)."""
    steps = [f"--{ORANGE}-{step}: {SWATCHES[step].fill};" for step in range(1, len(SWATCHES) - 1)]
    fills = [f"--{name}: {s.fill};" for name, s in COLOURS.items()]
    inks = [f"--{name}-ink: {s.ink};" for name, s in COLOURS.items()]
    return ":root { " + " ".join([fills[0], *steps, *fills[1:], *inks]) + " }"
