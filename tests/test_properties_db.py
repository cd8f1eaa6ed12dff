"""Properties of R2–R4 through the real services and database (SQLite).

Two establishments receive the same reports, one in another order or with
repeats: their levels must be equal.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, current_app
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from barometre import create_app, services
from barometre.extensions import db
from barometre.levels import GREEN
from barometre.models import (
    Establishment,
    LevelChange,
    Report,
    Situation,
    report_condition,
    report_offer_type,
    situation_report,
)
from barometre.seed import seed_referentiel
from tests.conftest import make_settings, report_input

CONDITIONS = ["ACC-01", "ACC-02", "SEC-01", "SEC-03", "OFF-06", "CON-01", "OFF-08"]
OFFERS = ["individuel", "collectif", "cellulaire"]

a_report = st.tuples(
    st.lists(st.sampled_from(CONDITIONS), min_size=1, max_size=3, unique=True),
    st.lists(st.sampled_from(OFFERS), min_size=1, max_size=3, unique=True),
)


@pytest.fixture(scope="module")
def module_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    app = create_app(make_settings(Path(tmp_path_factory.mktemp("props"))))
    with app.app_context():
        db.create_all()
        seed_referentiel(db.session)
        db.session.commit()
        yield app


def reset() -> None:
    for table in (situation_report, report_condition, report_offer_type):
        db.session.execute(delete(table))
    for model in (Situation, LevelChange, Report):
        db.session.execute(delete(model))
    for establishment in db.session.scalars(select(Establishment)):
        establishment.store_level(GREEN)
    db.session.commit()


def file_all(slug: str, reports: list[tuple[list[str], list[str]]]) -> tuple[object, ...]:
    for conditions, offers in reports:
        data = report_input(slug, tuple(conditions), tuple(offers))
        services.record_report(db.session, data, None, current_app.config["SETTINGS"])
    db.session.commit()
    establishment = db.session.scalar(select(Establishment).where(Establishment.slug == slug))
    assert establishment is not None
    level = establishment.level
    return level.colour, level.step, level.offer_types, level.red_blocked_by_diversity


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(a_report, max_size=8), st.randoms())
def test_order_does_not_matter(module_app: Flask, reports: list, rnd: object) -> None:
    reset()
    shuffled = list(reports)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert file_all("haren", reports) == file_all("saint-gilles", shuffled)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(a_report, max_size=6), st.lists(st.integers(0, 5), max_size=6))
def test_repeats_do_not_matter(module_app: Flask, reports: list, repeats: list[int]) -> None:
    reset()
    repeated = list(reports) + [reports[i] for i in repeats if i < len(reports)]
    assert file_all("haren", reports) == file_all("saint-gilles", repeated)
