"""The cached barometer lists are never stale: every change of their data changes their key."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from barometre.datacache import DataCache
from barometre.extensions import db
from barometre.models import Category, Condition, Establishment
from tests.conftest import file_report, make_user


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
