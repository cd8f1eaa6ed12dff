"""Write the French catalog: every plural message of the template, as its own msgids.

French is the source language, so it needs no translation; but without a French
catalog gettext treats 0 as plural (« 0 signalements »). French says « 0
signalement »: its plural rule is `n > 1`. This catalog carries that rule and,
for each ngettext message, the French singular and plural as they are written in
the code (a message missing from a catalog would fall back to the n == 1 rule).
Plain messages are left out: they fall back to their msgid.

Run by `make translations` after the extraction, before the compilation:
    python scripts/french_plurals.py [barometre/translations]
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

PLURAL_FORMS = "nplurals=2; plural=(n > 1);"


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
        if message.id and message.pluralizable:
            catalog.add(message.id, string=tuple(message.id), context=message.context)
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
