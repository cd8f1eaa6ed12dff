"""Schemathesis against /api/v1/openapi.json, on a server of ours on loopback.

Every phase (coverage, fuzzing, stateful through the document's links) and
every check but one, on SQLite and on PostgreSQL: no server error, and no
response that breaks the published document (status codes, headers, content
types, bodies), auth not ignored, schema-invalid input refused. Left out of that
run: `positive_data_acceptance`, since one rule cannot be written in JSON Schema
(free text holds printable characters only: Unicode categories, which no
ECMA-262 pattern without `\\p` says) and such input gets a documented 422.

The document serves what a report may name now (establishments, conditions and
offer types as enums, the visit-date window as the enum of its days), so
`test_schemathesis_reaches_201_on_post_reports` holds generated reports to
being stored, that one rule excepted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from freezegun import freeze_time
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.definitions import OPENAPI_31
from sqlalchemy import func, select
from werkzeug.serving import make_server

from barometre import clock
from barometre.extensions import db
from barometre.models import Category, Condition, Establishment, OfferType, Report, User
from barometre.text import printable
from tests.conftest import bearer, file_report
from tests.fuzz import examples

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(timeout=10)


@pytest.mark.slow
@pytest.mark.committing
def test_api_conforms_to_its_openapi_document(
    server: str, worker: User, coordinator: User, tmp_path: Path
) -> None:
    file_report(worker)  # an open situation and a report: the links lead somewhere
    token = bearer(coordinator)["Authorization"]
    done = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{server}/api/v1/openapi.json",
            "--header",
            f"Authorization: {token}",
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            "--max-examples",
            str(examples(50)),
            "--request-timeout",
            "10",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,  # schemathesis keeps a cache folder where it runs
    )
    summary = done.stdout[-3000:]
    assert done.returncode == 0, summary
    assert "Tested: 7" in done.stdout, summary
    assert " passed" in done.stdout and "failed" not in done.stdout.split("SUMMARY")[-1], summary


def test_the_document_is_valid_openapi_3_1_with_the_webhooks_of_channels(
    client: FlaskClient,
) -> None:
    """The served document holds to the OpenAPI 3.1 schema (schemathesis' copy of the
    official one), each of its schemas to JSON Schema 2020-12; the webhooks a channel
    receives (issue 30) are there, each with its headers, its schema and the answers that
    matter. Schemathesis calls paths only: the run above counts 7 operations, no webhook."""
    document = client.get("/api/v1/openapi.json").get_json()
    errors = [e.message for e in Draft202012Validator(OPENAPI_31).iter_errors(document)]
    assert errors == []
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    webhooks = document["webhooks"]
    assert set(webhooks) == {"level.changed", "level.reminder", "digest.weekly", "channel.test"}
    for webhook in webhooks.values():
        operation = webhook["post"]
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert ref.removeprefix("#/components/schemas/") in document["components"]["schemas"]
        assert {"2XX", "408", "410", "429", "4XX", "5XX"} <= set(operation["responses"])
    operations = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(operations) == 7  # what schemathesis tests ("Tested: 7")


# --- the document's enums are what a report may name now (issue 24, item 11) ------------


def report_schemas(client: FlaskClient) -> dict[str, Any]:
    schemas: dict[str, Any] = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    return schemas


def served_enums(client: FlaskClient) -> dict[str, list[str]]:
    """Every enum of the report's body, by place: each must hold the same codes."""
    schemas = report_schemas(client)
    report, impacted = schemas["ReportIn"]["properties"], schemas["ImpactedCondition"]["properties"]
    return {
        "establishment": report["establishment"]["enum"],
        "conditions (codes)": report["conditions"]["anyOf"][1]["items"]["enum"],
        "conditions (objects)": impacted["code"]["enum"],
        "offer_types": report["offer_types"]["items"]["enum"],
        "conditions[].offer_types": impacted["offer_types"]["items"]["enum"],
    }


def active_referentiel() -> dict[str, list[str]]:
    """The database's own answer, read without the document's query."""
    slugs = sorted(e.slug for e in db.session.scalars(select(Establishment)) if e.active)
    codes = sorted(c.code for c in db.session.scalars(select(Condition)) if c.active)
    types = [o.code for o in db.session.scalars(select(OfferType).order_by(OfferType.position))]
    return {
        "establishment": slugs,
        "conditions (codes)": codes,
        "conditions (objects)": codes,
        "offer_types": types,
        "conditions[].offer_types": types,
    }


def post_report(client: FlaskClient, worker: User, slug: str, code: str, day: str) -> Any:
    body = {
        "establishment": slug,
        "visit_date": day,
        "conditions": [{"code": code, "offer_types": ["collectif"]}],
    }
    return client.post("/api/v1/reports", json=body, headers=bearer(worker))


