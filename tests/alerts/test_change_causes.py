"""Every level change says its cause (R15), in the same words in every email kind, on the
page and in the feed, in French, Dutch and English.

A report names the situations it opened, a resolution the situation the committee
closed, a rejection « retiré par le comité », an expiry « non reconfirmée depuis N
jours » with each situation's last confirmation; an expiry is never said to have met
the conditions, and green after it says « aucune situation ouverte ».
"""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from flask import Flask, current_app
from freezegun import freeze_time
from sqlalchemy import select

from alerts.emails import Rendered, alert_content, render
from alerts.events import close_group, due_groups
from alerts.models import REMINDER, TO_CONTACT, TO_COORDINATOR, AlertEvent, Notification
from barometre import clock, services
from barometre.extensions import db
from barometre.models import Condition, LevelChange, Situation, User
from barometre.presentation import cause_words
from tests.conftest import SQLITE, file_report, login

from .conftest import add_contact, establishment

# The embedded mode: emails are written to the outbox right after each commit.
pytestmark = SQLITE

LANGS = ("fr", "nl", "en")
IND, COL = "individuel", "collectif"
NOTE = "Accès rétabli après la réunion avec la direction."

# Nothing that claims a fix after an expiry, in any language.
CLAIMS = (
    "conditions sont réunies",
    "conditions réunies",
    "plus aucune situation",
    "voorwaarden zijn vervuld",
    "voldaan",
    "conditions are met",
    "no problem situation",
)

# The cause's words, per cause and language.
WORDS: dict[str, dict[str, str]] = {
    "opened": {
        "fr": "nouvelle situation « {label} » (constatée le {first})",
        "nl": "nieuwe situatie ‘{label}’ (vastgesteld op {first})",
        "en": "new situation “{label}” (observed on {first})",
    },
    "after_report": {
        "fr": "Après un signalement : ",
        "nl": "Na een melding: ",
        "en": "After a report: ",
    },
    "report": {
        "fr": "Après un signalement : nouvelle situation « {label} » (constatée le {first})",
        "nl": "Na een melding: nieuwe situatie ‘{label}’ (vastgesteld op {first})",
        "en": "After a report: new situation “{label}” (observed on {first})",
    },
    "rejection": {
        "fr": "Un signalement a été retiré par le comité : la situation « {label} » est close"
        " faute d'autre signalement",
        "nl": "Een melding werd door het comité ingetrokken: de situatie ‘{label}’ is"
        " gesloten omdat geen andere melding ze bevestigt",
        "en": "A report was withdrawn by the committee: the situation “{label}” is closed"
        " as no other report supports it",
    },
    "resolution": {
        "fr": "Le comité a clos la situation « {label} » (constatée depuis le {first})",
        "nl": "Het comité heeft de situatie ‘{label}’ afgesloten (vastgesteld sinds {first})",
        "en": "The committee closed the situation “{label}” (observed since {first})",
    },
    "expiry": {
        "fr": "Situation non reconfirmée depuis 30 jours : « {label} » (dernière confirmation"
        " : {last})",
        "nl": "Situatie sinds 30 dagen niet opnieuw bevestigd: ‘{label}’ (laatste bevestiging:"
        " {last})",
        "en": "Situation not confirmed again for 30 days: “{label}” (last confirmed: {last})",
    },
}

DATES = {
    "fr": {"2026-11-02": "2 novembre 2026", "2026-11-03": "3 novembre 2026"},
    "nl": {"2026-11-02": "2 november 2026", "2026-11-03": "3 november 2026"},
    "en": {"2026-11-02": "2 November 2026", "2026-11-03": "3 November 2026"},
}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"alert_group_wait": 0, "public_barometer": True}


@pytest.fixture
def reader(app: Flask) -> str:
    return add_contact("direction@haren.test", language="fr").email


def label(code: str, lang: str) -> str:
    condition = db.session.scalar(select(Condition).where(Condition.code == code))
    assert condition is not None
    return condition.label(lang)


