"""Write the French catalog: every message of the template, in French typography.

French is the source language, so it needs no translation, but two things are
only right through a French catalog:
- the plural rule: without it gettext treats 0 as plural (« 0 signalements »);
  French says « 0 signalement », its rule is `n > 1`;
- the typography: a no-break space before « : ; ? ! » and inside « », so that a
  line never starts with a colon or a lone guillemet. The code writes ordinary
  spaces (the Dutch and English translators read the same msgids); this catalog
  gives each message as written with those spaces made no-break.

Run by `make translations` after the extraction, before the compilation:
    python scripts/french_catalog.py [barometre/translations]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

PLURAL_FORMS = "nplurals=2; plural=(n > 1);"
NO_BREAK = "\u00a0"
# A space before a high mark (after a word, a placeholder or a closing sign), a space
# after « and before ». A colon in « 10:30 » or « https: » has no space: untouched.
BEFORE_MARK = re.compile(r"(?<=\S) (?=[:;?!](?:\s|$|[»\"'<)]))")
INSIDE_QUOTES = re.compile(r"« | »")


def french_typography(text: str) -> str:
    """The text with a no-break space wherever French typography wants one."""
    text = BEFORE_MARK.sub(NO_BREAK, text)
    return INSIDE_QUOTES.sub(lambda m: m.group().replace(" ", NO_BREAK), text)


def french_catalog(template: Catalog) -> Catalog:
    catalog = Catalog(
        locale="fr",
        project=template.project,
        copyright_holder="Fidex",
        creation_date=template.creation_date,
        fuzzy=False,
    )
    # Babel's CLDR rule for French has a third form (« 1 000 000 de … »): gettext's is kept.
    catalog.mime_headers = [("Plural-Forms", PLURAL_FORMS)]
    for message in template:
        if not message.id:
            continue
        if message.pluralizable:
            string: str | tuple[str, ...] = tuple(french_typography(s) for s in message.id)
        else:
            string = french_typography(message.id)
        catalog.add(message.id, string=string, context=message.context)
    return catalog


def main(folder: Path) -> None:
    with (folder / "messages.pot").open("rb") as handle:
        template = read_po(handle)
    target = folder / "fr" / "LC_MESSAGES"
    target.mkdir(parents=True, exist_ok=True)
    with (target / "messages.po").open("wb") as handle:
        write_po(handle, french_catalog(template), omit_header=False, sort_output=True)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "barometre/translations"))
