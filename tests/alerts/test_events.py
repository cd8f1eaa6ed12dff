"""Alert events in-process (embedded mode) with a real SMTP server: R6, R7, R10."""

from __future__ import annotations

from typing import Any

import pytest
from flask import current_app
from freezegun import freeze_time
from sqlalchemy import select

from alerts.models import AlertEvent, AlertGroup
from alerts.reconcile import reconcile
from barometre import services
from barometre.extensions import db
from barometre.models import Situation
from tests.conftest import file_report

from .conftest import add_contact, notifications, rise_recipients
from .support import SmtpServer

pytestmark = pytest.mark.committing  # other connections, threads or processes read its commits

IND, COL = "individuel", "collectif"
FIVE = ("ACC-01", "ACC-02", "ACC-03", "SEC-01", "SEC-02")
# 06:00 in Brussels: the weekly digest (Monday 08:00) is not due, so the reconciler sends none.
MONDAY_EARLY = "2026-03-02 05:00:00"


@pytest.fixture
def settings_overrides(smtp_server: SmtpServer) -> dict[str, Any]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_server.port,
        "alert_group_wait": 0,
        "mail_from": "barometre@fidex.test",
    }


def settings() -> services.Settings:
    return current_app.config["SETTINGS"]  # type: ignore[no-any-return]


def received_by(smtp: SmtpServer) -> list[str]:
    return sorted(address for r in smtp.collector.all() for address in r.recipients)


def resolve_all(actor: Any, slug: str = "haren") -> None:
    query = select(Situation).where(Situation.status == "open")
    for situation in db.session.scalars(query).all():
        if situation.establishment.slug == slug:
            services.resolve_situation(db.session, situation.id, actor, "Réglé", settings())
    db.session.commit()


def test_a_rise_sends_one_email_per_recipient_in_their_language(
    people: dict[str, Any], smtp: SmtpServer
) -> None:
    file_report(people["worker"])
    expected = rise_recipients(people)
    assert received_by(smtp) == sorted(a.lower() for a in expected)
    for address, lang in expected.items():
        [message] = smtp.collector.to(address)
        if lang == "nl":
            subject = "Barometer: Gevangenis van Haren gaat naar code oranje 1 op 5"
            assert message["Subject"] == subject
            assert "[NIEUW] " in message.get_body(("plain",)).get_content()
        else:
            assert (
                message["Subject"]
                == "Baromètre\xa0: la prison de Haren passe en code orange 1 sur 5"
            )
            assert "[NOUVELLE] " in message.get_body(("plain",)).get_content()
    rows = notifications()
    assert [(n.state, n.attempts) for n in rows] == [("sent", 1)] * len(expected)
    assert {n.kind for n in rows} == {"rise"}


def test_the_email_names_level_diversity_situations_and_links(
    people: dict[str, Any], smtp: SmtpServer
) -> None:
    file_report(people["worker"], conditions=("ACC-01", "SEC-01"), offer_types=(IND, COL))
    [message] = smtp.collector.to(people["fr"])
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for body in (text, html):
        assert "la prison de Haren" in body
        assert "orange 2 sur 5" in body
        assert "touchés\xa0: 2 sur 3" in body
        assert "aux parloirs (twix et unités)" in body  # ACC-01, by its wording
        assert "http://127.0.0.1:5000/" in body
        assert "/alertes/preferences/" in body
    [dutch] = smtp.collector.to(people["nl"])
    assert "de bezoekzalen (twix en leefeenheden)" in dutch.get_body(("plain",)).get_content()


def test_red_has_its_own_template_and_reaches_red_only_contacts(
    people: dict[str, Any], smtp: SmtpServer
) -> None:
    file_report(people["worker"], conditions=FIVE, offer_types=(IND, COL))
    expected = {**rise_recipients(people), people["red_only"]: "fr"}
    assert received_by(smtp) == sorted(a.lower() for a in expected)
    [message] = smtp.collector.to(people["red_only"])
    assert message["Subject"] == "Baromètre\xa0: code rouge à la prison de Haren"
    assert "seuil du code rouge est atteint" in message.get_body(("plain",)).get_content()
    [dutch] = smtp.collector.to(people["nl"])
    assert dutch["Subject"] == "Barometer: code rood in Gevangenis van Haren"
    assert {n.kind for n in notifications()} == {"red"}


def test_orange_five_blocked_by_diversity_says_what_is_missing(
    people: dict[str, Any], smtp: SmtpServer
) -> None:
    file_report(people["worker"], conditions=FIVE, offer_types=(IND,))
    [message] = smtp.collector.to(people["fr"])
    assert message["Subject"].endswith("orange 5 sur 5")
    text = message.get_body(("plain",)).get_content()
    assert "Rouge en attente" in text and "(manque\xa0: collectif, cellulaire)." in text
    assert smtp.collector.to(people["red_only"]) == []