def expected(cause: str, code: str, lang: str, first: str = "", last: str = "") -> str:
    dates = DATES[lang]
    return WORDS[cause][lang].format(
        label=label(code, lang), first=dates.get(first, first), last=dates.get(last, last)
    )


def latest(kind: str) -> AlertEvent:
    query = select(AlertEvent).where(AlertEvent.kind == kind).order_by(AlertEvent.id.desc())
    event = db.session.scalars(query).first()
    assert event is not None, kind
    return event


def email(kind: str, lang: str, to: str = TO_CONTACT) -> Rendered:
    """The email of the latest event of `kind`, as a reader of `lang` gets it."""
    notification = Notification(
        id=1,
        kind=kind,
        event=latest(kind),
        language=lang,
        recipient=f"lecteur-{lang}@haren.test",
        recipient_kind=to,
    )
    settings = current_app.config["SETTINGS"]
    content = alert_content(db.session, notification, settings)
    return render(kind, lang, content.context)


def flat(rendered: Rendered) -> tuple[str, str]:
    """The text and the HTML (unescaped), each on one line."""
    text = " ".join(rendered.text.split())
    page = " ".join(unescape(rendered.html).split())
    return text, page


def both_say(kind: str, lang: str, words: str, to: str = TO_CONTACT) -> tuple[str, str]:
    text, page = flat(email(kind, lang, to))
    assert words in text, text
    assert words in page, page
    return text, page


def situation(code: str) -> Situation:
    query = select(Situation).join(Condition).where(Condition.code == code)
    found = db.session.scalars(query.order_by(Situation.id.desc())).first()
    assert found is not None
    return found


# --- every email kind, every cause ------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_a_rise_names_the_situation_the_report_opened_with_its_date(
    worker: User, reader: str, lang: str
) -> None:
    with freeze_time("2026-11-03 10:00:00"):
        file_report(worker, conditions=("ACC-01",), offer_types=(IND,), days_ago=1)
        both_say("rise", lang, expected("report", "ACC-01", lang, first="2026-11-02"))


@pytest.mark.parametrize("lang", LANGS)
def test_red_says_the_report_that_made_it(worker: User, reader: str, lang: str) -> None:
    with freeze_time("2026-11-03 10:00:00"):
        file_report(worker, conditions=("ACC-01", "ACC-02", "SEC-01"), offer_types=(IND,))
        file_report(worker, conditions=("OFF-01", "SEC-02"), offer_types=(COL,))
        both_say("red", lang, WORDS["after_report"][lang])
        both_say("red", lang, expected("opened", "OFF-01", lang, first="2026-11-03"))
        both_say("red", lang, expected("opened", "SEC-02", lang, first="2026-11-03"))


@pytest.mark.parametrize("lang", LANGS)
def test_a_rejection_that_lifts_red_says_the_committee_withdrew_a_report(
    worker: User, coordinator: User, reader: str, lang: str
) -> None:
    with freeze_time("2026-11-03 10:00:00"):
        file_report(worker, conditions=("ACC-01", "ACC-02", "SEC-01"), offer_types=(IND,))
        last = file_report(worker, conditions=("OFF-01",), offer_types=(COL,))
        file_report(worker, conditions=("SEC-02",), offer_types=(COL,))
        services.reject_report(db.session, last.report.id, coordinator, "Doublon", settings())
        db.session.commit()
        both_say("lifted", lang, expected("rejection", "OFF-01", lang))


@pytest.mark.parametrize("lang", LANGS)
def test_green_after_a_resolution_names_the_situation_never_its_note(
    worker: User, coordinator: User, reader: str, lang: str
) -> None:
    with freeze_time("2026-11-03 10:00:00"):
        file_report(worker, conditions=("ACC-01",), offer_types=(IND,), days_ago=1)
        services.resolve_situation(
            db.session, situation("ACC-01").id, coordinator, NOTE, settings()
        )
        db.session.commit()
        words = expected("resolution", "ACC-01", lang, first="2026-11-02")
        for to in (TO_CONTACT, TO_COORDINATOR):
            text, page = both_say("green", lang, words, to)
            assert NOTE.rstrip(".") not in text and NOTE.rstrip(".") not in page


