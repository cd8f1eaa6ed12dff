"""N+1 guard: the SQL statements of each barometer page do not grow with the data.

Not a timing: the statements are counted with a `before_cursor_execute` hook
(bench.querycount), first with 2 establishments and a few reports, then with
many more establishments, reports, open and closed situations and level
changes. The count of every page must stay the same, and small.
"""

from __future__ import annotations

import pytest
from flask import Flask, current_app
from flask.testing import FlaskClient

from barometre.datacache import clear_caches
from barometre.extensions import db
from barometre.models import ROLE_COORDINATOR, Establishment, Report, Situation, User
from barometre.referentiel import CONDITIONS
from barometre.services import resolve_situation
from barometre.states import SituationState
from bench.querycount import count_queries
from tests.conftest import file_report, login, make_user

PAGES = ("/", "/api/v1/establishments", "/api/v1/establishments/haren")
MAX_QUERIES = 6
OFFER_TYPES = ("individuel", "collectif", "cellulaire")


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"public_barometer": True}


def queries_per_page(client: FlaskClient) -> dict[str, int]:
    """Statements of each page with its cached lists emptied: the full work, not a hit."""
    counts = {}
    for page in PAGES:
        assert client.get(page).status_code == 200  # warm: first-request work is not the page's
        clear_caches()
        db.session.remove()  # each request starts with an empty session, as in production
        with count_queries(db.engine) as log:
            assert client.get(page).status_code == 200
        db.session.remove()
        counts[page] = log.count
    return counts


def grow(worker_id: int, establishments: int, reports_each: int) -> None:
    """More establishments, each with reports on several conditions and offer types."""
    worker = db.session.get(User, worker_id)
    for n in range(establishments):
        db.session.add(Establishment(slug=f"prison-{n}", name=f"Prison {n}"))
    db.session.commit()
    slugs = ["haren", "saint-gilles", *(f"prison-{n}" for n in range(establishments))]
    for slug in slugs:
        for k in range(reports_each):
            file_report(
                worker,
                establishment=slug,
                conditions=(CONDITIONS[k % len(CONDITIONS)].code,),
                offer_types=(OFFER_TYPES[k % 3],),
                days_ago=k % 20,
            )


def close_some(coordinator_id: int) -> None:
    """Closed situations and falls of level belong to the data too."""
    coordinator = db.session.get(User, coordinator_id)
    assert coordinator is not None
    settings = current_app.config["SETTINGS"]
    haren = db.session.query(Establishment).filter_by(slug="haren").one()
    open_ids = [
        s.id
        for s in db.session.query(Situation).filter_by(
            establishment_id=haren.id, status=SituationState.OPEN
        )
    ]
    for situation_id in open_ids[:3]:
        resolve_situation(
            db.session, situation_id, coordinator, "Réglé avec la direction.", settings
        )
        db.session.commit()


@pytest.mark.parametrize("visitor", ["anonymous", "worker"])
def test_page_queries_do_not_grow_with_data(app: Flask, client: FlaskClient, visitor: str) -> None:
    worker = make_user()
    worker_id, coordinator_id = worker.id, make_user(ROLE_COORDINATOR).id
    if visitor == "worker":
        login(client, worker)
    grow(worker_id, establishments=0, reports_each=1)
    small = queries_per_page(client)

    grow(worker_id, establishments=12, reports_each=8)
    close_some(coordinator_id)
    large = queries_per_page(client)

    assert large == small, f"queries grew with the data: {small} → {large}"
    assert max(large.values()) <= MAX_QUERIES, large


def test_the_counter_sees_an_n_plus_one(app: Flask) -> None:
    """The guard can fail: a loop of lazy loads is counted, one statement per row."""
    grow(make_user().id, establishments=3, reports_each=1)
    db.session.remove()

    with count_queries(db.engine) as log:
        names = {r.establishment.name for r in db.session.query(Report)}
    assert len(names) == 5
    assert log.count == 1 + 5  # the reports, then one lazy load per establishment
