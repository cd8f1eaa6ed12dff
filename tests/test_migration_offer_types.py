"""The migration to offer types per condition, run on old-shape rows on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from barometre import create_app
from barometre.extensions import db
from barometre.models import Report
from tests.conftest import BOTH, make_settings

pytestmark = BOTH  # the embedded mode runs these too

BEFORE = "5b7e2c9a41d3"  # the revision before offer types per condition


@pytest.fixture
def old_app(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Flask]:
    """An app whose schema is the one before offer types per condition."""
    url = request.getfixturevalue("pg_empty_url") if backend == "postgresql" else ""
    app = create_app(make_settings(tmp_path, url))
    with app.app_context():
        _reset(backend)
        upgrade(revision=BEFORE)
        yield app
        db.session.remove()
        _reset(backend)
        db.engine.dispose()


def _reset(backend: str) -> None:
    if backend == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))


def _insert(table: str, **values: Any) -> None:
    columns = ", ".join(values)
    params = ", ".join(f":{name}" for name in values)
    db.session.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({params})"), values)


def _old_report(report_id: int, conditions: list[int], offer_types: list[int]) -> None:
    _insert(
        "report",
        id=report_id,
        establishment_id=1,
        visit_date=date(2026, 11, 20),
        submitted_at=datetime(2026, 11, 20, 10, 0),
        description="",
        review_state="unreviewed",
        review_reason="",
    )
    for condition_id in conditions:
        _insert("report_condition", report_id=report_id, condition_id=condition_id)
    for offer_type_id in offer_types:
        _insert("report_offer_type", report_id=report_id, offer_type_id=offer_type_id)


def test_every_condition_of_an_old_report_keeps_the_reports_types(old_app: Flask) -> None:
    _insert(
        "category", id=1, code="ACC", label_fr="Accessibilité", label_nl="", label_en="", position=1
    )
    for index in (1, 2, 3):
        _insert(
            "condition",
            id=index,
            code=f"ACC-0{index}",
            category_id=1,
            label_fr=f"C{index}",
            label_nl="",
            label_en="",
            examples="",
            keywords="",
            position=index,
        )
    # Positions give the usual order, whatever the ids.
    offers = ((1, "cellulaire", 3), (2, "individuel", 1), (3, "collectif", 2))
    for offer_id, code, position in offers:
        _insert(
            "offer_type",
            id=offer_id,
            code=code,
            label_fr=code,
            label_nl="",
            label_en="",
            position=position,
        )
    _insert(
        "establishment",
        id=1,
        slug="haren",
        name="Haren",
        active=True,
        committee_note="",
        colour="vert",
        step=0,
        open_situations=0,
        offer_types="",
        red_blocked=False,
        open_facts="[]",
        revision=1,
    )
    _old_report(1, [1, 2, 3], [1, 2])  # three conditions, cellulaire + individuel
    _old_report(2, [2], [3])  # one condition, collectif
    db.session.commit()

    upgrade()

    rows = db.session.execute(
        text(
            "SELECT report_id, condition_id, offer_types FROM report_condition"
            " ORDER BY report_id, condition_id"
        )
    ).all()
    assert [tuple(r) for r in rows] == [
        (1, 1, "individuel,cellulaire"),
        (1, 2, "individuel,cellulaire"),
        (1, 3, "individuel,cellulaire"),
        (2, 2, "collectif"),
    ]
    first = db.session.get_one(Report, 1)
    assert [(c.code, types) for c, types in first.condition_types()] == [
        ("ACC-01", ("individuel", "cellulaire")),
        ("ACC-02", ("individuel", "cellulaire")),
        ("ACC-03", ("individuel", "cellulaire")),
    ]
    assert db.session.get_one(Report, 2).types_for(2) == ("collectif",)
    db.session.remove()

    downgrade(revision=BEFORE)  # and back: the old shape is intact
    count = db.session.execute(text("SELECT count(*) FROM report_condition")).scalar()
    assert count == 4