def test_rejection_back_to_green_sends_the_back_to_green_notice(
    people: dict[str, Any], smtp: SmtpServer
) -> None:
    outcome = file_report(people["worker"])
    smtp.collector.reset()
    services.reject_report(
        db.session, outcome.report.id, people["coordinator"], "Doublon", settings()
    )
    db.session.commit()
    expected = rise_recipients(people)  # red-only contacts were never told of this rise
    assert received_by(smtp) == sorted(a.lower() for a in expected)
    [message] = smtp.collector.to(people["fr"])
    assert message["Subject"] == "Baromètre\xa0: la prison de Haren revient au vert"
    [dutch] = smtp.collector.to(people["nl"])
    assert dutch["Subject"] == "Barometer: Gevangenis van Haren opnieuw groen"


def test_the_end_of_a_red_reaches_red_only_contacts(
    people: dict[str, Any], smtp: SmtpServer
) -> None:
    """Its first fall lifts the red (told to the red's recipients); green is told as ever,
    to red-only contacts no more: they already heard the red was over."""
    file_report(people["worker"], conditions=FIVE, offer_types=(IND, COL))
    smtp.collector.reset()
    resolve_all(people["coordinator"])
    assert [m["Subject"] for m in smtp.collector.to(people["red_only"])] == [
        "Baromètre\xa0: le code rouge est levé à la prison de Haren"
    ]
    assert [m["Subject"] for m in smtp.collector.to(people["fr"])] == [
        "Baromètre\xa0: le code rouge est levé à la prison de Haren",
        "Baromètre\xa0: la prison de Haren revient au vert",
    ]


def test_a_red_that_falls_straight_to_green_says_the_red_is_lifted(
    people: dict[str, Any], smtp: SmtpServer
) -> None:
    outcome = file_report(people["worker"], conditions=FIVE, offer_types=(IND, COL))
    smtp.collector.reset()
    services.reject_report(
        db.session, outcome.report.id, people["coordinator"], "Doublon", settings()
    )
    db.session.commit()
    [message] = smtp.collector.to(people["red_only"])
    assert message["Subject"] == "Baromètre\xa0: la prison de Haren revient au vert"
    assert "Le code rouge est levé." in message.get_body(("plain",)).get_content()


def test_falls_that_stay_above_green_send_nothing(people: dict[str, Any], smtp: SmtpServer) -> None:
    file_report(people["worker"], conditions=("ACC-01", "ACC-02"))
    smtp.collector.reset()
    situation = db.session.scalars(select(Situation).where(Situation.status == "open")).first()
    assert situation is not None
    services.resolve_situation(db.session, situation.id, people["coordinator"], "ok", settings())
    db.session.commit()
    assert smtp.collector.count() == 0


def test_an_address_that_is_contact_and_coordinator_gets_one_email(
    people: dict[str, Any], smtp: SmtpServer
) -> None:
    add_contact(people["coordinator"].email, language="nl")
    file_report(people["worker"])
    messages = smtp.collector.to(people["coordinator"].email)
    assert len(messages) == 1
    assert messages[0]["Subject"].startswith("Barometer:")  # the contact's language wins


def test_other_establishments_contacts_are_not_told(
    people: dict[str, Any], smtp: SmtpServer
) -> None:
    file_report(people["worker"])
    assert smtp.collector.to(people["other_prison"]) == []
    assert smtp.collector.to(people["no_alerts"]) == []


class TestNoBackToGreen:
    @pytest.fixture
    def settings_overrides(self, smtp_server: SmtpServer) -> dict[str, Any]:
        return {
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_server.port,
            "alert_group_wait": 0,
            "notify_back_to_green": False,
        }

    def test_no_notice(self, people: dict[str, Any], smtp: SmtpServer) -> None:
        file_report(people["worker"])
        smtp.collector.reset()
        resolve_all(people["coordinator"])
        assert smtp.collector.count() == 0


