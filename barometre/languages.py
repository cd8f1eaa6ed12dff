"""The product's languages: French (the source), Dutch and English.

One list for the pages, the emails, the forms, the CLI and the settings check.
Pure: imports nothing of the project.
"""

from __future__ import annotations

LANGUAGES = ("fr", "nl", "en")
DEFAULT_LANGUAGE = "fr"

# Each language by its own name, so that a reader finds theirs whatever the page's language.
LANGUAGE_NAMES = {"fr": "Français", "nl": "Nederlands", "en": "English"}

# Dates are written the way Brussels reads them: Belgian French and Dutch, British English.
BABEL_LOCALES = {"fr": "fr_BE", "nl": "nl_BE", "en": "en_GB"}


def supported(language: str | None) -> str:
    """`language` when the product speaks it, French otherwise."""
    if language is not None and language in LANGUAGES:
        return language
    return DEFAULT_LANGUAGE
