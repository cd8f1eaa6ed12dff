"""What an establishment keeps of its open situations (`open_facts`) never drifts from them.

Lists of the barometer take their breakdown from `Establishment.open_facts`,
the detail page from the situations themselves; every service that changes
situations must keep both in step.
"""

from __future__ import annotations

import random

import pytest
from flask import current_app
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import select

from barometre import services
from barometre.extensions import db
from barometre.models import ROLE_COORDINATOR, Establishment, Report, Situation, User
from barometre.states import SituationState
from tests.conftest import file_report, make_user

CONDITIONS = ("ACC-01", "ACC-03", "SEC-01", "SEC-03", "OFF-06", "OFF-08", "CON-01")
OFFERS = ("individuel", "collectif", "cellulaire")


def facts_from_situations(establishment: Establishment) -> list[list[object]]:
    rows = db.session.scalars(
        select(Situation).where(
            Situation.establishment_id == establishment.id, Situation.status == SituationState.OPEN
        )
    )
    return sorted([s.condition_id, s.offer_types] for s in rows)


def assert_in_step(client: FlaskClient) -> None:
    db.session.expire_all()
    listed = {
        e["slug"]: e["breakdown"]
        for e in client.get("/api/v1/establishments").json["establishments"]
    }
    for establishment in db.session.scalars(select(Establishment)):
        assert establishment.open_facts == facts_from_situations(establishment)
        detail = client.get(f"/api/v1/establishments/{establishment.slug}").json
        assert listed[establishment.slug] == detail["breakdown"]


def random_step(rng: random.Random, worker: User, coordinator: User) -> None:
    settings = current_app.config["SETTINGS"]
    action = rng.choice(("report", "report", "report", "resolve", "reject"))
    if action == "report":
        file_report(
            worker,
            establishment=rng.choice(("haren", "saint-gilles")),
            conditions=tuple(rng.sample(CONDITIONS, rng.randint(1, 2))),
            offer_types=tuple(rng.sample(OFFERS, rng.randint(1, 2))),
            days_ago=rng.randint(0, 5),
        )
        return
    if action == "resolve":
        open_ids = db.session.scalars(
            select(Situation.id).where(Situation.status == SituationState.OPEN)
        )
        candidates = list(open_ids)
        if candidates:
            services.resolve_situation(
                db.session, rng.choice(candidates), coordinator, "Réglé.", settings
            )
    else:
        report_ids = list(
            db.session.scalars(select(Report.id).where(Report.review_state != "rejected"))
        )
        if report_ids:
            services.reject_report(
                db.session, rng.choice(report_ids), coordinator, "Hors champ.", settings
            )
    db.session.commit()


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"public_barometer": True}


def test_open_facts_follow_every_service(client: FlaskClient) -> None:
    worker, coordinator = make_user(), make_user(ROLE_COORDINATOR)
    rng = random.Random(7)
    with freeze_time("2026-03-02 10:00:00"):
        for _ in range(25):
            random_step(rng, worker, coordinator)
        assert_in_step(client)
    with freeze_time("2026-04-20 10:00:00"):  # past the TTL: the next report expires the rest
        random_step(rng, worker, coordinator)
        file_report(worker, establishment="haren", conditions=("SEC-01",))
        assert_in_step(client)
        services.recompute_all(db.session, current_app.config["SETTINGS"])
        db.session.commit()
        assert_in_step(client)
