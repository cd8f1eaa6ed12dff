"""The cached barometer lists are never stale: every change of their data changes their key."""

from __future__ import annotations

import pytest
from flask import Flask, template_rendered
from flask.testing import FlaskClient
from flask_babel import refresh
from jinja2 import Template
from sqlalchemy import select, update

from barometre.datacache import DataCache
from barometre.extensions import db
from barometre.models import Category, Condition, Establishment
from tests.conftest import file_report, login, make_user


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"public_barometer": True}


def listed(client: FlaskClient) -> dict[str, dict[str, object]]:
    return {e["slug"]: e for e in client.get("/api/v1/establishments").json["establishments"]}


def haren() -> Establishment:
    return db.session.scalars(select(Establishment).where(Establishment.slug == "haren")).one()


def test_every_update_of_an_establishment_bumps_its_revision(app: Flask) -> None:
    establishment = haren()
    first = establishment.revision
    establishment.committee_note = "vert, avec une alerte sur les temps d'attente"
    db.session.commit()
    assert haren().revision == first + 1
    db.session.execute(update(Establishment).values(name="Prison de Haren (site)"))
    db.session.commit()
    assert haren().revision == first + 2


def test_the_list_follows_reports_edits_and_the_referentiel(
    app: Flask, client: FlaskClient
) -> None:
    assert listed(client)["haren"]["level"]["colour"] == "vert"
    assert listed(client)["haren"]["level"]["colour"] == "vert"  # served from the cache

    file_report(make_user(), conditions=("SEC-01",), offer_types=("collectif",))
    body = listed(client)["haren"]
    assert body["level"]["step"] == 1
    assert body["breakdown"]["by_category"]["SEC"] == 1

    haren().committee_note = "Note du comité"
    db.session.commit()
    assert listed(client)["haren"]["committee_note"] == "Note du comité"

    # A condition moved to another category: the breakdown follows at once.
    condition = db.session.scalars(select(Condition).where(Condition.code == "SEC-01")).one()
    condition.category = db.session.scalars(select(Category).where(Category.code == "ACC")).one()
    db.session.commit()
    body = listed(client)["haren"]
    assert (body["breakdown"]["by_category"]["SEC"], body["breakdown"]["by_category"]["ACC"]) == (
        0,
        1,
    )

    haren().active = False
    db.session.commit()
    assert "haren" not in listed(client)


def test_the_cache_keeps_a_few_values() -> None:
    cache: DataCache[int] = DataCache(size=2)
    made: list[int] = []

    def make(n: int) -> int:
        made.append(n)
        return n

    assert [cache.get(n, lambda n=n: make(n)) for n in (1, 2, 1, 3, 1, 2)] == [1, 2, 1, 3, 1, 2]
    assert made == [1, 2, 3, 2]  # 2 was pushed out by 3; 1 stayed, being used


def card(client: FlaskClient, slug: str = "haren", **headers: str) -> str:
    # The test's app context outlives the requests: forget the locale it cached in `g`.
    refresh()
    page = client.get("/", headers={"Accept": "text/html", **headers})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    start = html.index(f'id="etablissement-{slug}"')
    return html[start : html.index("</li>\n", html.index('class="changed"', start))]


def test_the_cards_of_the_home_page_follow_data_language_and_reader(
    app: Flask, client: FlaskClient
) -> None:
    assert 'data-colour="vert"' in card(client)
    assert 'data-colour="vert"' in card(client)  # served from the cache

    worker = make_user()
    file_report(worker, conditions=("SEC-01",), offer_types=("collectif",))
    assert 'data-step="1"' in card(client)
    assert "SEC-01" not in card(client)  # anonymous readers never see the conditions

    haren().committee_note = "Note du comité pour Haren"
    db.session.commit()
    assert "Note du comité pour Haren" in card(client)
    assert "Note du comité pour Haren" in card(client, **{"Accept-Language": "nl"})
    assert "Détail par catégorie" not in card(client, **{"Accept-Language": "nl"})
    assert "Détail par catégorie" in card(client)  # the French cards are still French

    login(client, worker)
    assert "SEC-01" in card(client)  # signed in: the wording of the conditions

    condition = db.session.scalars(select(Condition).where(Condition.code == "SEC-01")).one()
    condition.label_fr = "Un libellé revu par le comité"
    db.session.commit()
    assert "Un libellé revu par le comité" in card(client, **{"Accept-Language": "fr"})


def test_the_home_page_renders_its_cards_once_then_keeps_them(
    app: Flask, client: FlaskClient
) -> None:
    """The page is rendered by Jinja on every request, around cards rendered once per key."""
    rendered: list[str] = []

    def note(_sender: Flask, template: Template, **_extra: object) -> None:
        rendered.append(str(template.name))

    with template_rendered.connected_to(note, app):
        for _ in range(2):  # made, then kept
            refresh()
            response = client.get("/", headers={"Accept-Language": "fr"})
            body = response.get_data()
            assert response.status_code == 200
            assert response.content_type == "text/html; charset=utf-8"
            assert response.content_length == len(body)
            assert body.count(b'<ul class="cards">') == 1
            html = body.decode()
            assert html.index("<h1>") < html.index('<ul class="cards">') < html.index("Flux Atom")
            assert html.rstrip().endswith("</html>")
        refresh()
        page = client.get("/", headers={"Accept-Language": "nl"}).get_data(as_text=True)
    assert "Détail par catégorie" not in page
    assert 'lang="nl"' in page
    assert rendered.count("barometre/index.html") == 3
    assert rendered.count("barometre/_cards.html") == 2  # French once, Dutch once
