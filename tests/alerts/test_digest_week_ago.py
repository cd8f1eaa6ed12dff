"""« Il y a une semaine » in the digest and on `/`: one function, `history.levels_at`.

The digest used to replay its own 12-week timeline while `/` asked
`history.levels_at`. Each timeline below is built through the live services
with frozen time, then read at one moment by both — the digest's content, the
card of `/` — and by `levels_at` itself: the same level a week ago, the same trend.
`now` is midnight in Brussels, where `/`'s "a week ago" (midnight, seven days
before today) and the digest's (seven days before it is made) are one moment.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask, current_app
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import select

from alerts import digest
from barometre import services
from barometre.extensions import db
from barometre.gauge import level_words
from barometre.history import levels_at
from barometre.models import ROLE_COORDINATOR, ROLE_WORKER, Situation
from tests.conftest import file_report, make_user

from .conftest import establishment

NOW = datetime(2026, 2, 15, 23, 0)  # Monday 16 February 2026, 00:00 in Brussels (CET)
WEEK_AGO = NOW - timedelta(days=7)  # Monday 9 February, 00:00 in Brussels
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)
LONG_AGO = NOW - timedelta(weeks=20)  # before the digest's 12-week chart

# (when, "rise" or "fall") in order; then the level a week ago and the trend.
TIMELINES: dict[str, tuple[list[tuple[datetime, str]], str, str]] = {
    "never-changed": ([], "vert", "same"),
    "rose-during-the-week": ([(WEEK_AGO + DAY, "rise")], "vert", "up"),
    "rose-exactly-a-week-ago": ([(WEEK_AGO, "rise")], "orange 1 sur 5", "same"),
    "rose-a-second-after": ([(WEEK_AGO + SECOND, "rise")], "vert", "up"),
    "rose-a-second-before-fell-since": (
        [(WEEK_AGO - SECOND, "rise"), (WEEK_AGO + 2 * DAY, "fall")],
        "orange 1 sur 5",
        "down",
    ),
    "rose-long-ago-only": ([(LONG_AGO, "rise")], "orange 1 sur 5", "same"),
    "rose-long-ago-fell-this-week": (
        [(LONG_AGO, "rise"), (WEEK_AGO + DAY, "fall")],
        "orange 1 sur 5",
        "down",
    ),
    "rose-long-ago-and-this-week": (
        [(LONG_AGO, "rise"), (LONG_AGO + DAY, "rise"), (WEEK_AGO + DAY, "rise")],
        "orange 2 sur 5",
        "up",
    ),
    "up-and-down-within-the-week": (
        [(WEEK_AGO + DAY, "rise"), (WEEK_AGO + 2 * DAY, "fall")],
        "vert",
        "same",
    ),
}
CONDITIONS = ("ACC-01", "ACC-02", "SEC-01")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # Situations last the whole story (nothing expires on the way); `/` is public.
    return {"situation_ttl_days": 365, "public_barometer": True}


def live(steps: list[tuple[datetime, str]]) -> None:
    """Each step through the services, at its own time, at Haren."""
    worker, coordinator = make_user(ROLE_WORKER), make_user(ROLE_COORDINATOR)
    rises = iter(CONDITIONS)
    for moment, step in steps:
        with freeze_time(moment):
            if step == "rise":
                file_report(worker, conditions=(next(rises),))
                continue
            newest = db.session.scalars(
                select(Situation)
                .where(Situation.status == "open")
                .order_by(Situation.id.desc())
                .limit(1)
            ).one()
            settings = current_app.config["SETTINGS"]
            services.resolve_situation(db.session, newest.id, coordinator, "ok", settings)
            db.session.commit()


def card_trend(page: str, slug: str) -> str:
    """The trend on the card of `slug` (its first `data-trend` after the card's start)."""
    found = re.search(rf'id="etablissement-{slug}".*?data-trend="(\w+)"', page, re.DOTALL)
    assert found is not None, page
    return found.group(1)


@pytest.mark.parametrize("case", sorted(TIMELINES))
def test_the_digest_and_the_barometer_read_the_same_level_a_week_ago(
    app: Flask, client: FlaskClient, case: str
) -> None:
    steps, level_then, trend = TIMELINES[case]
    live(steps)
    haren = establishment("haren").id
    with freeze_time(NOW):
        found = digest.content(db.session, None, NOW, "fr", current_app.config["SETTINGS"])
        page = client.get("/").get_data(as_text=True)
    by_name = {d.name: d for d in found}
    haren_digest, saint_gilles = by_name["Prison de Haren"], by_name["Prison de Saint-Gilles"]
    assert (haren_digest.week_ago, haren_digest.trend) == (level_then, trend)
    assert card_trend(page, "haren") == trend
    recorded = levels_at(db.session, WEEK_AGO)
    then = recorded.get(haren)
    assert (then is None) == (steps == [])  # never changed: missing, its level now is then's
    assert level_words(*(then or ("vert", 0)), "bare") == level_then
    assert levels_at(db.session, WEEK_AGO, [haren]) == ({haren: then} if then else {})
    # Saint-Gilles never changed: green then and now, on both.
    assert (saint_gilles.week_ago, saint_gilles.trend) == ("vert", "same")
    assert card_trend(page, "saint-gilles") == "same"
