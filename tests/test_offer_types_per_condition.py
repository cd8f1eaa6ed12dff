"""Offer types per condition (R1, R2), through record_report and the API, on both backends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import current_app
from flask.testing import FlaskClient
from sqlalchemy import select

from alerts.models import AlertEvent, Notification
from barometre import clock, services
from barometre.errors import ValidationFailed
from barometre.extensions import db
from barometre.models import Establishment, Report, Situation, User
from barometre.referentiel import CONDITIONS
from tests.conftest import bearer, file_report

IND, COL, CELL = "individuel", "collectif", "cellulaire"
FIVE = ("ACC-01", "ACC-02", "ACC-03", "SEC-01", "SEC-02")
# A condition's wording, which its errors name (a worker never sees the codes).
WORDING = {c.code: c.fr for c in CONDITIONS}


def level_of(slug: str = "haren") -> tuple[str, int, bool]:
    establishment = db.session.scalar(select(Establishment).where(Establishment.slug == slug))
    assert establishment is not None
    level = establishment.level
    return level.colour, level.step, level.red_blocked_by_diversity


def open_types(slug: str = "haren") -> dict[str, tuple[str, ...]]:
    rows = db.session.scalars(
        select(Situation)
        .join(Situation.establishment)
        .where(Situation.status == "open", Establishment.slug == slug)
    )
    return {s.condition.code: s.offer_type_codes for s in rows}


# Each case: the reports, each {condition: offer types}; the level they give.
RULES: list[tuple[str, list[dict[str, tuple[str, ...]]], tuple[str, int, bool]]] = [
    ("five conditions, all individuel", [dict.fromkeys(FIVE, (IND,))], ("orange", 5, True)),
    (
        "one of the five collectif",
        [{**dict.fromkeys(FIVE[:4], (IND,)), FIVE[4]: (COL,)}],
        ("rouge", 5, False),
    ),
    (
        "one of the five individuel and collectif",
        [{**dict.fromkeys(FIVE[:4], (IND,)), FIVE[4]: (IND, COL)}],
        ("rouge", 5, False),
    ),
    (
        "the diverse report names a sixth condition: five, still one type",
        [dict.fromkeys(FIVE, (IND,)), {"OFF-06": (COL,)}],
        ("rouge", 5, False),
    ),
    (
        "a second type given for another condition does not leak onto the five",
        [{**dict.fromkeys(FIVE[:4], (IND,)), FIVE[4]: (CELL,)}, {"OFF-06": (COL,)}],
        ("rouge", 5, False),
    ),
    (
        "four conditions of two types: orange 4",
        [{"ACC-01": (IND,), "ACC-02": (COL,), "ACC-03": (IND,), "SEC-01": (IND,)}],
        ("orange", 4, False),
    ),
    (
        "same five again by another report, all individuel: counted once",
        [dict.fromkeys(FIVE, (IND,)), dict.fromkeys(FIVE, (IND,))],
        ("orange", 5, True),
    ),
    (
        "the second report adds collectif to one of the five: union per condition",
        [dict.fromkeys(FIVE, (IND,)), {FIVE[2]: (COL,)}],
        ("rouge", 5, False),
    ),
]


@pytest.mark.committing
@pytest.mark.parametrize(("name", "reports", "expected"), RULES, ids=[r[0] for r in RULES])
def test_rules_with_types_per_condition(
    worker: User, name: str, reports: list[dict[str, tuple[str, ...]]], expected: Any
) -> None:
    for per_condition in reports:
        file_report(worker, per_condition=per_condition)
    assert level_of() == expected


@pytest.mark.committing
def test_old_shape_still_gives_the_old_result(worker: User) -> None:
    # The report-level types apply to every condition: five conditions, two types -> rouge.
    file_report(worker, conditions=FIVE, offer_types=(IND, COL))
    assert level_of() == ("rouge", 5, False)
    assert set(open_types().values()) == {(IND, COL)}


@pytest.mark.committing
def test_a_situation_shows_only_the_types_given_for_its_condition(worker: User) -> None:
    # The case: a parloir problem (individuel only) named with a waiting-time problem.
    file_report(worker, per_condition={"ACC-02": (IND,), "OFF-06": (IND, COL)})
    file_report(worker, per_condition={"ACC-02": (IND,), "SEC-01": (CELL,)})
    assert open_types() == {"ACC-02": (IND,), "OFF-06": (IND, COL), "SEC-01": (CELL,)}
    report = db.session.scalars(select(Report).order_by(Report.id)).first()
    assert report is not None
    assert [(c.code, t) for c, t in report.condition_types()] == [
        ("ACC-02", (IND,)),
        ("OFF-06", (IND, COL)),
    ]
    assert report.offer_type_codes == [IND, COL]  # the report's union, for filters


@pytest.mark.committing
def test_rejection_keeps_the_other_reports_types_for_that_condition(
    worker: User, coordinator: User
) -> None:
    first = file_report(worker, per_condition={"SEC-01": (IND,), "ACC-01": (COL,)})
    file_report(worker, per_condition={"SEC-01": (CELL,), "ACC-02": (COL,)})
    settings = current_app.config["SETTINGS"]
    services.reject_report(db.session, first.report.id, coordinator, "Doublon", settings)
    db.session.commit()
    # SEC-01 keeps only cellulaire (collectif was given for ACC-01, which closes).
    assert open_types() == {"SEC-01": (CELL,), "ACC-02": (COL,)}


def test_each_condition_needs_a_known_offer_type(worker: User) -> None:
    data = services.ReportInput(
        establishment="haren",
        visit_date=clock.today(),
        conditions=[
            services.ImpactedCondition("ACC-01", [IND]),
            services.ImpactedCondition("ACC-02", []),
            services.ImpactedCondition("ACC-03", ["aquatique"]),
        ],
    )
    with pytest.raises(ValidationFailed) as failed:
        services.record_report(db.session, data, worker, current_app.config["SETTINGS"])
    assert failed.value.errors == {
        "conditions[1].offer_types": [
            f"{WORDING['ACC-02']}\xa0: choisissez au moins un type d'offre impacté."
        ],
        "conditions[2].offer_types": [
            f"{WORDING['ACC-03']}\xa0: type d'offre inconnu (aquatique)."
        ],
    }
    db.session.rollback()
    assert db.session.query(Report).count() == 0


# --- the API ---------------------------------------------------------------------------


def post(client: FlaskClient, user: User, **fields: Any) -> Any:
    payload = {"establishment": "haren", "visit_date": clock.today().isoformat(), **fields}
    return client.post("/api/v1/reports", json=payload, headers=bearer(user))


@pytest.mark.committing
def test_api_takes_conditions_as_objects(client: FlaskClient, worker: User) -> None:
    conditions = [{"code": c, "offer_types": [IND]} for c in FIVE]
    response = post(client, worker, conditions=conditions)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["level"]["colour"] == "orange"
    assert response.get_json()["level"]["red_blocked_by_diversity"] is True
    conditions[4] = {"code": FIVE[4], "offer_types": [COL]}
    response = post(client, worker, conditions=conditions)
    assert response.get_json()["level"]["colour"] == "rouge"  # FIVE[4] now individuel + collectif
    assert response.get_json()["counted"] is True
    assert open_types()[FIVE[4]] == (IND, COL)
    assert level_of() == ("rouge", 5, False)


@pytest.mark.committing
def test_api_old_form_means_every_condition_impacted_those_types(
    client: FlaskClient, worker: User
) -> None:
    response = post(client, worker, conditions=list(FIVE), offer_types=[IND, COL])
    assert response.status_code == 201
    assert response.get_json()["level"]["colour"] == "rouge"
    assert set(open_types().values()) == {(IND, COL)}


@pytest.mark.parametrize(
    ("conditions", "extra", "field", "message"),
    [
        (
            [
                {"code": "ACC-01", "offer_types": [IND]},
                {"code": "ACC-02", "offer_types": [COL]},
                {"code": "ACC-03", "offer_types": []},
            ],
            {},
            "conditions[2].offer_types",
            f"{WORDING['ACC-03']}\xa0: choisissez au moins un type d'offre impacté.",
        ),
        (
            [{"code": "ACC-01", "offer_types": ["aquatique"]}],
            {},
            "conditions[0].offer_types",
            f"{WORDING['ACC-01']}\xa0: type d'offre inconnu (aquatique).",
        ),
        ([{"code": "ACC-01"}], {}, "conditions[0].offer_types", "Ce champ est obligatoire."),
        (
            [{"code": "ACC-01", "offer_types": "individuel"}],
            {},
            "conditions[0].offer_types",
            "Liste de codes attendue.",
        ),
        (
            [{"offer_types": [IND]}],
            {},
            "conditions[0].code",
            "Code de condition attendu.",
        ),
        (
            [{"code": "ACC-01", "offer_types": [IND], "types": [COL]}],
            {},
            "conditions[0].types",
            "Champ inconnu.",
        ),
        (
            [{"code": "ACC-01", "offer_types": [IND]}],
            {"offer_types": [COL]},
            "offer_types",
            "Donnez les types d'offre dans chaque condition.",
        ),
        (
            ["ACC-01", {"code": "ACC-02", "offer_types": [IND]}],
            {"offer_types": [COL]},
            "conditions",
            "Liste de codes ou d'objets {code, offer_types} attendue.",
        ),
        (
            [{"code": "NOPE-1", "offer_types": [IND]}],
            {},
            "conditions",
            "Condition inconnue\xa0: NOPE-1.",
        ),
    ],
)
def test_api_errors_are_field_precise_and_french(
    client: FlaskClient,
    worker: User,
    conditions: list[Any],
    extra: dict[str, Any],
    field: str,
    message: str,
) -> None:
    response = post(client, worker, conditions=conditions, **extra)
    assert response.status_code == 422
    assert response.get_json()["errors"][field] == [message]
    assert db.session.query(Report).count() == 0


# --- late reports ----------------------------------------------------------------------


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"alert_group_wait": 0}  # a rise records its notifications at once


@pytest.mark.committing
def test_a_late_report_is_kept_but_opens_nothing_and_emails_nothing(
    client: FlaskClient, worker: User, coordinator: User
) -> None:
    ttl = current_app.config["SETTINGS"].situation_ttl_days
    old = (clock.today() - timedelta(days=ttl + 1)).isoformat()
    response = post(client, worker, visit_date=old, conditions=list(FIVE), offer_types=[IND, COL])
    assert response.status_code == 201
    data = response.get_json()
    assert data["counted"] is False
    assert f"plus de {ttl} jours" in data["reason"]
    assert "ne change pas le niveau" in data["reason"]
    assert data["level"]["colour"] == "vert"
    assert db.session.query(Report).count() == 1
    assert db.session.query(Situation).count() == 0
    assert db.session.query(AlertEvent).count() == 0
    assert db.session.query(Notification).count() == 0
    # A visit on the last counted day still counts.
    response = post(
        client,
        worker,
        visit_date=(clock.today() - timedelta(days=ttl)).isoformat(),
        conditions=["SEC-01"],
        offer_types=[IND],
    )
    assert response.get_json()["counted"] is True and "reason" not in response.get_json()
    assert db.session.query(Notification).count() > 0
