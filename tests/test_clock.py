"""The day and the local hour follow TIMEZONE, not a zone written in the code."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from flask import Flask
from freezegun import freeze_time

from barometre import clock
from barometre.app import create_app
from tests.conftest import make_settings


@pytest.fixture
def auckland(tmp_path: Any) -> Flask:
    return create_app(make_settings(tmp_path, timezone="Pacific/Auckland"))


def test_today_is_the_day_where_visits_happen(auckland: Flask) -> None:
    with freeze_time("2026-11-30 12:00:00"):
        assert clock.today() == date(2026, 11, 30)  # Brussels, outside an app
        with auckland.app_context():
            assert clock.today() == date(2026, 12, 1)  # 01:00 the next day in Auckland
            assert clock.local_day(datetime(2026, 6, 30, 13, 0)) == date(2026, 7, 1)


def test_a_local_hour_is_stored_in_utc(auckland: Flask) -> None:
    with auckland.app_context():
        # 08:00 in Auckland (NZDT, UTC+13) on 1 December is 19:00 UTC the day before.
        assert clock.local_moment(date(2026, 12, 1), 8) == datetime(2026, 11, 30, 19, 0)
    assert clock.local_moment(date(2026, 12, 1), 8) == datetime(2026, 12, 1, 7, 0)
