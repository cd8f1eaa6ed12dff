"""The cached template translations follow the locale, forced or chosen, like Flask-Babel."""

from __future__ import annotations

import pytest
from flask import Flask, render_template_string
from flask_babel import force_locale, get_translations, refresh

from barometre.i18n_cache import current_translations


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
