"""Concurrent review actions on one object: one winner, the others a clean refusal.

Issue 11, item 4. Each state-changing action of the console (reject, validate,
resolve, retry, export start) is run by N threads at once on one object, through
the service and through its HTTP route, on SQLite and PostgreSQL: exactly one
call wins, one audit entry is written, no call answers 5xx or raises anything
but the domain's Conflict.

The window between reading an object and locking its establishment is widened
(`slow_lock`) so that every thread has read the state before the first one
commits: a service that decided on what it read before the lock lets several win.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from alerts import delivery
from alerts.models import RISE, TO_SERVICE, Notification, NotificationState
from barometre import clock, services, signals
from barometre.console import exports
from barometre.console.filters import Filters
from barometre.console.models import Export
from barometre.errors import Conflict
from barometre.extensions import db
from barometre.models import (
    ApiToken,
    AuditEntry,
    Report,
    Situation,
    User,
)
from barometre.states import JobState
from tests.conftest import bearer, file_report
from tests.races import N, console_clients, race

pytestmark = pytest.mark.committing  # other connections, threads or processes read its commits


@pytest.fixture
def slow_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every thread reads the object, then waits, then takes the establishment's lock."""
    lock = services.lock_establishment

    def slow(session: Any, establishment_id: int) -> Any:
        time.sleep(0.2)
        return lock(session, establishment_id)

    monkeypatch.setattr(services, "lock_establishment", slow)


def audits(action: str) -> int:
    db.session.rollback()
    query = select(func.count(AuditEntry.id)).where(AuditEntry.action == action)
    return int(db.session.scalar(query) or 0)


def only_conflicts(results: list[Any]) -> list[Any]:
    """The winners; every loser must be the domain's Conflict, nothing else."""
    losers = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(r, Conflict) for r in losers), losers
    return [r for r in results if not isinstance(r, BaseException)]


def flashed(client: FlaskClient) -> list[str]:
    with client.session_transaction() as session:
        return [category for category, _message in session.get("_flashes", [])]


def one_success(app: Flask, clients: list[FlaskClient], post: Callable[[FlaskClient], Any]) -> None:
    """N console posts at once: all redirect (no 5xx), one flashes success, the rest an error."""
    responses = race(app, lambda i: post(clients[i]))
    assert [getattr(r, "status_code", r) for r in responses] == [302] * len(clients)
    categories = [flashed(c) for c in clients]
    assert sorted(categories) == [["error"]] * (len(clients) - 1) + [["success"]]


def api_headers(coordinator: User) -> dict[str, str]:
    """A coordinator's token, already marked as used: the requests do not queue on its row."""
    headers = bearer(coordinator)
    db.session.execute(update(ApiToken).values(last_used_at=clock.now()))
    db.session.commit()
    return headers


def report_with_situation(worker: User) -> Report:
    outcome = file_report(worker, conditions=("SEC-01", "ACC-01"))
    return outcome.report


# --- reject ----------------------------------------------------------------------------------


def test_concurrent_rejects_of_one_report_have_one_winner(
    app: Flask, worker: User, coordinator: User, slow_lock: None
) -> None:
    report_id, actor_id = report_with_situation(worker).id, coordinator.id

    def reject(_index: int) -> int:
        actor = db.session.get_one(User, actor_id)
        services.reject_report(db.session, report_id, actor, "Doublon", app.config["SETTINGS"])
        db.session.commit()
        return report_id

    assert len(only_conflicts(race(app, reject))) == 1
    assert audits("report.reject") == 1
    assert db.session.get_one(Report, report_id).review_state == "rejected"


def test_concurrent_rejects_through_the_console(
    app: Flask, worker: User, coordinator: User, slow_lock: None
) -> None:
    report_id = report_with_situation(worker).id
    clients = console_clients(app, coordinator)
    url = f"/coordination/signalements/{report_id}/rejeter"
    one_success(app, clients, lambda c: c.post(url, data={"reason": "Doublon"}))
    assert audits("report.reject") == 1


def test_concurrent_rejects_through_the_api(
    app: Flask, worker: User, coordinator: User, slow_lock: None
) -> None:
    report_id = report_with_situation(worker).id
    headers = api_headers(coordinator)
    url = f"/api/v1/reports/{report_id}/reject"
    responses = race(
        app, lambda _i: app.test_client().post(url, json={"reason": "Doublon"}, headers=headers)
    )
    codes = sorted(getattr(r, "status_code", 0) for r in responses)
    assert codes == [200] + [409] * (N - 1)
    conflict = next(r for r in responses if getattr(r, "status_code", 0) == 409)
    assert conflict.get_json()["error"] == "Ce signalement est déjà rejeté."
    assert audits("report.reject") == 1


# --- validate (reports count only once validated) ---------------------------------------------


class TestValidate:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"reports_require_review": True}

    def test_concurrent_validations_attach_the_report_once(
        self, app: Flask, worker: User, coordinator: User, slow_lock: None
    ) -> None:
        report_id, actor_id = report_with_situation(worker).id, coordinator.id

        def validate(_index: int) -> int:
            actor = db.session.get_one(User, actor_id)
            services.validate_report(db.session, report_id, actor, app.config["SETTINGS"])
            db.session.commit()
            return report_id

        assert len(only_conflicts(race(app, validate))) == 1
        assert audits("report.validate") == 1
        open_rows = db.session.scalars(select(Situation).where(Situation.status == "open")).all()
        assert sorted(s.report_count for s in open_rows) == [1, 1]

    def test_concurrent_validations_through_the_console(
        self, app: Flask, worker: User, coordinator: User, slow_lock: None
    ) -> None:
        report_id = report_with_situation(worker).id
        clients = console_clients(app, coordinator)
        url = f"/coordination/signalements/{report_id}/valider"
        one_success(app, clients, lambda c: c.post(url, data={}))
        assert audits("report.validate") == 1


