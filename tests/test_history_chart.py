"""The history chart and the list of changes equal the recorded level changes (R5).

A scenario is replayed week by week over 12 weeks with frozen time: reports
filed, situations resolved, reports rejected, situations expiring. The page's
SVG markers, its step line and its table rows must then be exactly the
LevelChange rows.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any
from xml.etree import ElementTree

import pytest
from flask import current_app
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import select

from barometre import services
from barometre.extensions import db
from barometre.models import Establishment, LevelChange, User
from barometre.presentation import CAUSES
from tests.conftest import file_report, login

IND, COLL, CELL = "individuel", "collectif", "cellulaire"
SVG = "{http://www.w3.org/2000/svg}"
LEVEL_WORDS = {0: "Code vert", 6: "Code rouge"} | {n: f"Code orange {n} sur 5" for n in range(1, 6)}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"public_barometer": True}


def replay_twelve_weeks(worker: User, coordinator: User) -> None:
    settings = current_app.config["SETTINGS"]
    weeks: list[Any] = [
        lambda: file_report(worker, conditions=("SEC-01",), offer_types=(IND,)),
        lambda: file_report(worker, conditions=("ACC-01", "ACC-02"), offer_types=(COLL,)),
        lambda: file_report(worker, conditions=("ACC-03",), offer_types=(IND,)),
        lambda: file_report(worker, conditions=("OFF-01",), offer_types=(CELL,)),  # rouge
        lambda: resolve("ACC-01"),
        lambda: file_report(worker, conditions=("SEC-01", "OFF-02"), offer_types=(IND,)),
        lambda: reject_last(),
        lambda: None,  # a quiet week
        lambda: file_report(worker, conditions=("CON-01",), offer_types=(COLL,)),
        lambda: services.recompute_all(db.session, settings),  # expiries of stale situations
        lambda: file_report(worker, conditions=("ACC-04",), offer_types=(CELL,)),
        lambda: resolve("CON-01"),
    ]

    def resolve(code: str) -> None:
        situation = next(
            s for s in services.open_situations(db.session, haren().id) if s.condition.code == code
        )
        services.resolve_situation(db.session, situation.id, coordinator, "Réglé", settings)

    def reject_last() -> None:
        report_id = max(
            r.id for s in services.open_situations(db.session, haren().id) for r in s.reports
        )
        services.reject_report(db.session, report_id, coordinator, "Hors sujet", settings)

    with freeze_time("2026-01-05 09:30:00") as frozen:
        for week in weeks:
            week()
            db.session.commit()
            frozen.tick(timedelta(weeks=1))


def haren() -> Establishment:
    row = db.session.scalar(select(Establishment).where(Establishment.slug == "haren"))
    assert row is not None
    return row


def recorded() -> list[LevelChange]:
    query = (
        select(LevelChange)
        .where(LevelChange.establishment_id == haren().id)
        .order_by(LevelChange.at, LevelChange.id)
    )
    return list(db.session.scalars(query))


def test_chart_and_table_equal_the_recorded_changes(
    client: FlaskClient, worker: User, coordinator: User
) -> None:
    replay_twelve_weeks(worker, coordinator)
    changes = recorded()
    causes = {c.cause for c in changes}
    assert {"report", "resolution", "rejection", "expiry"} <= causes  # the scenario covers them
    assert len(changes) >= 10

    with freeze_time("2026-03-30 12:00:00"):
        page = client.get("/etablissements/haren").get_data(as_text=True)
    expected = [(c.at.isoformat(), c.rank_after) for c in changes]

    svg_text = re.search(r"<svg [^>]*class=\"history\".*?</svg>", page, re.S)
    assert svg_text is not None
    svg = ElementTree.fromstring(svg_text.group(0))  # noqa: S314 - our own output
    markers = [
        (
            m.get("data-at"),
            int(m.get("data-rank") or -1),
            float(m.get("cx") or 0),
            float(m.get("cy") or 0),
        )
        for m in svg.iter(f"{SVG}circle")
    ]
    assert [(at, rank) for at, rank, _x, _y in markers] == expected
    xs = [x for _at, _rank, x, _y in markers]
    assert xs == sorted(xs)  # left to right in time
    assert len(set(xs)) == len({at for at, _rank, _x, _y in markers})  # one x per instant

    # The step line goes through every marker, at the height of its rank.
    line = svg.find(f"{SVG}polyline")
    assert line is not None
    points = [tuple(map(float, p.split(","))) for p in (line.get("points") or "").split()]
    assert len(points) == 2 + 2 * len(changes)
    for _at, rank, x, y in markers:
        assert (x, y) in points
        assert y == pytest.approx(12 + 196 * (6 - rank) / 6, abs=0.1)
    first_before = changes[0].rank_before
    assert points[0][1] == pytest.approx(12 + 196 * (6 - first_before) / 6, abs=0.1)
    assert points[-1][1] == markers[-1][3]  # the line ends at the current level

    # The text alternative: one table row per change, newest first, with its cause.
    rows = re.findall(
        r'<tr class="change" data-at="([^"]+)" data-rank="(\d)">(.*?)</tr>', page, re.S
    )
    assert [(at, int(rank)) for at, rank, _cells in rows] == list(reversed(expected))
    for (_at, rank, cells), change in zip(rows, reversed(changes), strict=True):
        text = html.unescape(re.sub(r"<[^>]+>", " ", cells))
        assert LEVEL_WORDS[int(rank)] in text
        assert str(CAUSES[change.cause]) in text
        assert str(change.open_situations) in text


def test_causes_name_the_conditions_for_signed_in_users_only(
    client: FlaskClient, worker: User, coordinator: User
) -> None:
    replay_twelve_weeks(worker, coordinator)
    with freeze_time("2026-03-30 12:00:00"):
        anonymous = client.get("/etablissements/haren").get_data(as_text=True)
        login(client, worker)
        signed = client.get("/etablissements/haren").get_data(as_text=True)
    assert "ACC-04" not in anonymous
    assert 'class="code">ACC-04</span>' in signed
