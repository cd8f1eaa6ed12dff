"""Reminders while red (issue 19): every RED_REMINDER_DAYS to those who got the red.

Time is frozen: the reconciler (what beat and the embedded ticker run every
minute) is run once a day at the red's hour, and a real SMTP server receives.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask, current_app
from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory
from sqlalchemy import select

from alerts import reminders
from alerts.models import RED, REMINDER, AlertEvent, Notification
from alerts.recipients import set_preference
from alerts.reconcile import reconcile
from alerts.trouble import trouble_counts
from barometre import services
from barometre.extensions import db
from barometre.models import Situation
from tests.conftest import file_report, login

from .conftest import notifications, rise_recipients
from .support import SmtpServer

pytestmark = pytest.mark.committing  # other connections, threads or processes read its commits

IND, COL = "individuel", "collectif"
FIVE = ("ACC-01", "ACC-02", "ACC-03", "SEC-01", "SEC-02")
START = datetime(2026, 3, 2, 5)  # 06:00 in Brussels


@pytest.fixture
def settings_overrides(smtp_server: SmtpServer) -> dict[str, Any]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_server.port,
        "alert_group_wait": 0,
        "mail_from": "barometre@fidex.test",
        "base_url": "https://barometre.example.org",
    }


@pytest.fixture
def frozen(app: Flask) -> Iterator[FrozenDateTimeFactory]:
    with freeze_time(START, real_asyncio=True) as factory:
        yield factory


def settings() -> services.Settings:
    return current_app.config["SETTINGS"]  # type: ignore[no-any-return]


def red_recipients(people: dict[str, Any]) -> dict[str, str]:
    return {**rise_recipients(people), people["red_only"]: "fr"}


def go_red(people: dict[str, Any]) -> None:
    file_report(people["worker"], conditions=FIVE, offer_types=(IND, COL))


def run_days(frozen: FrozenDateTimeFactory, first: int, last: int) -> None:
    """The reconciler once a day, at the red's hour, from day `first` to day `last`."""
    for day in range(first, last + 1):
        frozen.move_to(START + timedelta(days=day))
        reconcile(db.session, settings())
        db.session.commit()


def reminders_to(smtp: SmtpServer, address: str) -> list[Any]:
    return [m for m in smtp.collector.to(address) if "toujours" in m["Subject"]]


def reminder_days() -> list[int]:
    """The day (after START) of each reminder notification, one entry per address."""
    return sorted({(n.created_at - START).days for n in notifications(kind=REMINDER)})


def resolve_all(actor: Any) -> None:
    query = select(Situation).where(Situation.status == "open")
    for situation in db.session.scalars(query).all():
        services.resolve_situation(db.session, situation.id, actor, "Réglé", settings())
    db.session.commit()


def test_a_red_of_fifteen_days_sends_two_reminders_then_none_after_it_falls(
    people: dict[str, Any], smtp: SmtpServer, frozen: FrozenDateTimeFactory
) -> None:
    go_red(people)
    run_days(frozen, 1, 15)
    expected = red_recipients(people)
    rows = notifications(kind=REMINDER)
    assert sorted(n.recipient.lower() for n in rows) == sorted(
        a.lower() for a in [*expected, *expected]
    )
    assert {n.recipient: n.language for n in rows} == expected
    assert reminder_days() == [7, 14]
    assert {n.state for n in rows} == {"sent"}

    first, second = reminders_to(smtp, people["fr"])
    assert second["Subject"] == "Baromètre\xa0: toujours en code rouge à la prison de Haren"
    text = second.get_body(("plain",)).get_content()
    assert (
        "La prison de Haren est toujours en code rouge, depuis le 2 mars 2026 (14 jours)." in text
    )
    assert "Voir la page de la prison de Haren (lien personnel" in text
    assert "(7 jours)" in first.get_body(("plain",)).get_content()
    assert "Situations problématiques toujours ouvertes\xa0:" in text
    situations = text.split("Situations problématiques toujours ouvertes\xa0:")[1]
    assert situations.count("\n- ") == len(FIVE)  # every open situation, by its wording
    by_type = text.split("Par type d'offre\xa0:")[1].split("Situations")[0]
    assert by_type.count("\n- ") == 3  # one line per offer type, as in the other alerts
    assert "tous les 7 jours" in text
    assert "/alertes/preferences/" in text
    html = second.get_body(("html",)).get_content()
    assert "depuis le 2 mars 2026" in html and '<html lang="fr">' in html
    assert "Toujours en code rouge à la prison de Haren</h1>" in html
    assert ">Voir la page de la prison de Haren</a>" in html
    [_, dutch] = reminders_to_nl(smtp, people["nl"])
    assert dutch["Content-Language"] == "nl"
    assert "sinds 2 maart 2026" in dutch.get_body(("plain",)).get_content()

    resolve_all(people["coordinator"])  # the red ends
    run_days(frozen, 16, 30)
    assert reminder_days() == [7, 14]


def reminders_to_nl(smtp: SmtpServer, address: str) -> list[Any]:
    return [m for m in smtp.collector.to(address) if "nog steeds" in m["Subject"]]


