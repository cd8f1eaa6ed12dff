"""A colour per offer type (R13) on /, on the establishment page and in the API, caches included."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from flask_babel import refresh

from barometre.models import User
from tests.conftest import file_report, one_line

IND, COL, CELL = "individuel", "collectif", "cellulaire"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"public_barometer": True}


def page(client: FlaskClient, url: str, language: str = "fr") -> str:
    response = client.get(url, headers={"Accept-Language": language})
    return html.unescape(response.get_data(as_text=True))


def card(client: FlaskClient, slug: str, language: str = "fr") -> str:
    text = page(client, "/", language)
    start = text.index(f'id="etablissement-{slug}"')
    end = text.find('<li class="card', start)
    return text[start : end if end != -1 else len(text)]


def type_words(text: str) -> list[str]:
    items = re.findall(r'<li class="type-level"[^>]*>(.*?)</li>', text, re.S)
    return [re.sub(r"<[^>]+>", "", item).strip() for item in items]


def api_levels(client: FlaskClient) -> dict[str, Any]:
    listed = client.get("/api/v1/establishments").get_json()["establishments"]
    return {e["slug"]: e["offer_type_levels"] for e in listed}


def test_every_card_shows_the_colour_of_each_offer_type_and_follows_reports(
    client: FlaskClient, worker: User
) -> None:
    vert = [
        "Offre individuelle\xa0: vert",
        "Offre collective\xa0: vert",
        "Offre cellulaire\xa0: vert",
    ]
    assert type_words(card(client, "haren")) == vert  # cached from here on
    assert type_words(card(client, "saint-gilles")) == vert
    assert api_levels(client)["haren"][IND] == {"colour": "vert", "step": 0}
    file_report(worker, per_condition={"ACC-01": (IND,), "ACC-02": (IND, COL), "SEC-01": (IND,)})
    assert type_words(card(client, "haren")) == [
        "Offre individuelle\xa0: orange 3",
        "Offre collective\xa0: orange 1",
        "Offre cellulaire\xa0: vert",
    ]
    assert type_words(card(client, "saint-gilles")) == vert
    assert api_levels(client)["haren"] == {
        IND: {"colour": "orange", "step": 3},
        COL: {"colour": "orange", "step": 1},
        CELL: {"colour": "vert", "step": 0},
    }
    # Outside the collapsed detail: visible without opening anything.
    haren = card(client, "haren")
    assert haren.index('class="type-levels"') < haren.index("<details>")
    assert 'data-offer-type="individuel" data-colour="orange" data-step="3"' in haren
    # In Dutch too, from its own cached cards (refresh: the test keeps one app context).
    refresh()
    assert type_words(card(client, "haren", "nl"))[0] == "Individueel aanbod: oranje 3"


def test_the_establishment_page_and_detail_say_the_colour_per_offer_type(
    client: FlaskClient, worker: User
) -> None:
    file_report(worker, per_condition={f"ACC-0{n}": (COL,) for n in range(1, 6)})
    text = page(client, "/etablissements/haren")
    assert type_words(text) == [
        "Offre individuelle\xa0: vert",
        "Offre collective\xa0: orange 5",
        "Offre cellulaire\xa0: vert",
    ]
    assert "Code que ce nombre donnerait seul" not in text
    assert "Couleur de ce type d'offre" in text
    detail = client.get("/api/v1/establishments/haren").get_json()
    assert detail["offer_type_levels"][COL] == {"colour": "orange", "step": 5}
    assert detail["level"]["colour"] == "orange" and detail["level"]["red_blocked_by_diversity"]


def test_codes_page_says_how_offer_types_are_counted(client: FlaskClient) -> None:
    text = one_line(page(client, "/codes"))
    assert "Comment les types d'offre sont comptés" in text
    assert "pour chaque condition non respectée, les types d'offre qu'elle a touchés" in text
    assert "Le code rouge demande au moins 2 types d'offre différents" in text
    assert "«\xa0Offre individuelle\xa0: orange 3\xa0»" in text