@pytest.mark.parametrize("lang", LANGS)
def test_green_after_an_expiry_says_nothing_was_fixed(worker: User, reader: str, lang: str) -> None:
    with freeze_time("2026-11-03 10:00:00"):
        file_report(worker, conditions=("ACC-01",), offer_types=(IND,))
    with freeze_time("2026-12-04 06:00:00"):
        services.expire_all(db.session, settings())
        db.session.commit()
        text, page = both_say("green", lang, expected("expiry", "ACC-01", lang, last="2026-11-03"))
    for claim in CLAIMS:
        assert claim not in text and claim not in page, claim
    none_open = {
        "fr": "aucune situation ouverte",
        "nl": "geen open situatie",
        "en": "no open situation",
    }
    assert none_open[lang] in text.lower()


@pytest.mark.parametrize("lang", LANGS)
def test_an_expiry_that_lifts_red_says_which_situation_was_not_confirmed(
    worker: User, reader: str, lang: str
) -> None:
    with freeze_time("2026-11-02 10:00:00"):
        file_report(worker, conditions=("ACC-01",), offer_types=(IND,))
    with freeze_time("2026-11-20 10:00:00"):
        file_report(worker, conditions=("ACC-02", "SEC-01"), offer_types=(IND,))
        file_report(worker, conditions=("OFF-01", "SEC-02"), offer_types=(COL,))
        assert establishment().colour == "rouge"
    with freeze_time("2026-12-03 06:00:00"):
        services.expire_all(db.session, settings())
        db.session.commit()
        both_say("lifted", lang, expected("expiry", "ACC-01", lang, last="2026-11-02"))


@pytest.mark.parametrize("lang", LANGS)
def test_a_reminder_says_what_made_the_establishment_red(
    worker: User, reader: str, lang: str
) -> None:
    with freeze_time("2026-11-03 10:00:00"):
        file_report(worker, conditions=("ACC-01", "ACC-02", "SEC-01"), offer_types=(IND,))
        file_report(worker, conditions=("OFF-01", "SEC-02"), offer_types=(COL,))
        red = latest("red")
    with freeze_time("2026-11-10 10:00:00"):
        db.session.add(
            AlertEvent(
                establishment_id=red.establishment_id,
                kind=REMINDER,
                created_at=clock.now(),
                from_colour=red.to_colour,
                from_step=red.to_step,
                to_colour=red.to_colour,
                to_step=red.to_step,
                open_situations=red.open_situations,
                offer_types=red.offer_types,
                red_blocked=False,
                level_change_ids=list(red.level_change_ids),
                new_situation_ids=[],
                open_situation_ids=list(red.open_situation_ids or []),
            )
        )
        db.session.commit()
        both_say("reminder", lang, expected("opened", "SEC-02", lang, first="2026-11-03"))


# --- the page and the feed say the same ------------------------------------------------


def settings() -> services.Settings:
    return current_app.config["SETTINGS"]  # type: ignore[no-any-return]


def change_rows(page: str) -> list[str]:
    cells = re.findall(r'<td class="cause">(.*?)</td>', page, re.S)
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells]


def test_the_page_and_the_feed_give_each_change_its_cause(
    client: Any, worker: User, coordinator: User
) -> None:
    with freeze_time("2026-11-03 10:00:00"):
        file_report(worker, conditions=("ACC-01",), offer_types=(IND,))
    with freeze_time("2026-12-04 06:00:00"):
        services.expire_all(db.session, settings())
        db.session.commit()
        page = client.get("/etablissements/haren").get_data(as_text=True)
        feed = client.get("/etablissements/haren/feed.atom").get_data(as_text=True)
    rows = change_rows(page)
    # Anonymous: the category, never the condition's wording; the dates all the same.
    assert rows == [
        "Situation non reconfirmée depuis 30 jours : une situation en Accessibilité"
        " (dernière confirmation : 3 novembre 2026)",
        "Après un signalement : nouvelle situation en Accessibilité (constatée le 3 novembre 2026)",
    ]
    assert label("ACC-01", "fr") not in page
    assert "Aucune situation ouverte." in page
    for claim in CLAIMS:
        assert claim not in page and claim not in feed
    assert rows[0] + "." in " ".join(feed.split()).replace("&#34;", '"')


