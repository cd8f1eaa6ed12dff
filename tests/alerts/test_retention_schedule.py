"""The retention purge is scheduled in beat and runs as a thin task."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from freezegun import freeze_time

from alerts.celery_app import beat_schedule, celery_app, use_flask_app
from barometre import clock
from barometre.extensions import db
from barometre.models import Report, User
from barometre.retention import PURGE_RETENTION
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
        result = celery_app.tasks[PURGE_RETENTION].apply().get()
    assert result["descriptions"] == 1
    db.session.expire_all()
    kept = db.session.get(Report, old.id)
    assert kept is not None and kept.description == "" and kept.description_purged_at is not None


def test_every_task_has_a_soft_and_a_hard_time_limit() -> None:
    from alerts.celery_app import TIME_LIMITS, celery_app

    ours = {name: task for name, task in celery_app.tasks.items() if name.startswith("alerts.")}
    assert set(ours) == set(TIME_LIMITS)
    for name, task in ours.items():
        assert 0 < task.soft_time_limit < task.time_limit, name
        assert (task.soft_time_limit, task.time_limit) == TIME_LIMITS[name]


def test_beat_entries_expire_before_the_next_one(app: Flask) -> None:
    """A worker away for an hour finds one reconcile waiting, not sixty."""
    schedule = beat_schedule(app.config["SETTINGS"])
    assert {name: entry["options"]["expires"] for name, entry in schedule.items()} == {
        "reconcile": 55.0,
        "retention": 3600.0,
        "weekly-digest": 3600.0,
    }
    assert schedule["reconcile"]["options"]["expires"] < schedule["reconcile"]["schedule"]


def make_export_file(app: Flask, coordinator: User, name: str) -> tuple[int, Path]:
    from barometre.console.models import Export

    folder = Path(app.config["SETTINGS"].instance_path) / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("N°;Description\n1;Texte d'un signalement\n", encoding="utf-8")
    export = Export(
        kind="reports",
        format="csv",
        state="done",
        file_path=str(path),
        finished_at=clock.now(),
        created_by_id=coordinator.id,
    )
    db.session.add(export)
    db.session.commit()
    return export.id, path


def test_the_retention_task_deletes_export_files_after_72_hours(
    app: Flask, coordinator: User, in_process: None
) -> None:
    from barometre.console.models import Export

    export_id, path = make_export_file(app, coordinator, "reports-1-abc.csv")
    orphan = path.with_name("reports-2-killed-mid-run.csv")
    orphan.write_text("N°;Description\n", encoding="utf-8")
    with freeze_time(datetime.now() + timedelta(hours=71)):
        assert celery_app.tasks[PURGE_RETENTION].apply().get()["export_files"] == 0
    assert path.exists() and orphan.exists()
    with freeze_time(datetime.now() + timedelta(hours=73)):
        assert celery_app.tasks[PURGE_RETENTION].apply().get()["export_files"] == 2
    assert not path.exists() and not orphan.exists()
    db.session.expire_all()
    row = db.session.get(Export, export_id)
    assert row is not None and row.file_path == "" and row.state == "done"


def test_export_retention_hours_is_a_setting(app: Flask, coordinator: User) -> None:
    from barometre.retention import purge_export_files
    from barometre.settings import Settings, SettingsError

    settings = app.config["SETTINGS"].with_overrides(export_retention_hours=1)
    _export_id, path = make_export_file(app, coordinator, "reports-3-abc.csv")
    with freeze_time(datetime.now() + timedelta(minutes=61)):
        assert purge_export_files(db.session, settings) == 1
    assert not path.exists()
    assert Settings.from_env({}).export_retention_hours == 72
    with pytest.raises(SettingsError, match="EXPORT_RETENTION_HOURS: au moins 1 heure"):
        Settings.from_env({"EXPORT_RETENTION_HOURS": "0"})


def test_history_files_left_by_an_import_job_that_never_ran_go_after_72_hours(
    app: Flask, coordinator: User, in_process: None
) -> None:
    """An import job deletes its uploads once run; one whose process died leaves them, with
    report text in them: the retention purge takes them as it takes export files."""
    import os

    from barometre.console.import_jobs import REPORTS_FILE, create_import

    history = b"reference;establishment;visit_date;condition;offer_types;description\n"
    history += b"R-1;haren;06/01/2025;SEC-01;collectif;Texte d'un signalement\n"

    def left_behind(hours_ago: float) -> Path:
        folder = Path(create_import(db.session, coordinator, history, None, False).folder)
        db.session.commit()  # never run: its process died before it
        moment = (datetime.now() - timedelta(hours=hours_ago)).timestamp()
        os.utime(folder, (moment, moment))
        return folder

    old, young = left_behind(73), left_behind(71)
    assert celery_app.tasks[PURGE_RETENTION].apply().get()["export_files"] == 1
    assert not old.exists()
    assert (young / REPORTS_FILE).exists()
