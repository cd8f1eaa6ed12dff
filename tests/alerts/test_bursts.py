"""No bursts (issue 26, R15): changes of one establishment within `ALERT_GROUP_WAIT` make
one email saying the net change and every step. Frozen time, a real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from html import unescape
from typing import Any

import pytest
from flask import Flask, current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory
from sqlalchemy import select

from alerts.events import close_group
from alerts.models import GREEN_AGAIN, RED, RED_LIFTED, REMINDER, RISE, AlertGroup
from alerts.reconcile import reconcile
from barometre import services
from barometre.extensions import db
from barometre.gauge import level_change_words
from barometre.models import Establishment, Situation
from barometre.presentation import datetime_words
from tests.conftest import file_report, one_line

from .conftest import add_contact, notifications, rise_recipients
from .support import SmtpServer

pytestmark = pytest.mark.committing  # other connections, threads or processes read its commits

IND, COL = "individuel", "collectif"
FIVE = ("ACC-01", "ACC-02", "ACC-03", "SEC-01", "SEC-02")
START = datetime(2026, 3, 2, 5)  # Monday 06:00 in Brussels: no digest due
WAIT = 300


@pytest.fixture
def settings_overrides(smtp_server: SmtpServer) -> dict[str, Any]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_server.port,
        "alert_group_wait": WAIT,
        "mail_from": "barometre@fidex.test",
    }


@pytest.fixture
def frozen(app: Flask) -> Iterator[FrozenDateTimeFactory]:
    with freeze_time(START, real_asyncio=True) as factory:
        yield factory


def settings() -> services.Settings:
    return current_app.config["SETTINGS"]  # type: ignore[no-any-return]


def run_reconciler() -> None:
    reconcile(db.session, settings())
    db.session.commit()


def level() -> tuple[str, int]:
    haren = db.session.scalar(select(Establishment).where(Establishment.slug == "haren"))
    assert haren is not None
    db.session.refresh(haren)
    return haren.level.colour, haren.level.step


def reject(people: dict[str, Any], report_id: int) -> None:
    services.reject_report(db.session, report_id, people["coordinator"], "Doublon", settings())
    db.session.commit()


def resolve_all(people: dict[str, Any]) -> None:
    for situation in db.session.scalars(select(Situation).where(Situation.status == "open")):
        services.resolve_situation(
            db.session, situation.id, people["coordinator"], "Réglé", settings()
        )
    db.session.commit()


def told_orange_one(people: dict[str, Any], frozen: FrozenDateTimeFactory) -> None:
    """Orange 1 told (its window closed), the SMTP inbox emptied."""
    file_report(people["worker"], conditions=("ACC-01",), offer_types=(IND,))
    frozen.tick(WAIT + 1)
    run_reconciler()


def kinds() -> list[str]:
    return sorted({n.kind for n in notifications()})


def steps_said(lang: str, steps: list[tuple[datetime, str, int, str, int]]) -> list[str]:
    """« 2 mars 2026 à 06:10 : D'orange 1 sur 5 à rouge » for each step, in `lang`."""
    said = []
    with force_locale(lang):
        for at, *levels in steps:
            words = level_change_words(*levels)
            change = words[:1].upper() + words[1:]
            said.append(_("%(label)s : %(value)s", label=datetime_words(at), value=change))
    return said


def test_red_rejection_green_orange_three_in_one_window_is_one_email_each(
    app: Flask, people: dict[str, Any], smtp: SmtpServer, frozen: FrozenDateTimeFactory
) -> None:
    english = add_contact("direction-en@haren.test", language="en").email
    told_orange_one(people, frozen)
    smtp.collector.reset()
    burst = START + timedelta(minutes=10)
    frozen.move_to(burst)
    red = file_report(people["worker"], conditions=FIVE[1:], offer_types=(IND, COL))
    assert level() == ("rouge", 5)
    frozen.tick(60)
    reject(people, red.report.id)
    assert level() == ("orange", 1)
    frozen.tick(60)
    resolve_all(people)
    assert level() == ("vert", 0)
    frozen.tick(60)
    file_report(people["worker"], conditions=("ACC-02", "ACC-03", "SEC-01"), offer_types=(IND,))
    assert level() == ("orange", 3)
    frozen.tick(60)
    run_reconciler()
    assert smtp.collector.count() == 0  # 240 s after the first change: it waits
    frozen.move_to(burst + timedelta(seconds=WAIT))
    run_reconciler()
    run_reconciler()  # twice: nothing more

    expected = {**rise_recipients(people), english: "en"}
    for address in expected:
        assert len(smtp.collector.to(address)) == 1, address
    assert smtp.collector.to(people["red_only"]) == []  # the red was never told
    assert smtp.collector.count() == len(expected)
    steps = [
        (burst, "orange", 1, "rouge", 5),
        (burst + timedelta(seconds=60), "rouge", 5, "orange", 1),
        (burst + timedelta(seconds=120), "orange", 1, "vert", 0),
        (burst + timedelta(seconds=180), "vert", 0, "orange", 3),
    ]
    withdrawn = {
        "fr": "un signalement a été retiré par le comité",
        "nl": "een melding werd door het comité ingetrokken",
        "en": "a report was withdrawn by the committee",
    }
    subject = {
        "fr": "Baromètre\xa0: la prison de Haren passe en code orange 3 sur 5",
        "nl": "Barometer: Gevangenis van Haren gaat naar code oranje 3 op 5",
    }
    with app.test_request_context():
        for address, lang in (
            (people["fr"], "fr"),
            (people["nl"], "nl"),
            (english, "en"),
        ):
            [message] = smtp.collector.to(address)
            if lang in subject:
                assert message["Subject"] == subject[lang]
            text = message.get_body(("plain",)).get_content()
            said = steps_said(lang, steps)
            positions = [text.find(f"- {step} — ") for step in said]
            assert -1 not in positions and positions == sorted(positions), (said, text)
            assert f"{said[1]} — {withdrawn[lang]}" in text
            page = one_line(unescape(message.get_body(("html",)).get_content()))
            assert all(f"{step} — " in page for step in said), page
    [group] = db.session.scalars(select(AlertGroup).order_by(AlertGroup.id.desc()).limit(1))
    assert group.state == "sent" and len(group.level_change_ids) == 4
    assert kinds() == [RISE]