def test_a_coordinator_reads_the_condition_and_the_resolution_note(
    client: Any, worker: User, coordinator: User
) -> None:
    with freeze_time("2026-11-03 10:00:00"):
        file_report(worker, conditions=("ACC-01",), offer_types=(IND,))
        services.resolve_situation(
            db.session, situation("ACC-01").id, coordinator, NOTE, settings()
        )
        db.session.commit()
        anonymous = change_rows(client.get("/etablissements/haren").get_data(as_text=True))
        login(client, coordinator)
        signed = change_rows(client.get("/etablissements/haren").get_data(as_text=True))
    assert anonymous[0] == (
        "Le comité a clos une situation en Accessibilité (constatée depuis le 3 novembre 2026)"
    )
    assert signed[0] == (
        f"Le comité a clos la situation « {label('ACC-01', 'fr')} » (constatée depuis le"
        f" 3 novembre 2026) ; note de résolution : {NOTE.rstrip('.')}"
    )


def test_a_change_keeps_the_situations_its_cause_closed(worker: User, coordinator: User) -> None:
    with freeze_time("2026-11-03 10:00:00"):
        report = file_report(worker, conditions=("ACC-01", "ACC-02"), offer_types=(IND,))
        services.reject_report(db.session, report.report.id, coordinator, "Doublon", settings())
        db.session.commit()
    change = db.session.scalars(select(LevelChange).where(LevelChange.cause == "rejection")).one()
    closed = {situation("ACC-01").id, situation("ACC-02").id}
    assert set(change.closed_situation_ids or []) == closed


class TestGroupedRises:
    """Rises within the group's wait make one email: it says every step and its cause."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"alert_group_wait": 300}

    @pytest.mark.parametrize("lang", LANGS)
    def test_a_grouped_rise_lists_every_step_with_its_cause(
        self, worker: User, reader: str, lang: str
    ) -> None:
        with freeze_time("2026-11-03 10:00:00") as frozen:
            file_report(worker, conditions=("ACC-01",), offer_types=(IND,))
            frozen.tick(60)
            file_report(worker, conditions=("ACC-02",), offer_types=(IND,))
            frozen.tick(timedelta(seconds=301))
            [group_id] = due_groups(db.session, clock.now())
            close_group(db.session, group_id)
            db.session.commit()
            text, page = flat(email("rise", lang))
        steps = {
            "fr": ("De vert à orange 1 sur 5 — ", "D'orange 1 sur 5 à orange 2 sur 5 — "),
            "nl": ("Van groen naar oranje 1 op 5 — ", "Van oranje 1 op 5 naar oranje 2 op 5 — "),
            "en": ("From green to orange 1 of 5 — ", "From orange 1 of 5 to orange 2 of 5 — "),
        }[lang]
        first = expected("report", "ACC-01", lang, first="2026-11-03")
        second = expected("report", "ACC-02", lang, first="2026-11-03")
        for body in (text, page):
            assert steps[0] + first[:1].lower() + first[1:] in body, body
            assert steps[1] + second[:1].lower() + second[1:] in body, body


def test_a_change_recorded_before_its_situations_were_kept_still_says_its_cause(
    app: Flask,
) -> None:
    old = LevelChange(cause="expiry", new_situation_ids=[], closed_situation_ids=None)
    with app.test_request_context():
        assert cause_words(old, ttl_days=30) == "Situation non reconfirmée depuis 30 jours"
        for cause, words in (
            ("rejection", "Un signalement a été retiré par le comité"),
            ("resolution", "Le comité a clos une situation"),
            ("validation", "Signalement validé par le comité"),
            ("report", "Après un signalement"),
            ("import", "Import de l'historique du comité"),
            ("recompute", "Recalcul des niveaux"),
        ):
            assert cause_words(LevelChange(cause=cause, new_situation_ids=[])) == words
