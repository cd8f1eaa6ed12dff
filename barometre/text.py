"""Which characters a stored text may hold: one rule for every free text and name.

Accepted: letters, marks, numbers, punctuation, symbols and spaces (Unicode
categories L*, M*, N*, P*, S*, Zs), plus line breaks (\\n, \\r\\n) and tabs in
texts of several lines. Refused: every other character — C0/C1 controls, NUL,
format characters such as the right-to-left override U+202E, line and
paragraph separators, lone surrogates, private use and unassigned code points.
The zero-width joiners (U+200C, U+200D) are the exception: emoji sequences and
several scripts need them, and they cannot reorder what a reader sees.

What this rule accepts is also valid XML 1.0 and what every database and
spreadsheet stores, so the feed, the badge and the exports never break on it.
`printable_only` is the defence for rows stored before the rule existed.
"""

from __future__ import annotations

import unicodedata

from flask_babel import gettext as _

ALLOWED_CATEGORY_PREFIXES = ("L", "M", "N", "P", "S")
JOINERS = frozenset("\u200c\u200d")
LAYOUT = frozenset("\n\t")


def _allowed(char: str, multiline: bool) -> bool:
    if char == " " or char in JOINERS:
        return True
    if char in LAYOUT:
        return multiline
    category = unicodedata.category(char)
    return category == "Zs" or category.startswith(ALLOWED_CATEGORY_PREFIXES)


def forbidden_character(text: str, multiline: bool = True) -> str | None:
    """The first character the rule refuses in `text`, or None."""
    if text.isprintable():  # in C: only L, M, N, P, S and the ASCII space
        return None
    for char in text.replace("\r\n", "\n") if multiline else text:
        if not _allowed(char, multiline):
            return char
    return None


def printable(text: str, multiline: bool = True) -> bool:
    """Whether `text` may be stored (see the module's rule)."""
    return forbidden_character(text, multiline) is None


def refusal(text: str, multiline: bool = True) -> str | None:
    """The French message refusing `text`, or None when it may be stored."""
    char = forbidden_character(text, multiline)
    if char is None:
        return None
    if char in "\r\n\t\x85\u2028\u2029" and printable(text, multiline=True):
        return _("Ce champ tient sur une seule ligne.")
    return _(
        "Ce champ contient un caractère interdit (U+%(code)04X) : seuls les lettres, "
        "chiffres, ponctuation, symboles, espaces et retours à la ligne sont acceptés.",
        code=ord(char),
    )


def printable_only(text: str) -> str:
    """`text` without the characters the rule refuses (line breaks and tabs kept)."""
    if printable(text):
        return text
    return "".join(c for c in text.replace("\r\n", "\n") if _allowed(c, multiline=True))
