"""One term per notion per language (docs/glossary.md), over every string the product says.

The catalogs hold every sentence of the templates, the emails and the code (French as
extracted, Dutch and English as translated): each is read here for the words the glossary
rules out and for each language's typography. Each rule below is a word the issue 26
review found on a page or in an email.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

TRANSLATIONS = Path(__file__).resolve().parent.parent / "barometre" / "translations"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")  # « %(email)s » is a name, not a word

# (what is ruled out, the reason or the glossary's word), per language.
RULED_OUT: dict[str, list[tuple[str, str]]] = {
    "fr": [
        (r"\w\((?:e?s|x)\)", "a plural by ngettext, never « (s) »"),
        (r"(?i)\be-?mails?\b", "« courriel » in French prose"),
        (r"(?i)\brésumé hebdomadaire\b", "« synthèse hebdomadaire »"),
        # A feed's title names the federation for the feed readers outside the product.
        (r"Baromètre Fidex : (?!changements de niveau)", "a subject starts « Baromètre : »"),
        (r"conditions sont réunies", "no open situation is not « conditions met »"),
        (r"bloqué par la diversité", "« Rouge en attente » with the missing offer types"),
        (r"Palier que ces seules situations", "per category, counts only"),
        (r"^Choix de %\(address\)s", "« Ce que reçoit … », « Choix enregistrés pour … »"),
    ],
    "nl": [
        (r"\btype aanbod\b", "« soort aanbod »"),
        (r"\bproblematische situaties\b", "« probleemsituaties »"),
        (r"\bwerkvoorwaarden\b", "« werkomstandigheden »"),
        (r"geblokkeerd door de diversiteit", "« Rood in afwachting »"),
        (r"(?i)\binrichting", "« gevangenis », as in the conditions"),
        (r"Trap die deze situaties", "per category, counts only"),
        (r"\w\(s\)|\w\(en\)", "a plural by ngettext"),
        (r"[«»]", "Dutch quotation marks, not French ones"),
        (r"\w [:;?!](?:\s|$)", "no space before « : ; ? ! » in Dutch"),
    ],
    "en": [
        (r"Kinds of services|type of service", "« offer type »"),
        (r"state of health", "« service provision »"),
        (r"(?i)\bestablishments?\b", "« prison », as in the conditions"),
        (r"\w\(s\)", "a plural by ngettext"),
        (r"[«»]", "English quotation marks, not French ones"),
        (r"\w [:;?!](?:\s|$)", "no space before « : ; ? ! » in English"),
    ],
}


def strings(catalog: Catalog, lang: str) -> list[str]:
    """French: every source string (singular and plural); Dutch and English: every
    translation."""
    found = []
    for message in catalog:
        if not message.id:
            continue
        said = message.id if lang == "fr" else message.string
        found += [said] if isinstance(said, str) else list(said)
    return [s for s in found if s]


@pytest.fixture(scope="module")
def catalogs() -> dict[str, list[str]]:
    paths = {
        "fr": TRANSLATIONS / "messages.pot",
        "nl": TRANSLATIONS / "nl" / "LC_MESSAGES" / "messages.po",
        "en": TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po",
    }
    return {lang: strings(read_po(path.open("rb")), lang) for lang, path in paths.items()}


@pytest.mark.parametrize("lang", ["fr", "nl", "en"])
def test_no_ruled_out_word_in_any_string(catalogs: dict[str, list[str]], lang: str) -> None:
    found = [
        (reason, text[:90])
        for pattern, reason in RULED_OUT[lang]
        for text in catalogs[lang]
        if re.search(pattern, PLACEHOLDER.sub("X", text))
    ]
    assert found == []


def test_french_puts_a_space_before_double_punctuation(catalogs: dict[str, list[str]]) -> None:
    """« Catégorie : », « Pourquoi ? » — not « Catégorie: » (a URL, a time, a
    placeholder's format and a technical header such as « Authorization: Bearer » aside)."""
    glued = re.compile(r"[^\s\xa0\u202f%(/\d:](?:[;?!]|:)(?=\s|$)")
    technical = re.compile(r"Authorization: Bearer|https?:")
    found = [t[:90] for t in catalogs["fr"] if glued.search(technical.sub("", t))]
    assert found == []


# French typography: a no-break space before « : ; ? ! » and inside « » (an ordinary
# space there lets a line start with a colon or a lone guillemet).
BROKEN_TYPOGRAPHY = re.compile(r"\S [:;?!](?:\s|$)|« | »")


def french_catalog() -> list[str]:
    """What a French reader gets: the French catalog's strings (every message, by
    scripts/french_catalog.py)."""
    path = TRANSLATIONS / "fr" / "LC_MESSAGES" / "messages.po"
    return strings_of(read_po(path.open("rb")))


def strings_of(catalog: Catalog) -> list[str]:
    found: list[str] = []
    for message in catalog:
        if message.id:
            found += [message.string] if isinstance(message.string, str) else list(message.string)
    return [s for s in found if s]


def test_french_typography_holds_in_every_french_string() -> None:
    said = french_catalog()
    assert len(said) > 1000
    assert [t[:90] for t in said if BROKEN_TYPOGRAPHY.search(t)] == []


TEMPLATES = TRANSLATIONS.parent.parent / "templates"


def template_text(source: str) -> str:
    """A template's own words: what it writes outside `{{ }}`, `{% %}`, comments, tags,
    styles and scripts."""
    text = re.sub(r"\{\{.*?\}\}", "X", source, flags=re.S)
    text = re.sub(r"\{%.*?%\}|\{#.*?#\}", "", text, flags=re.S)
    text = re.sub(r"<(style|script)\b.*?</\1>", "", text, flags=re.S)
    return re.sub(r"<[^>]*>", "", text)


def test_templates_leave_punctuation_and_its_spaces_to_the_catalogs() -> None:
    """A « : » or « ; » written in a template between two values is the same in every
    language: French wants it after a no-break space, Dutch and English with none.
    Each goes through a message (« %(label)s : %(value)s »)."""
    found = [
        (path.relative_to(TEMPLATES).as_posix(), match.group().strip())
        for path in sorted(TEMPLATES.rglob("*.*"))
        if path.suffix in {".html", ".txt", ".xml", ".svg"}
        for match in re.finditer(
            r".{0,20}(?:\S [:;?!](?:\s|$)|« | »)", template_text(path.read_text())
        )
    ]
    assert found == []


def test_the_rules_catch_what_the_review_found() -> None:
    """Each rule fails on the words the review quoted (restored from the old catalogs)."""
    old = {
        "fr": [
            "Nouveaux : %(reports)d signalement(s)",
            "Chaque email contient un lien pour arrêter",
            "Baromètre Fidex : nouveau mot de passe",
            "Aucune situation ouverte : toutes les conditions sont réunies.",
            "Le code rouge est bloqué par la diversité.",
            "Palier que ces seules situations donneraient",
            "Choix de %(address)s enregistrés.",
        ],
        "nl": [
            "een band per type aanbod",
            "%(num)d verschillende problematische situaties",
            "de minimale werkvoorwaarden",
            "Rood geblokkeerd door de diversiteit",
            "Trap die deze situaties alleen zouden geven",
            "Inrichting",
            "bijvoorbeeld « Individueel aanbod: oranje 3 »",
            "Wachttijd : %(minutes)s",
        ],
        "en": [
            "Kinds of services affected: %(diversity)d",
            "By type of service",
            "The state of health of the service offer",
            "Add an establishment",
            "New: %(reports)d report(s)",
            "Minutes waited : %(minutes)s",
        ],
    }
    for lang, texts in old.items():
        for text in texts:
            assert any(re.search(p, text) for p, _ in RULED_OUT[lang]), (lang, text)
    for text in ["Catégorie : Tous", "Pourquoi ?", "« Prison de Haren »", "individuel ; collectif"]:
        assert BROKEN_TYPOGRAPHY.search(text), text
        assert not BROKEN_TYPOGRAPHY.search(text.replace(" ", "\xa0")), text
    old_template = '<li><a href="#{{ field.id }}">{{ field.label.text }}</a> : {{ error }}</li>'
    assert re.search(r"\S [:;?!](?:\s|$)", template_text(old_template))
