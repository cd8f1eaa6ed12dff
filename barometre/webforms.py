"""The base of every web form: Flask-WTF's, with WTForms' own messages loaded once.

Flask-WTF reads WTForms' message catalogue (« Ce champ est obligatoire. »,
« Valeur de date invalide. ») from disk for every request that builds a form:
a third of a millisecond of each questionnaire POST, measured. The catalogue
of each language is kept here instead; the language is still the request's.
"""

from __future__ import annotations

import functools
from typing import Any

from babel import support
from flask import has_request_context
from flask_babel import get_locale
from flask_wtf import FlaskForm
from wtforms import Field
from wtforms.i18n import messages_path
from wtforms.validators import ValidationError

from .addresses import AddressError, check_address


@functools.lru_cache(maxsize=8)
def _catalogue(locale: str) -> support.NullTranslations:
    return support.Translations.load(messages_path(), [locale], domain="wtforms")


class _Messages:
    """WTForms' translations object, for the language of the current request."""

    def _current(self) -> Any:
        if not has_request_context():
            return None
        return _catalogue(str(get_locale() or "fr"))

    def gettext(self, string: str) -> str:
        found = self._current()
        return string if found is None else str(found.ugettext(string))

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        found = self._current()
        if found is None:
            return singular if n == 1 else plural
        return str(found.ungettext(singular, plural, n))


MESSAGES = _Messages()


class Form(FlaskForm):
    class Meta:
        def get_translations(self, form: Any) -> _Messages:
            return MESSAGES


def an_address(_form: Any, field: Field) -> None:
    """The product's one address rule (`barometre.addresses`), with its French reason."""
    if field.data:
        try:
            check_address(str(field.data))
        except AddressError as refused:
            raise ValidationError(refused.reason) from None
