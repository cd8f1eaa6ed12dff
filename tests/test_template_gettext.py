"""Templates translate with the translations of their render: the locale chosen or forced."""

from __future__ import annotations

import pytest
from flask import Flask, render_template_string
from flask_babel import force_locale, refresh
from wtforms import DateField

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


@pytest.mark.parametrize(
    ("language", "expected"),
    [("fr", "2 situations problématiques ouvertes|x"), ("nl", "2 open probleemsituaties|x")],
)
def test_plural_and_context_forms(app: Flask, language: str, expected: str) -> None:
    source = (
        "{{ ngettext('%(num)d situation problématique ouverte',"
        " '%(num)d situations problématiques ouvertes', 2) }}|{{ pgettext('ctx', 'x') }}"
    )
    with app.test_request_context("/", headers={"Accept-Language": language}):
        assert render_template_string(source) == expected


def test_each_render_speaks_the_locale_of_its_moment(app: Flask) -> None:
    """An email rendered in its recipient's language inside a French request, then the page."""
    with app.test_request_context("/", headers={"Accept-Language": "fr"}):
        assert render_template_string("{{ _('Baromètre') }}") == "Baromètre"
        with force_locale("nl"):
            assert render_template_string("{{ _('Baromètre') }}") == "Barometer"
        assert render_template_string("{{ _('Baromètre') }}") == "Baromètre"
        refresh()
        assert render_template_string("{{ _('Baromètre') }}") == "Baromètre"


def test_macros_imported_without_context_still_translate(app: Flask) -> None:
    """Such a macro, or a template rendered outside Flask, does not see the render's
    variables: it asks Flask-Babel."""
    importer = '{% from "barometre/_macros.html" import step_alone %}{{ step_alone(0) }}'
    with app.test_request_context("/", headers={"Accept-Language": "nl"}):
        assert render_template_string(importer) == "groen"
        assert app.jinja_env.from_string("{{ _('Baromètre') }}").render() == "Barometer"


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


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (0, "0 signalement à examiner"),
        (1, "1 signalement à examiner"),
        (2, "2 signalements à examiner"),
    ],
)
def test_french_says_zero_in_the_singular(app: Flask, count: int, expected: str) -> None:
    """French's plural rule is n > 1 (the fr catalog): « 0 signalement », in Python and Jinja."""
    from flask_babel import ngettext

    with app.test_request_context("/", headers={"Accept-Language": "fr"}):
        said = ngettext("%(num)d signalement à examiner", "%(num)d signalements à examiner", count)
        rendered = render_template_string(
            "{{ ngettext('%(num)d signalement à examiner',"
            " '%(num)d signalements à examiner', n) }}",
            n=count,
        )
    assert said == rendered == expected