def test_two_changes_in_two_windows_make_two_emails(
    people: dict[str, Any], smtp: SmtpServer, frozen: FrozenDateTimeFactory
) -> None:
    told_orange_one(people, frozen)
    resolve_all(people)
    frozen.tick(WAIT + 1)
    run_reconciler()
    subjects = [m["Subject"] for m in smtp.collector.to(people["fr"])]
    assert subjects == [
        "Baromètre\xa0: la prison de Haren passe en code orange 1 sur 5",
        "Baromètre\xa0: la prison de Haren revient au vert",
    ]


def test_a_group_closed_twice_sends_once(
    people: dict[str, Any], smtp: SmtpServer, frozen: FrozenDateTimeFactory
) -> None:
    file_report(people["worker"], conditions=("ACC-01",), offer_types=(IND,))
    [group_id] = db.session.scalars(select(AlertGroup.id))
    assert close_group(db.session, group_id) is None  # not due yet
    frozen.tick(WAIT)
    assert close_group(db.session, group_id) is not None
    assert close_group(db.session, group_id) is None
    db.session.commit()
    run_reconciler()
    assert len(smtp.collector.to(people["fr"])) == 1
    assert len(notifications()) == len(rise_recipients(people))


def test_a_fall_alone_waits_its_window_then_sends_its_email(
    people: dict[str, Any], smtp: SmtpServer, frozen: FrozenDateTimeFactory
) -> None:
    told_orange_one(people, frozen)
    smtp.collector.reset()
    resolve_all(people)
    frozen.tick(WAIT - 1)
    run_reconciler()
    assert smtp.collector.count() == 0
    frozen.tick(1)
    run_reconciler()
    [message] = smtp.collector.to(people["fr"])
    assert message["Subject"] == "Baromètre\xa0: la prison de Haren revient au vert"
    assert GREEN_AGAIN in kinds()


def test_a_red_told_then_lifted_in_a_later_window_reaches_the_red_recipients(
    people: dict[str, Any], smtp: SmtpServer, frozen: FrozenDateTimeFactory
) -> None:
    file_report(people["worker"], conditions=("ACC-01",), offer_types=(IND,))
    red = file_report(people["worker"], conditions=FIVE[1:], offer_types=(IND, COL))
    frozen.tick(WAIT)
    run_reconciler()
    assert [m["Subject"] for m in smtp.collector.to(people["red_only"])] == [
        "Baromètre\xa0: code rouge à la prison de Haren"
    ]
    reject(people, red.report.id)  # back to orange 1
    frozen.tick(WAIT)
    run_reconciler()
    lifted = "Baromètre\xa0: le code rouge est levé à la prison de Haren"
    assert smtp.collector.to(people["red_only"])[-1]["Subject"] == lifted
    assert kinds() == sorted([RED, RED_LIFTED])


def test_back_at_the_level_told_sends_nothing(
    people: dict[str, Any], smtp: SmtpServer, frozen: FrozenDateTimeFactory
) -> None:
    told_orange_one(people, frozen)
    smtp.collector.reset()
    red = file_report(people["worker"], conditions=FIVE[1:], offer_types=(IND, COL))
    frozen.tick(60)
    reject(people, red.report.id)
    assert level() == ("orange", 1)
    frozen.tick(WAIT)
    run_reconciler()
    assert smtp.collector.count() == 0
    states = [g.state for g in db.session.scalars(select(AlertGroup).order_by(AlertGroup.id))]
    assert states == ["sent", "cancelled"]


class TestReminders:
    """The red reminder obeys the window: none while a change waits in it."""

    def go_red(self, people: dict[str, Any], frozen: FrozenDateTimeFactory) -> Any:
        red = file_report(people["worker"], conditions=FIVE, offer_types=(IND, COL))
        frozen.tick(WAIT)
        run_reconciler()
        return red

    def test_none_for_a_red_still_waiting_in_its_group(
        self, people: dict[str, Any], smtp: SmtpServer, frozen: FrozenDateTimeFactory
    ) -> None:
        self.go_red(people, frozen)
        frozen.move_to(START + timedelta(days=7, minutes=4))
        resolve_all(people)  # green, then red again: both wait in one window
        file_report(people["worker"], conditions=FIVE, offer_types=(IND, COL))
        frozen.tick(120)  # the reminder is due (the red was told at 05:05), the window is open
        run_reconciler()
        assert notifications(kind=REMINDER) == []
        frozen.tick(WAIT)
        run_reconciler()
        # Back to the red told: no green, no second red; the red goes on, reminded.
        assert kinds() == sorted([RED, REMINDER])
        assert len(smtp.collector.to(people["red_only"])) == 2

    def test_none_within_the_window_after_a_fall(
        self, people: dict[str, Any], smtp: SmtpServer, frozen: FrozenDateTimeFactory
    ) -> None:
        red = self.go_red(people, frozen)
        frozen.move_to(START + timedelta(days=7, minutes=4))
        reject(people, red.report.id)
        frozen.tick(120)
        run_reconciler()
        assert notifications(kind=REMINDER) == []
        frozen.tick(WAIT)
        run_reconciler()
        assert notifications(kind=REMINDER) == []
        assert kinds() == sorted([GREEN_AGAIN, RED])
