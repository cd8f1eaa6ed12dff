"""Integers from outside are bounded before they reach SQL: a 404 or a French field error.

Ids are 32-bit columns: PostgreSQL refuses to compare them with a larger number
("integer out of range"), SQLite with one past 64 bits. Every id in a path goes
through the `<id:…>` converter; numbers in forms and JSON are checked before any
query that uses them.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.routing import IntegerConverter

from barometre import clock
from barometre.extensions import db
from barometre.models import AuditEntry, Report, User
from barometre.routing import MAX_DB_ID, IdConverter
from tests.conftest import bearer, file_report, login, make_user

OUT_OF_RANGE = [str(MAX_DB_ID + 1), "99999999999", str(2**63), "1" + "0" * 30, "0", "00"]


def id_rules(app: Flask) -> list[Any]:
    return [
        rule
        for rule in app.url_map.iter_rules()
        if any(isinstance(c, IdConverter) for c in rule._converters.values())
    ]


def test_every_integer_in_a_path_is_a_bounded_id(app: Flask) -> None:
    plain = [
        rule.rule
        for rule in app.url_map.iter_rules()
        for converter in rule._converters.values()
        if isinstance(converter, IntegerConverter) and not isinstance(converter, IdConverter)
    ]
    assert plain == []
    assert len(id_rules(app)) >= 20


def url_with(rule: Any, value: str) -> str:
    return re.sub(r"<(?:id|int):[^>]+>", value, rule.rule)


def test_out_of_range_ids_are_404_on_every_route(app: Flask, client: FlaskClient) -> None:
    worker, coordinator = make_user(), make_user("coordinator")
    file_report(worker)
    token = bearer(coordinator)
    before = db.session.scalar(select(func.count()).select_from(AuditEntry))
    for user in (worker, coordinator):
        login(client, user)
        for rule in id_rules(app):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                for value in OUT_OF_RANGE:
                    url = url_with(rule, value)
                    headers = token if url.startswith("/api/") else {}
                    response = client.open(url, method=method, headers=headers, data={"x": "1"})
                    assert response.status_code == 404, (user.role, method, url)
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == before


def questionnaire(**extra: str) -> dict[str, str]:
    return {
        "establishment": "haren",
        "visit_date": clock.today().isoformat(),
        "conditions": "SEC-01",
        "offer_types": "individuel",
        **extra,
    }


def field_errors(response: Any, field: str) -> str:
    page = html.unescape(response.get_data(as_text=True))
    found = re.search(rf'<ul class="field-errors" id="{field}-errors">(.*?)</ul>', page, re.S)
    return found.group(1) if found else ""


@pytest.mark.parametrize("field", ["minutes_waited", "detainees_not_seen"])
@pytest.mark.parametrize("value", [str(MAX_DB_ID + 1), "999999999999", "100001"])
def test_questionnaire_numbers_out_of_range_are_field_errors(
    client: FlaskClient, worker: User, field: str, value: str
) -> None:
    """The repeat check ran first and compared the number in SQL (a 500 on PostgreSQL)."""
    file_report(worker)  # a recent report of the same author: the repeat check has candidates
    login(client, worker)
    response = client.post("/signalement", data=questionnaire(**{field: value}))
    assert response.status_code == 422
    assert "Indiquez un nombre entre 0 et 100000" in field_errors(response, field)
    assert db.session.scalar(select(func.count()).select_from(Report)) == 1


@pytest.mark.parametrize("field", ["minutes_waited", "detainees_not_seen"])
@pytest.mark.parametrize("value", [MAX_DB_ID + 1, 2**63, 2**70, -(2**63) - 1])
def test_api_numbers_out_of_range_are_field_errors(
    client: FlaskClient, worker: User, field: str, value: int
) -> None:
    body = {
        "establishment": "haren",
        "visit_date": clock.today().isoformat(),
        "conditions": ["SEC-01"],
        "offer_types": ["individuel"],
        field: value,
    }
    response = client.post("/api/v1/reports", json=body, headers=bearer(worker))
    assert response.status_code == 422
    assert response.get_json()["errors"][field]


@pytest.mark.parametrize(
    "service", [str(MAX_DB_ID + 1), "1" + "0" * 25, "9" * 5000, "0", "-3", "١"]
)
def test_user_form_refuses_a_service_that_cannot_exist(
    client: FlaskClient, coordinator: User, service: str
) -> None:
    row = make_user()
    login(client, coordinator)
    response = client.post(
        f"/coordination/utilisateurs/{row.id}",
        data={"role": "worker", "service": service, "active": "y"},
    )
    assert response.status_code == 422
    page = html.unescape(response.get_data(as_text=True))
    assert re.search(r'<p class="error" id="service-error">[^<]*Service inconnu', page), page
    db.session.expire_all()
    unchanged = db.session.get(User, row.id)
    assert unchanged is not None and unchanged.service_id == row.service_id


def test_user_form_refuses_an_unknown_service_in_range(
    client: FlaskClient, coordinator: User
) -> None:
    row = make_user()
    login(client, coordinator)
    response = client.post(
        f"/coordination/utilisateurs/{row.id}",
        data={"role": "worker", "service": "4242", "active": "y"},
    )
    assert response.status_code == 422
    assert "Service inconnu" in html.unescape(response.get_data(as_text=True))
