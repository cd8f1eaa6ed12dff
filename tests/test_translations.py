"""Every French string of the code has a Dutch and an English translation, compiled.

The catalogs are extracted here as `make translations` does; a new string
without its nl/en translation (or a stale .mo) fails this test.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "barometre" / "translations"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def makefile_keywords() -> list[str]:
    line = next(
        x for x in (ROOT / "Makefile").read_text().splitlines() if x.startswith("BABEL_KEYWORDS")
    )
    return line.split(":=", 1)[1].split()


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    out = tmp_path_factory.mktemp("babel") / "messages.pot"
    pybabel = Path(sys.executable).parent / "pybabel"
    command = [
        str(pybabel),
        "extract",
        "-F",
        "babel.cfg",
        *makefile_keywords(),
        "-o",
        str(out),
        ".",
    ]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, timeout=120)
    with out.open("rb") as handle:
        return read_po(handle)


def source_ids(catalog: Catalog) -> set[str]:
    """The msgids; a plural message (ngettext) is known by its singular."""
    return {str(m.id[0]) if m.pluralizable else str(m.id) for m in catalog if m.id}


def forms(value: object) -> tuple[str, ...]:
    """Every form of a msgid or msgstr: one for a plain message, each plural form else."""
    if isinstance(value, (list, tuple)):
        return tuple(str(v) if v is not None else "" for v in value)
    return (str(value) if value is not None else "",)


def placeholders(texts: tuple[str, ...]) -> list[list[str]]:
    return [sorted(PLACEHOLDER.findall(t)) for t in texts]


def test_extraction_finds_the_strings_of_every_layer(extracted: Catalog) -> None:
    ids = source_ids(extracted)
    assert "Choisissez au moins une condition non respectée." in ids  # barometre/services.py
    assert "Page introuvable." in ids  # barometre/app.py
    assert "Envoyer le signalement" in ids  # templates
    assert "Trop de tentatives de connexion. Réessayez dans une minute." in ids  # intake


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_every_string_is_translated(extracted: Catalog, lang: str) -> None:
    folder = TRANSLATIONS / lang / "LC_MESSAGES"
    with (folder / "messages.po").open("rb") as handle:
        po = read_po(handle)
    with (folder / "messages.mo").open("rb") as handle:
        mo = read_mo(handle)
    missing, stale, broken = [], [], []
    for msgid in sorted(source_ids(extracted)):
        source = extracted.get(msgid)
        assert source is not None
        message = po.get(msgid)
        strings = forms(message.string) if message is not None else ()
        if (
            message is None
            or not all(strings)
            or message.fuzzy
            or message.pluralizable != source.pluralizable
            or len(strings) != (po.num_plurals if source.pluralizable else 1)
        ):
            missing.append(msgid)
            continue
        compiled = mo.get(msgid)
        if compiled is None or forms(compiled.string) != strings:
            stale.append(msgid)
        # Every translated form carries the placeholders of the French (singular or plural).
        french = {tuple(p) for p in placeholders(forms(source.id))}
        if any(tuple(p) not in french for p in placeholders(strings)):
            broken.append(msgid)
    assert not missing, f"{lang}: untranslated (run `make translations`, then translate): {missing}"
    assert not stale, f"{lang}: .mo out of date (run `make translations`): {stale}"
    assert not broken, f"{lang}: placeholders differ from the French: {broken}"


NO_BREAK = "\xa0"


def test_the_french_catalog_says_every_message_as_written_in_french_typography(
    extracted: Catalog,
) -> None:
    """French is the source: its catalog carries its plural rule (0 and 1 singular) and
    every message as the code writes it, with the spaces French typography wants
    no-break (before « : ; ? ! », inside « »), compiled (`make translations` writes it)."""
    folder = TRANSLATIONS / "fr" / "LC_MESSAGES"
    with (folder / "messages.po").open("rb") as handle:
        po = read_po(handle)
    with (folder / "messages.mo").open("rb") as handle:
        mo = read_mo(handle)
    assert po.plural_forms == mo.plural_forms == "nplurals=2; plural=(n > 1);"
    missing, retyped = [], []
    for source in extracted:
        if not source.id:
            continue
        key = source.id[0] if source.pluralizable else source.id
        message, compiled = po.get(key), mo.get(key)
        if (
            message is None
            or compiled is None
            or forms(message.string) != forms(compiled.string)
            or len(forms(message.string)) != len(forms(source.id))
        ):
            missing.append(key)
        elif tuple(s.replace(NO_BREAK, " ") for s in forms(message.string)) != forms(source.id):
            retyped.append(key)  # anything but a space made no-break
    assert not missing, f"fr: not written as the code says it (`make translations`): {missing}"
    assert not retyped, f"fr: more than typography changed: {retyped}"
    said = po.get("Baromètre : %(name)s")
    assert said is not None and said.string == f"Baromètre{NO_BREAK}: %(name)s"
    assert "scripts/french_catalog.py" in (ROOT / "Makefile").read_text()