def test_enums_follow_the_active_referentiel(client: FlaskClient, worker: User) -> None:
    assert served_enums(client) == active_referentiel()
    assert {"haren", "saint-gilles"} <= set(served_enums(client)["establishment"])
    category = db.session.scalars(select(Category)).first()
    assert category is not None
    db.session.add(Establishment(slug="forest", name="Prison de Forest"))
    db.session.add(Condition(code="NEW-01", category=category, label_fr="Nouvelle"))
    haren = db.session.scalars(select(Establishment).filter_by(slug="haren")).one()
    haren.active = False
    sec = db.session.scalars(select(Condition).filter_by(code="SEC-01")).one()
    sec.retired_at = clock.now()
    db.session.commit()

    served = served_enums(client)
    assert served == active_referentiel()
    assert "forest" in served["establishment"] and "haren" not in served["establishment"]
    assert "NEW-01" in served["conditions (codes)"] and "SEC-01" not in served["conditions (codes)"]
    # What the document offers is accepted; what it left out is refused.
    today = clock.today().isoformat()
    assert post_report(client, worker, "forest", "NEW-01", today).status_code == 201
    refused = post_report(client, worker, "haren", "SEC-01", today)
    assert refused.status_code == 422
    assert {"establishment", "conditions"} <= set(refused.get_json()["errors"])


@pytest.mark.parametrize("backend", ["sqlite"])
def test_visit_dates_are_the_window_of_the_validation(client: FlaskClient, worker: User) -> None:
    with freeze_time("2026-03-01 12:00:00"):
        visit_date = report_schemas(client)["ReportIn"]["properties"]["visit_date"]
        window = visit_date["enum"]
        assert visit_date["format"] == "date"
        assert "du 2025-12-01 au 2026-03-01" in visit_date["description"]
        assert (window[0], window[-1], len(window)) == ("2025-12-01", "2026-03-01", 91)
        assert window == sorted(set(window))  # every day once, in order
        for day in (window[0], window[-1]):
            assert post_report(client, worker, "haren", "SEC-01", day).status_code == 201
        for day in ("2025-11-30", "2026-03-02"):  # the days either side are refused
            response = post_report(client, worker, "haren", "SEC-01", day)
            assert response.status_code == 422
            assert "visit_date" in response.get_json()["errors"]
    with freeze_time("2026-03-02 12:00:00"):  # the window moves with the day
        assert report_schemas(client)["ReportIn"]["properties"]["visit_date"]["enum"][-1] == (
            "2026-03-02"
        )


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("settings_overrides", [{"max_visit_age_days": 3650}])
def test_a_long_window_is_stated_not_enumerated(client: FlaskClient) -> None:
    with freeze_time("2026-03-01 12:00:00"):
        visit_date = report_schemas(client)["ReportIn"]["properties"]["visit_date"]
    assert "enum" not in visit_date and visit_date["format"] == "date"
    assert "du 2016-03-03 au 2026-03-01" in visit_date["description"]
    assert "3650 jours" in visit_date["description"]


# --- schemathesis writes reports that are stored -----------------------------------------

CONFORMANCE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def refused_only_for_its_text(case: Any, response: Any) -> bool:
    """The one rule the document states in words: free text holds printable characters
    only (barometre.text), which a JSON Schema pattern cannot say of Unicode categories."""
    errors = set(response.json().get("errors", {})) if response.status_code == 422 else {"?"}
    description = case.body.get("description") or ""
    return errors == {"description"} and not printable(description)


def test_schemathesis_reaches_201_on_post_reports(app: Flask, worker: User) -> None:
    """Positive data generated from the served document, with a worker's token: reports
    are stored (201, or 200 when a submission_id comes back), never a server error, every
    response as documented; a refusal only for a description the text rule refuses."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operation = schema["/api/v1/reports"]["POST"]
    headers = bearer(worker)
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=int(os.environ.get("FUZZ_CASES", examples(100))),
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(case=operation.as_strategy(GenerationMode.POSITIVE))
    def check(case: Any) -> None:
        response = case.call(headers=headers)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CONFORMANCE_CHECKS, headers=headers)
        assert response.status_code in (200, 201) or refused_only_for_its_text(case, response), (
            case.body,
            response.status_code,
            response.text,
        )

    check()
    assert statuses[201] >= 1, statuses
    assert db.session.scalar(select(func.count()).select_from(Report)) >= statuses[201]


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(("sent", "stored"), [(12.0, 12), (0.0, 0), (1e2, 100)])
def test_an_integral_number_is_an_integer(
    client: FlaskClient, worker: User, sent: float, stored: int
) -> None:
    """JSON Schema's "integer" takes 12.0 (schemathesis sends it): so does the API."""
    body = {
        "establishment": "haren",
        "visit_date": clock.today().isoformat(),
        "conditions": ["SEC-01"],
        "offer_types": ["individuel"],
        "minutes_waited": sent,
        "detainees_not_seen": sent,
    }
    response = client.post("/api/v1/reports", json=body, headers=bearer(worker))
    assert response.status_code == 201, response.get_json()
    report = db.session.scalars(select(Report)).one()
    assert (report.minutes_waited, report.detainees_not_seen) == (stored, stored)
    for refused in (12.5, 1e300, -1.0):
        response = client.post(
            "/api/v1/reports", json={**body, "minutes_waited": refused}, headers=bearer(worker)
        )
        assert response.status_code == 422
        assert list(response.get_json()["errors"]) == ["minutes_waited"]