class TestGrouping:
    """ALERT_GROUP_WAIT = 300: rises within five minutes make one email (R7)."""

    @pytest.fixture
    def settings_overrides(self, smtp_server: SmtpServer) -> dict[str, Any]:
        return {"smtp_host": "127.0.0.1", "smtp_port": smtp_server.port, "alert_group_wait": 300}

    def run_reconciler(self) -> None:
        reconcile(db.session, settings())
        db.session.commit()

    def test_three_reports_within_the_wait_make_one_email(
        self, people: dict[str, Any], smtp: SmtpServer
    ) -> None:
        with freeze_time(MONDAY_EARLY, real_asyncio=True) as frozen:
            for code in ("ACC-01", "ACC-02", "SEC-01"):
                file_report(people["worker"], conditions=(code,))
                frozen.tick(60)
            assert smtp.collector.count() == 0  # 180 s after the first rise
            self.run_reconciler()
            assert smtp.collector.count() == 0
            frozen.tick(121)  # 301 s after the first rise
            self.run_reconciler()
        expected = rise_recipients(people)
        assert received_by(smtp) == sorted(a.lower() for a in expected)
        [message] = smtp.collector.to(people["fr"])
        assert (
            message["Subject"] == "Baromètre\xa0: la prison de Haren passe en code orange 3 sur 5"
        )
        text = message.get_body(("plain",)).get_content()
        assert "de vert à orange 3 sur 5" in text
        for wording in ("aux parloirs", "aux toilettes", "se déplacer librement"):
            assert wording in text
        [event] = db.session.scalars(select(AlertEvent)).all()
        assert len(event.level_change_ids) == 3 and len(event.new_situation_ids) == 3

    def test_a_rise_after_the_group_was_sent_opens_a_new_group(
        self, people: dict[str, Any], smtp: SmtpServer
    ) -> None:
        with freeze_time(MONDAY_EARLY, real_asyncio=True) as frozen:
            file_report(people["worker"], conditions=("ACC-01",))
            frozen.tick(301)
            self.run_reconciler()
            file_report(people["worker"], conditions=("ACC-02",))
            self.run_reconciler()
            assert len(smtp.collector.to(people["fr"])) == 1
            frozen.tick(301)
            self.run_reconciler()
            self.run_reconciler()  # twice: nothing more
        subjects = [m["Subject"] for m in smtp.collector.to(people["fr"])]
        assert subjects == [
            "Baromètre\xa0: la prison de Haren passe en code orange 1 sur 5",
            "Baromètre\xa0: la prison de Haren passe en code orange 2 sur 5",
        ]

    def test_a_group_that_reaches_red_sends_the_red_template(
        self, people: dict[str, Any], smtp: SmtpServer
    ) -> None:
        with freeze_time(MONDAY_EARLY, real_asyncio=True) as frozen:
            file_report(people["worker"], conditions=FIVE[:4], offer_types=(IND,))
            frozen.tick(30)
            file_report(people["worker"], conditions=(FIVE[4],), offer_types=(COL,))
            frozen.tick(300)
            self.run_reconciler()
        [message] = smtp.collector.to(people["red_only"])
        assert message["Subject"] == "Baromètre\xa0: code rouge à la prison de Haren"
        assert len(smtp.collector.to(people["fr"])) == 1

    def test_a_rise_undone_before_the_wait_sends_nothing(
        self, people: dict[str, Any], smtp: SmtpServer
    ) -> None:
        with freeze_time(MONDAY_EARLY, real_asyncio=True) as frozen:
            outcome = file_report(people["worker"])
            frozen.tick(60)
            services.reject_report(
                db.session, outcome.report.id, people["coordinator"], "Erreur", settings()
            )
            db.session.commit()
            frozen.tick(300)
            self.run_reconciler()
        assert smtp.collector.count() == 0
        assert [g.state for g in db.session.scalars(select(AlertGroup))] == ["cancelled"]

    def test_back_to_green_is_told_when_the_last_level_told_was_not_green(
        self, people: dict[str, Any], smtp: SmtpServer
    ) -> None:
        with freeze_time(MONDAY_EARLY, real_asyncio=True) as frozen:
            file_report(people["worker"], conditions=("ACC-01",))
            frozen.tick(301)
            self.run_reconciler()  # orange 1 is told
            file_report(people["worker"], conditions=("ACC-02",))  # a new group opens
            frozen.tick(60)
            resolve_all(people["coordinator"])  # back to green before that group is due
            frozen.tick(300)
            self.run_reconciler()
        subjects = [m["Subject"] for m in smtp.collector.to(people["fr"])]
        assert subjects == [
            "Baromètre\xa0: la prison de Haren passe en code orange 1 sur 5",
            "Baromètre\xa0: la prison de Haren revient au vert",
        ]


def test_the_reconciler_expires_stale_situations_and_tells_the_return_to_green(
    people: dict[str, Any], smtp: SmtpServer
) -> None:
    with freeze_time("2026-03-02 05:00:00", real_asyncio=True) as frozen:
        file_report(people["worker"])
        smtp.collector.reset()
        frozen.move_to("2026-04-06 05:00:00")  # 35 days later, a Monday before 08:00
        result = reconcile(db.session, settings())
        db.session.commit()
    assert result.expired == 1
    [message] = smtp.collector.to(people["fr"])
    assert message["Subject"] == "Baromètre\xa0: la prison de Haren revient au vert"
