"""The templates' gettext: the translations of a render, looked up once.

Flask-Babel's template functions find the translations again for every
`{{ _("…") }}` through its context proxies (about 12 µs a string, measured),
and a page says dozens of them. Here a context processor hands each render the
translations Flask-Babel answers at that moment, so `force_locale` (an email in
its recipient's language) is honoured; the template functions read them from
the render's context, or ask Flask-Babel when a template is rendered without it
(a macro imported without context).
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_babel import get_translations
from jinja2 import pass_context
from jinja2.runtime import Context

TRANSLATIONS = "_render_translations"


def translations(context: Context) -> Any:
    found = context.get(TRANSLATIONS)
    return get_translations() if found is None else found


@pass_context
def gettext(context: Context, string: str) -> str:
    return str(translations(context).ugettext(string))


@pass_context
def ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return str(translations(context).ungettext(singular, plural, n))


@pass_context
def pgettext(context: Context, message_context: str, string: str) -> str:
    return str(translations(context).upgettext(message_context, string))


@pass_context
def npgettext(context: Context, message_context: str, singular: str, plural: str, n: int) -> str:
    return str(translations(context).unpgettext(message_context, singular, plural, n))


def install(app: Flask) -> None:
    """After Flask-Babel's init_app: the same template functions, bound to each render."""
    app.context_processor(lambda: {TRANSLATIONS: get_translations()})
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=gettext, ngettext=ngettext, newstyle=True, pgettext=pgettext, npgettext=npgettext
    )
