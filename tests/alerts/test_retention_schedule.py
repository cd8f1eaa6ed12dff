"""The retention purge is scheduled in beat and runs as a thin task."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from freezegun import freeze_time

from alerts import tasks
from alerts.celery_app import beat_schedule, use_flask_app
from barometre.extensions import db
from barometre.models import Report, User
from tests.conftest import file_report


@pytest.fixture
def in_process(app: Flask) -> Iterator[None]:
    use_flask_app(app)
    yield
    use_flask_app(None)


def test_beat_schedules_the_daily_purge(app: Flask) -> None:
    schedule = beat_schedule(app.config["SETTINGS"])
    assert schedule["retention"]["task"] == "alerts.purge_retention"


def test_the_task_purges_old_text_and_keeps_the_report(
    app: Flask, worker: User, in_process: None
) -> None:
    with freeze_time("2024-01-10 10:00:00"):
        old = file_report(worker, description="Texte ancien").report
    with freeze_time("2026-02-01 10:00:00"):
        result = tasks.purge_retention.apply().get()
    assert result["descriptions"] == 1
    db.session.expire_all()
    kept = db.session.get(Report, old.id)
    assert kept is not None and kept.description == "" and kept.description_purged_at is not None