def test_a_sweep_run_twice_or_late_sends_the_due_reminder_once(
    people: dict[str, Any], smtp: SmtpServer, frozen: FrozenDateTimeFactory
) -> None:
    go_red(people)
    frozen.move_to(START + timedelta(days=16))  # away for two periods: the latest only
    for _ in range(3):
        reminders.sweep(db.session, settings())
        db.session.commit()
    events = db.session.scalars(select(AlertEvent).where(AlertEvent.kind == REMINDER)).all()
    assert [e.reminder_number for e in events] == [2]
    assert len(reminders_to(smtp, people["red_only"])) == 1
    run_days(frozen, 17, 20)
    assert len(notifications(kind=REMINDER)) == len(red_recipients(people))


def test_two_sweeps_racing_record_one_reminder(
    app: Flask, people: dict[str, Any], smtp: SmtpServer, frozen: FrozenDateTimeFactory
) -> None:
    go_red(people)
    told = len(red_recipients(people))
    fr = people["fr"]
    frozen.move_to(START + timedelta(days=7))
    db.session.remove()
    start = threading.Barrier(2)
    counts: list[int] = []
    errors: list[BaseException] = []

    def sweep() -> None:
        with app.app_context():
            try:
                start.wait()
                counts.append(len(reminders.sweep(db.session, settings())))
                db.session.commit()
            except BaseException as error:  # reported below
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(counts) == [0, 1]
    assert len(notifications(kind=REMINDER)) == told
    assert len(reminders_to(smtp, fr)) == 1


def test_alerts_turned_off_or_one_click_stop_reminders(
    app: Flask, people: dict[str, Any], smtp: SmtpServer, frozen: FrozenDateTimeFactory
) -> None:
    go_red(people)
    set_preference(db.session, people["nl"], alerts=False, digest=True)
    db.session.commit()
    run_days(frozen, 1, 7)
    assert reminders_to_nl(smtp, people["nl"]) == []
    [reminder] = reminders_to(smtp, people["fr"])
    url = str(reminder["List-Unsubscribe"]).strip("<>")
    assert url.endswith("/alertes")
    path = url.removeprefix("https://barometre.example.org")
    stopped = app.test_client().post(path, data={"List-Unsubscribe": "One-Click"})
    assert stopped.status_code == 200
    run_days(frozen, 8, 14)
    assert len(reminders_to(smtp, people["fr"])) == 1  # no second one
    assert len(reminders_to(smtp, people["red_only"])) == 2


def test_a_reminder_goes_to_whom_the_red_reached_not_to_a_failed_one(
    people: dict[str, Any], smtp: SmtpServer, frozen: FrozenDateTimeFactory
) -> None:
    """A reminder is not a retry (issue 24, item 10b): the failed red stays in the trouble list."""
    bouncing = people["red_only"]
    smtp.collector.refuse_once(bouncing, "550 5.1.1 Boîte inconnue")
    go_red(people)
    [failed] = [n for n in notifications(kind=RED) if n.recipient == bouncing]
    assert failed.state == "failed"
    run_days(frozen, 1, 14)
    rows = notifications(kind=REMINDER)
    reached = {a for a in red_recipients(people) if a != bouncing}
    assert {n.recipient for n in rows} == reached
    assert len(rows) == 2 * len(reached)  # days 7 and 14
    assert reminders_to(smtp, bouncing) == []
    assert trouble_counts(db.session) == {"failed": 1}
    assert db.session.get(Notification, failed.id).state == "failed"


class TestOff:
    @pytest.fixture
    def settings_overrides(self, smtp_server: SmtpServer) -> dict[str, Any]:
        return {
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_server.port,
            "alert_group_wait": 0,
            "red_reminder_days": 0,
        }

    def test_zero_sends_no_reminder(
        self, people: dict[str, Any], smtp: SmtpServer, frozen: FrozenDateTimeFactory
    ) -> None:
        go_red(people)
        run_days(frozen, 1, 15)
        assert notifications(kind=REMINDER) == []
        assert db.session.scalars(select(AlertEvent).where(AlertEvent.kind == REMINDER)).all() == []


class TestEveryDay:
    @pytest.fixture
    def settings_overrides(self, smtp_server: SmtpServer) -> dict[str, Any]:
        return {
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_server.port,
            "alert_group_wait": 0,
            "red_reminder_days": 1,
        }

    def test_a_new_red_counts_from_its_own_alert(
        self, people: dict[str, Any], smtp: SmtpServer, frozen: FrozenDateTimeFactory
    ) -> None:
        go_red(people)
        run_days(frozen, 1, 2)
        resolve_all(people["coordinator"])
        run_days(frozen, 3, 4)
        go_red(people)  # day 4: a new red, told again
        run_days(frozen, 5, 6)
        assert reminder_days() == [1, 2, 5, 6]
        numbers = db.session.scalars(
            select(AlertEvent.reminder_number)
            .where(AlertEvent.kind == REMINDER)
            .order_by(AlertEvent.id)  # not the table's order: a row updated moves on PostgreSQL
        ).all()
        assert numbers == [1, 2, 1, 2]
        text = reminders_to(smtp, people["fr"])[-1].get_body(("plain",)).get_content()
        assert "depuis le 6 mars 2026 (2 jours)" in text
        assert "Ce rappel revient chaque jour" in text


def test_the_notification_log_names_reminders(
    app: Flask, people: dict[str, Any], smtp: SmtpServer, frozen: FrozenDateTimeFactory
) -> None:
    go_red(people)
    run_days(frozen, 7, 7)
    client = app.test_client()
    login(client, people["coordinator"])
    page = client.get("/coordination/notifications").get_data(as_text=True)
    assert "Rappel\xa0: toujours en code rouge" in page
