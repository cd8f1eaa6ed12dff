"""The weekly digest (R9): schedule, once per ISO week and address, content."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from celery.schedules import crontab
from flask import Flask, current_app
from freezegun import freeze_time
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts import digest
from alerts.celery_app import celery_config
from alerts.models import DigestRun
from alerts.reconcile import reconcile
from barometre import services
from barometre.extensions import db
from barometre.gauge import swatch
from barometre.levels import ORANGE, VERT
from barometre.models import Situation
from barometre.settings import Settings
from tests.conftest import file_report

from .conftest import establishment, notifications
from .support import SmtpServer

pytestmark = pytest.mark.committing  # other connections, threads or processes read its commits

# The colours the digest paints vert, orange 1 and orange 2 with (barometre.gauge).
GREEN, ORANGE_1, ORANGE_2 = (swatch(VERT, 0), swatch(ORANGE, 1), swatch(ORANGE, 2))

WINTER = Settings()  # Monday 08:00 Europe/Brussels


@pytest.fixture
def settings_overrides(smtp_server: SmtpServer) -> dict[str, Any]:
    return {"smtp_host": "127.0.0.1", "smtp_port": smtp_server.port, "alert_group_wait": 0}


def settings() -> Settings:
    return current_app.config["SETTINGS"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("utc", "week"),
    [
        ("2026-03-02 06:59:59", None),  # Monday 07:59 CET
        ("2026-03-02 07:00:00", "2026-W10"),  # Monday 08:00 CET
        ("2026-03-05 12:00:00", "2026-W10"),  # Thursday: a missed run catches up
        ("2026-03-08 22:59:00", "2026-W10"),  # Sunday 23:59 in Brussels
        ("2026-03-08 23:00:00", None),  # Monday 00:00 in Brussels: a new week
        ("2026-06-01 05:59:00", None),  # Monday 07:59 CEST
        ("2026-06-01 06:00:00", "2026-W23"),  # Monday 08:00 CEST
        ("2026-12-28 07:00:00", "2026-W53"),  # ISO week 53
    ],
)
def test_due_week_follows_the_brussels_clock(utc: str, week: str | None) -> None:
    with freeze_time(utc):
        assert digest.due_week(datetime.now(), WINTER) == week


def test_another_day_and_hour_can_be_configured() -> None:
    wednesday_five_pm = Settings(digest_day=2, digest_hour=17)
    assert digest.due_week(datetime(2026, 3, 4, 15, 59), wednesday_five_pm) is None
    assert digest.due_week(datetime(2026, 3, 4, 16, 0), wednesday_five_pm) == "2026-W10"


def test_beat_runs_the_reconciler_every_minute_and_the_digest_on_monday_at_eight() -> None:
    config = celery_config(Settings(redis_url="redis://127.0.0.1:6379/0"))
    schedule = config["beat_schedule"]
    assert schedule["reconcile"]["schedule"] == 60.0
    weekly = schedule["weekly-digest"]["schedule"]
    assert isinstance(weekly, crontab)
    assert (weekly.minute, weekly.hour, weekly.day_of_week) == ({0}, {8}, {1})
    assert config["timezone"] == "Europe/Brussels"
    sunday = celery_config(Settings(digest_day=6, digest_hour=7))["beat_schedule"]
    assert sunday["weekly-digest"]["schedule"].day_of_week == {0}
    assert config["task_acks_late"] and config["task_reject_on_worker_lost"]
    assert config["worker_prefetch_multiplier"] == 1


def test_digest_send_twice_in_one_week_sends_one_per_recipient(
    app: Flask, people: dict[str, Any], smtp: SmtpServer
) -> None:
    runner = app.test_cli_runner()
    with freeze_time("2026-03-03 09:00:00", real_asyncio=True):
        first = runner.invoke(args=["digest", "send"])
        second = runner.invoke(args=["digest", "send"])
    assert first.exit_code == 0 and "2026-W10\xa0: 8 envois planifiés." in first.output
    assert second.exit_code == 0 and "2026-W10\xa0: 0 envoi planifié." in second.output
    everyone = [
        people["service_address"],
        people["coordinator"].email,
        people["coordinator_nl"].email,
        people["fr"],
        people["nl"],
        people["red_only"],
        people["no_alerts"],
        people["other_prison"],
    ]
    got = sorted(address for r in smtp.collector.all() for address in r.recipients)
    assert got == sorted(a.lower() for a in everyone)  # each once
    [dutch] = smtp.collector.to(people["nl"])
    assert dutch["Subject"] == "Barometer: weekoverzicht van 23 februari tot en met 1 maart 2026"
    dutch_text = dutch.get_body(("plain",)).get_content()
    assert dutch_text.startswith("Goedendag,") and "Niveau van de laatste 12 weken: " in dutch_text
    [contact] = smtp.collector.to(people["fr"])
    assert (
        contact["Subject"] == "Baromètre\xa0: synthèse hebdomadaire du 23 février au 1er mars 2026"
    )
    contact_text = contact.get_body(("plain",)).get_content()
    assert "Prison de Haren" in contact_text and "Saint-Gilles" not in contact_text
    [coordinator] = smtp.collector.to(people["coordinator"].email)
    coordinator_text = coordinator.get_body(("plain",)).get_content()
    assert "Prison de Haren" in coordinator_text and "Prison de Saint-Gilles" in coordinator_text


def test_opted_out_and_no_digest_contacts_get_none(
    app: Flask, people: dict[str, Any], smtp: SmtpServer
) -> None:
    from alerts.recipients import set_preference

    from .conftest import add_contact

    add_contact("pas-de-synthese@haren.test", digest=False)
    set_preference(db.session, people["nl"], alerts=True, digest=False)
    db.session.commit()
    digest.plan(db.session, settings(), "2026-W10")
    db.session.commit()
    assert smtp.collector.to("pas-de-synthese@haren.test") == []
    assert smtp.collector.to(people["nl"]) == []
    assert len(smtp.collector.to(people["fr"])) == 1


def test_the_reconciler_sends_each_weeks_digest_once_over_two_weeks(
    app: Flask, people: dict[str, Any], smtp: SmtpServer
) -> None:
    def run() -> None:
        reconcile(db.session, settings())
        db.session.commit()

    with freeze_time("2026-03-02 06:59:00", real_asyncio=True) as frozen:
        run()
        assert smtp.collector.count() == 0
        frozen.move_to("2026-03-02 07:01:00")
        run()
        run()  # a second beat in the same minute
        assert smtp.collector.count() == 8
        frozen.move_to("2026-03-05 10:00:00")
        run()
        assert smtp.collector.count() == 8
        frozen.move_to("2026-03-09 07:30:00")
        run()
        frozen.move_to("2026-03-09 07:31:00")
        run()
    assert smtp.collector.count() == 16
    weeks = db.session.execute(
        select(DigestRun.iso_week, func.count()).group_by(DigestRun.iso_week)
    ).all()
    assert sorted(weeks) == [("2026-W10", 8), ("2026-W11", 8)]


@pytest.mark.parametrize("backend", ["postgresql"])
def test_two_beats_planning_at_once_make_one_digest_per_recipient(
    app: Flask, people: dict[str, Any], smtp: SmtpServer
) -> None:
    current_app.config["SETTINGS"] = settings().with_overrides(smtp_host="")
    barrier = threading.Barrier(4)
    counts: list[int] = []

    def beat() -> None:
        with app.app_context(), Session(db.engine) as session:
            barrier.wait()
            counts.append(len(digest.plan(session, settings(), "2026-W10")))
            session.commit()

    threads = [threading.Thread(target=beat) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sum(counts) == 8
    assert db.session.scalar(select(func.count()).select_from(DigestRun)) == 8
    assert len(notifications(kind="digest")) == 8


def test_digest_content_levels_changes_counts_and_history(
    app: Flask, people: dict[str, Any]
) -> None:
    worker, coordinator = people["worker"], people["coordinator"]
    with freeze_time("2026-02-10 10:00:00"):  # week 7: orange 1
        file_report(worker, conditions=("ACC-01",))
    with freeze_time("2026-02-23 10:00:00"):  # week 9: orange 2
        file_report(worker, conditions=("ACC-02",))
    with freeze_time("2026-03-03 10:00:00"):  # week 10: two reports, one resolved
        file_report(worker, conditions=("SEC-01",), offer_types=("collectif",))
        file_report(worker, conditions=("SEC-01",), offer_types=("individuel",))
        situation = db.session.scalars(
            select(Situation).where(Situation.status == "open").order_by(Situation.id)
        ).first()
        assert situation is not None
        services.resolve_situation(db.session, situation.id, coordinator, "ok", settings())
        establishment("haren").committee_note = "Vert, avec une alerte sur les temps d'attente"
        db.session.commit()
        five = ("ACC-01", "ACC-02", "ACC-03", "SEC-01", "SEC-02")
        both = ("individuel", "collectif")
        file_report(worker, establishment="saint-gilles", conditions=five, offer_types=both)
        found = digest.content(db.session, None, datetime.now(), "fr", settings())
        dutch = digest.content(db.session, None, datetime.now(), "nl", settings())
    assert [d.name for d in found] == ["Prison de Saint-Gilles", "Prison de Haren"]  # worst first
    haren = found[1]
    assert haren.level == "orange 2 sur 5" and haren.week_ago == "orange 2 sur 5"
    assert haren.note.startswith("Vert, avec une alerte")
    assert haren.new_reports == 2 and haren.previous_reports == 1
    assert [(c["from"], c["to"]) for c in haren.changes] == [
        ("orange 2 sur 5", "orange 3 sur 5"),
        ("orange 3 sur 5", "orange 2 sur 5"),
    ]
    # Each change's cause as the alerts say it (R15), never the resolution's note.
    report, resolution = (c["cause"] for c in haren.changes)
    assert report.startswith("après un signalement\xa0: nouvelle situation «\xa0")
    assert report.endswith("» (constatée le 3 mars 2026)")
    assert resolution.startswith("le comité a clos la situation «\xa0")
    assert "note de résolution" not in resolution
    assert dict(haren.by_offer_type) == {"individuel": 2, "collectif": 1, "cellulaire": 0}
    assert dict(haren.by_category)["Sécurité"] == 1
    # The last 12 weeks on a true time axis: vert until 10 February, then orange 1 and 2.
    chart = haren.chart
    assert [c["width"] for c in chart["level_cells"]] == ["75.0", "15.5", "9.5"]  # 63, 13, 8 days
    assert [c["mark"] for c in chart["level_cells"]] == ["●", "▲ 1", ""]  # 9.5 %: title only
    assert [c["swatch"] for c in chart["level_cells"]] == [GREEN, ORANGE_1, ORANGE_2]
    assert chart["words"] == (
        "vert jusqu'au 10 février · orange 1 sur 5 du 10 février au 23 février (13 jours)"
        " · orange 2 sur 5 depuis le 23 février (8 jours)"
    )  # orange 3 lasted no time at all: filed and resolved at the same frozen instant
    # Saint-Gilles went rouge at this very moment: no width yet, but said in words.
    assert found[0].chart["words"].endswith(" · rouge depuis le 3 mars (moins d'un jour)")
    assert dutch[1].chart["words"].startswith("groen tot 10 februari · oranje 1 op 5 van 10 ")
    assert dutch[1].level == "oranje 2 op 5"
    assert dutch[1].changes[0]["cause"].startswith("na een melding: nieuwe situatie ‘")


def test_digest_html_draws_the_chart_with_tables_not_images(
    app: Flask, people: dict[str, Any], smtp: SmtpServer
) -> None:
    with freeze_time("2026-02-26 10:00:00", real_asyncio=True):  # inside 23 Feb-1 March
        file_report(people["worker"], conditions=("ACC-01",))
    smtp.collector.reset()
    with freeze_time("2026-03-02 07:05:00", real_asyncio=True):  # Monday 08:05 in Brussels
        digest.plan(db.session, settings(), "2026-W10")
        db.session.commit()
    [message] = smtp.collector.to(people["fr"])
    html = message.get_body(("html",)).get_content()
    assert "<img" not in html and "background-image" not in html
    assert "<svg" not in html and "<script" not in html and "class=" not in html
    assert f'bgcolor="{ORANGE_1.fill}"' in html  # orange 1, as an attribute Outlook honours
    assert "Niveau des 12 dernières semaines" in html
    text = message.get_body(("plain",)).get_content()
    assert (
        "Niveau des 12 dernières semaines\xa0: " in text
        and "1 signalement du 23 février au 1er mars 2026" in text
    )


LEVEL_CELL = re.compile(
    r'<td width="([\d.]+)%" height="22" bgcolor="(#[0-9a-f]{6})" title="([^"]*)"'
)
STRIP_CELL = re.compile(r'<td width="([\d.]+)%" height="12" bgcolor="(#[0-9a-f]{6})"')
TICK_CELL = re.compile(
    r'<td width="([\d.]+)%" style="width:[\d.]+%;padding:2px 0 0 [^>]*>([^<]*)</td>'
)


def test_the_digest_chart_cells_are_as_wide_as_each_level_lasted(
    app: Flask, people: dict[str, Any], smtp: SmtpServer
) -> None:
    """A known history, in frozen time: the HTML cells' widths are the levels' durations."""
    worker = people["worker"]
    with freeze_time("2026-02-05 10:00:00", real_asyncio=True):  # vert -> orange 1
        file_report(worker, conditions=("ACC-01",), offer_types=("individuel",))
    with freeze_time("2026-02-23 10:00:00", real_asyncio=True):  # orange 1 -> orange 2
        file_report(worker, conditions=("SEC-01",), offer_types=("collectif",))
    smtp.collector.reset()
    sent_at = datetime(2026, 3, 2, 7, 5)  # Monday 08:05 in Brussels
    with freeze_time(sent_at, real_asyncio=True):
        reconcile(db.session, settings())
        db.session.commit()
    [message] = smtp.collector.to(people["fr"])
    html = message.get_body(("html",)).get_content()
    start = sent_at - timedelta(weeks=12)
    stretches = [
        (start, datetime(2026, 2, 5, 10)),
        (datetime(2026, 2, 5, 10), datetime(2026, 2, 23, 10)),
        (datetime(2026, 2, 23, 10), sent_at),
    ]
    expected = [100 * (end - begin) / (sent_at - start) for begin, end in stretches]
    cells = LEVEL_CELL.findall(html)
    assert [colour for _w, colour, _t in cells] == [GREEN.fill, ORANGE_1.fill, ORANGE_2.fill]
    widths = [float(width) for width, _c, _t in cells]
    assert widths == pytest.approx(expected, abs=0.1)  # 70.4 %, 21.4 %, 8.2 %
    assert sum(widths) == pytest.approx(100, abs=0.05)
    assert cells[2][2] == "orange 2 sur 5 depuis le 23 février (6 jours)"  # colour never alone
    assert ">▲ 1</td>" in html and ">●</td>" in html  # shape and step where wide enough
    # One strip per offer type under it: individuel orange 1 since 5 February.
    strips = STRIP_CELL.findall(html)
    individuel, collectif, cellulaire = strips[0:2], strips[2:4], strips[4:]
    assert [float(w) for w, _c in individuel] == pytest.approx(
        [*expected[:1], sum(expected[1:])], abs=0.1
    )
    assert [c for _w, c in collectif] == [GREEN.fill, ORANGE_1.fill]
    assert [float(w) for w, _c in collectif] == pytest.approx(
        [sum(expected[:2]), expected[2]], abs=0.1
    )
    assert [(float(w), c) for w, c in cellulaire] == [(100.0, GREEN.fill)]
    # Week ticks: a few distinct dates in time order, the row as wide as the axis.
    ticks = TICK_CELL.findall(html)
    labels = [label for _w, label in ticks if label]
    assert 3 <= len(labels) <= 4 and len(set(labels)) == len(labels)
    assert sum(float(w) for w, _l in ticks) == pytest.approx(100, abs=0.05)
    assert labels[0] == "15 déc." and labels[-1].endswith("févr.")
    # The same in words in the text part.
    text = message.get_body(("plain",)).get_content().replace("\r", "")
    assert (
        "Niveau des 12 dernières semaines\xa0: vert jusqu'au 5 février · "
        "orange 1 sur 5 du 5 février au 23 février (18 jours) · "
        "orange 2 sur 5 depuis le 23 février (6 jours)\n"
    ) in text
    assert (
        "Offre collective\xa0: vert jusqu'au 23 février · "
        "orange 1 sur 5 depuis le 23 février (6 jours)\n" in text
    )
    assert "Offre cellulaire\xa0: vert sur toute la période\n" in text


@pytest.mark.parametrize(
    ("week", "lang", "words"),
    [
        ("2026-W49", "fr", "du 23 au 29 novembre 2026"),
        ("2026-W50", "fr", "du 30 novembre au 6 décembre 2026"),
        ("2026-W10", "fr", "du 23 février au 1er mars 2026"),
        ("2027-W01", "fr", "du 28 décembre 2026 au 3 janvier 2027"),
        ("2026-W49", "nl", "van 23 tot en met 29 november 2026"),
        ("2027-W01", "nl", "van 28 december 2026 tot en met 3 januari 2027"),
        ("2026-W49", "en", "23 to 29 November 2026"),
        ("2026-W50", "en", "30 November to 6 December 2026"),
        ("2027-W01", "en", "28 December 2026 to 3 January 2027"),
    ],
)
def test_the_week_a_digest_covers_in_words(app: Flask, week: str, lang: str, words: str) -> None:
    start, end = digest.covered_days(week, WINTER)
    assert (end - start).days == 6 and end.weekday() == 6  # Monday's digest: the week before
    assert digest.period_words(start, end, lang) == words


def test_a_wednesday_digest_covers_the_seven_days_before_it() -> None:
    start, end = digest.covered_days("2026-W49", Settings(digest_day=2))
    assert (start.isoformat(), end.isoformat()) == ("2026-11-25", "2026-12-01")


def test_the_digest_names_situations_colours_levels_and_the_weeks_dates(
    app: Flask, people: dict[str, Any], smtp: SmtpServer
) -> None:
    from barometre.models import Condition

    worker = people["worker"]
    with freeze_time("2026-11-25 10:00:00", real_asyncio=True):  # Wednesday, week 48
        file_report(worker, conditions=("ACC-01",), offer_types=("individuel",))
    with freeze_time("2026-11-27 10:00:00", real_asyncio=True):
        file_report(worker, conditions=("SEC-01", "OFF-01"), offer_types=("collectif",))
    smtp.collector.reset()
    with freeze_time("2026-11-30 07:05:00", real_asyncio=True):  # Monday 08:05 in Brussels
        reconcile(db.session, settings())
        db.session.commit()

    def wording(code: str, lang: str = "fr") -> str:
        found = db.session.scalar(select(Condition).where(Condition.code == code))
        assert found is not None
        return found.label(lang)

    [contact] = smtp.collector.to(people["fr"])
    assert contact["Subject"] == "Baromètre\xa0: synthèse hebdomadaire du 23 au 29 novembre 2026"
    text = contact.get_body(("plain",)).get_content().replace("\r", "")
    assert "== Prison de Haren\xa0: Code orange 3 sur 5 ==\nIl y a une semaine\xa0: vert." in text
    assert (
        f"- {wording('ACC-01')} (Accessibilité\xa0; type d'offre\xa0: individuel),"
        " ouverte depuis 5 jours\n" in text
    )
    assert (
        f"- {wording('SEC-01')} (Sécurité\xa0; type d'offre\xa0: collectif), ouverte depuis 3 "
        "jours\n" in text
    )
    assert (
        "Par type d'offre\xa0:\n- Offre individuelle\xa0: orange 1\n"
        "- Offre collective\xa0: orange 2\n- Offre cellulaire\xa0: vert\n" in text
    )
    assert "/etablissements/haren?lien=" in text  # a contact has no account: signed
    html = contact.get_body(("html",)).get_content()
    assert "Offre collective\xa0: orange 2" in html and "/etablissements/haren?lien=" in html
    [dutch] = smtp.collector.to(people["nl"])
    assert dutch["Subject"] == "Barometer: weekoverzicht van 23 tot en met 29 november 2026"
    dutch_text = dutch.get_body(("plain",)).get_content()
    assert wording("ACC-01", "nl") in dutch_text and "Collectief aanbod: oranje 2" in dutch_text
    [coordinator] = smtp.collector.to(people["coordinator"].email)
    coordinator_text = coordinator.get_body(("plain",)).get_content()
    assert "http://127.0.0.1:5000/etablissements/haren\n" in coordinator_text.replace("\r", "")
    assert "http://127.0.0.1:5000/etablissements/saint-gilles" in coordinator_text
    assert "lien=" not in coordinator_text