# --- resolve ---------------------------------------------------------------------------------


def open_situation_id(worker: User) -> int:
    report_with_situation(worker)
    found = db.session.scalar(select(Situation.id).where(Situation.status == "open"))
    assert found is not None
    return int(found)


def test_concurrent_resolutions_of_one_situation_have_one_winner(
    app: Flask, worker: User, coordinator: User, slow_lock: None
) -> None:
    situation_id, actor_id = open_situation_id(worker), coordinator.id

    def resolve(_index: int) -> int:
        actor = db.session.get_one(User, actor_id)
        settings = app.config["SETTINGS"]
        services.resolve_situation(db.session, situation_id, actor, "Réglé", settings)
        db.session.commit()
        return situation_id

    assert len(only_conflicts(race(app, resolve))) == 1
    assert audits("situation.resolve") == 1


def test_concurrent_resolutions_through_the_console_and_the_api(
    app: Flask, worker: User, coordinator: User, slow_lock: None
) -> None:
    first, second = file_report(worker, conditions=("SEC-01", "ACC-01")).new_situations
    first_id, second_id = first.id, second.id
    clients = console_clients(app, coordinator)
    url = f"/coordination/situations/{first_id}/resoudre"
    one_success(app, clients, lambda c: c.post(url, data={"note": "Réglé"}))
    headers = api_headers(coordinator)
    api_url = f"/api/v1/situations/{second_id}/resolve"
    responses = race(
        app, lambda _i: app.test_client().post(api_url, json={"note": "Réglé"}, headers=headers)
    )
    assert sorted(getattr(r, "status_code", 0) for r in responses) == [200] + [409] * (N - 1)
    assert audits("situation.resolve") == 2


# --- retry a notification --------------------------------------------------------------------


@pytest.fixture
def handed_over(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The ids handed over for sending after commit (recorded, not sent: a retry that
    fails again would be retried again, by right)."""
    handed: list[int] = []
    monkeypatch.setattr(delivery.handoff, "after_commit", lambda _s, ids: handed.extend(ids))
    return handed


@pytest.fixture
def failed_notification(app: Flask) -> int:
    """A notification that failed (a coordinator may retry it)."""
    row = Notification(
        kind=RISE,
        recipient="casse@svc.test",
        recipient_kind=TO_SERVICE,
        state=NotificationState.FAILED,
        attempts=1,
        give_up_at=clock.now(),
        last_error="550 5.1.1 Boîte inconnue",
    )
    db.session.add(row)
    db.session.commit()
    return row.id


def test_concurrent_retries_of_one_notification_have_one_winner(
    app: Flask, failed_notification: int, handed_over: list[int]
) -> None:
    notification_id = failed_notification

    def retry(_index: int) -> bool:
        won = delivery.retry(db.session, notification_id, None)
        db.session.commit()
        return won

    assert sorted(race(app, retry)) == [False] * (N - 1) + [True]
    assert audits("notification.retry") == 1 and handed_over == [notification_id]
    assert db.session.get_one(Notification, notification_id).state == NotificationState.PENDING


def test_concurrent_retries_through_the_console(
    app: Flask, coordinator: User, failed_notification: int, handed_over: list[int]
) -> None:
    clients = console_clients(app, coordinator)
    url = f"/coordination/notifications/{failed_notification}/retry"
    one_success(app, clients, lambda c: c.post(url))
    assert audits("notification.retry") == 1 and handed_over == [failed_notification]


# --- export start ----------------------------------------------------------------------------


def test_concurrent_starts_of_one_export_write_one_file(app: Flask, coordinator: User) -> None:
    row = exports.create_export(db.session, coordinator, "reports", "csv", Filters())
    db.session.commit()
    export_id = row.id
    claims = race(app, lambda _i: exports.claim(db.session, export_id))
    assert sorted(claims) == [False] * (N - 1) + [True]
    db.session.rollback()
    db.session.get_one(Export, export_id).state = "pending"  # start again, now through run
    db.session.commit()
    race(app, lambda _i: exports.run_export(export_id))
    db.session.rollback()
    done = db.session.get_one(Export, export_id)
    assert done.state == JobState.DONE
    assert len(list(exports.exports_dir().iterdir())) == 1


def test_concurrent_export_requests_through_the_console(app: Flask, coordinator: User) -> None:
    """Each request is its own export: N requests, N rows, N audit entries, no 5xx."""
    clients = console_clients(app, coordinator, 10)
    started: list[int] = []

    def take(_app: Flask, task: str, job_id: int) -> bool:
        started.append(job_id)
        return True

    with signals.job_asked.connected_to(take):
        responses = race(
            app,
            lambda i: clients[i].post(
                "/coordination/exports", data={"kind": "reports", "format": "csv"}
            ),
            10,
        )
    assert [getattr(r, "status_code", r) for r in responses] == [302] * 10
    assert len(set(started)) == len(started) == 10
    claims = race(app, lambda i: exports.claim(db.session, started[i % 10]), 20)
    assert sum(1 for c in claims if c is True) == 10
    assert audits("export.create") == 10
