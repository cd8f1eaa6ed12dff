"""The cached template translations follow the locale, forced or chosen, like Flask-Babel."""

from __future__ import annotations

import pytest
from flask import Flask, render_template_string
from flask_babel import force_locale, get_translations, refresh
from wtforms import DateField

from barometre.i18n_cache import current_translations
from barometre.webforms import Form


@pytest.fixture
def backend() -> str:
    return "sqlite"  # no database involved


def test_templates_still_translate(app: Flask) -> None:
    with app.test_request_context("/", headers={"Accept-Language": "fr"}):
        html = render_template_string(
            "{{ _('Code orange %(step)d sur 5', step=3) }}|{{ _('Note : %(n)s', n='<b>') }}"
        )
    assert html == "Code orange 3 sur 5|Note : &lt;b&gt;"  # values escaped, as before


def test_the_cache_follows_force_locale_and_refresh(app: Flask) -> None:
    with app.test_request_context("/", headers={"Accept-Language": "fr"}):
        french = current_translations()
        assert french is get_translations()
        assert current_translations() is french  # cached
        with force_locale("nl"):
            assert current_translations() is get_translations()
            assert current_translations() is not french
        assert current_translations() is french
        refresh()
        assert current_translations() is get_translations()


def test_outside_a_context_it_is_flask_babels_answer() -> None:
    assert type(current_translations()) is type(get_translations())


class DateForm(Form):
    visit = DateField()


@pytest.mark.parametrize(
    ("language", "message"),
    [("fr", "N'est pas une date valide."), ("nl", "Ongeldige datum."), ("en", "Not a valid date")],
)
def test_wtforms_own_messages_are_in_the_requests_language(
    app: Flask, language: str, message: str
) -> None:
    """WTForms' catalogue is kept per language: each request still gets its own."""
    for _ in range(2):  # the second time from the kept catalogue
        for other in ("fr", "nl", "en"):
            with app.test_request_context(
                "/", method="POST", data={"visit": "x"}, headers={"Accept-Language": other}
            ):
                refresh()  # the test's app context outlives the request: forget its locale
                form = DateForm(meta={"csrf": False})
                form.validate()
                if other == language:
                    assert form.visit.errors[0].startswith(message)
