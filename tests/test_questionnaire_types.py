"""The questionnaire's matrix of conditions × offer types (R1), without JavaScript."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from barometre import clock
from barometre.extensions import db
from barometre.models import Report, User
from barometre.referentiel import CONDITIONS
from tests.conftest import login
from tests.intake_helpers import text


def form(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "establishment": "haren",
        "visit_date": clock.today().isoformat(),
        "conditions": ["SEC-01", "ACC-02"],
        "offer_types": ["SEC-01:individuel", "SEC-01:collectif", "ACC-02:cellulaire"],
        "submission_id": str(uuid.uuid4()),
        "website": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not ...}


@pytest.fixture
def signed_in(client: FlaskClient, worker: User) -> FlaskClient:
    login(client, worker)
    return client


def stored() -> list[tuple[str, tuple[str, ...]]]:
    report = db.session.scalars(select(Report)).one()
    return [(c.code, types) for c, types in report.condition_types()]


def test_the_page_offers_the_types_in_each_conditions_row(signed_in: FlaskClient) -> None:
    page = text(signed_in.get("/signalement"))
    assert 'name="offer_types" id="types-ACC-01-individuel"' in page
    assert 'value="OFF-06:cellulaire"' in page
    assert page.count('name="offer_types"') == 27 * 3


def test_each_condition_keeps_its_own_types(signed_in: FlaskClient) -> None:
    response = signed_in.post("/signalement", data=form())
    assert response.status_code == 303
    assert stored() == [("ACC-02", ("cellulaire",)), ("SEC-01", ("individuel", "collectif"))]


def test_a_type_ticked_in_a_row_ticks_its_condition(signed_in: FlaskClient) -> None:
    response = signed_in.post("/signalement", data=form(conditions=["SEC-01"]))
    assert response.status_code == 303
    assert stored() == [("ACC-02", ("cellulaire",)), ("SEC-01", ("individuel", "collectif"))]


def test_a_condition_without_types_is_refused_next_to_it_and_everything_is_kept(
    signed_in: FlaskClient,
) -> None:
    data = form(
        conditions=["SEC-01", "ACC-02", "OFF-06"],
        description="Attente de 2 h au greffe",
    )
    response = signed_in.post("/signalement", data=data)
    assert response.status_code == 422
    page = text(response)
    errors = re.search(r'<ul class="field-errors" id="types-OFF-06-errors">(.*?)</ul>', page, re.S)
    assert errors and "au moins un type d'offre" in errors.group(1)
    assert 'id="types-SEC-01-errors"' not in page
    # The summary names the condition by its wording, never by its code.
    summary = re.search(r'<div class="error-summary" role="alert">(.*?)</div>', page, re.S)
    assert summary, page[:3000]
    wording = next(c.fr for c in CONDITIONS if c.code == "OFF-06")
    assert f"{wording}\xa0: choisissez au moins un type d'offre impacté." in summary.group(1)
    assert 'href="#types-OFF-06"' in summary.group(1)
    assert "OFF-06" not in re.sub(r'(href|id)="[^"]*"', "", summary.group(1))
    assert 'id="offer_types-errors"' not in page
    for code in ("SEC-01", "ACC-02", "OFF-06"):
        assert re.search(rf'value="{code}"\s+checked', page)
    for value in ("SEC-01:individuel", "SEC-01:collectif", "ACC-02:cellulaire"):
        assert re.search(rf'value="{value}"\s+checked', page)
    assert not re.search(r'value="SEC-01:cellulaire"\s+checked', page)
    assert "Attente de 2 h au greffe</textarea>" in page
    assert db.session.query(Report).count() == 0


def test_an_unknown_type_in_a_row_is_refused(signed_in: FlaskClient) -> None:
    response = signed_in.post("/signalement", data=form(offer_types=["SEC-01:aquatique"]))
    assert response.status_code == 422
    page = text(response)
    errors = re.search(r'id="types-SEC-01-errors">(.*?)</ul>', page, re.S)
    assert errors and "type d'offre inconnu (aquatique)." in errors.group(1)
    assert db.session.query(Report).count() == 0
