"""What every alert kind and the digest say, in French, Dutch and English (issue 26).

One story at Haren: a situation opened on 3 November and confirmed again on 28
November; the same day four more make orange 5, waiting for a second offer type; a
collective one makes red; the weekly digest; a reminder; the committee closes the
collective situation (red lifted), then all the others (green). Each email says each
change's cause in words, each open situation's opening and last confirmation, red
pending in the pages' words, and never « conditions réunies » or « bloqué par la
diversité ».
"""

from __future__ import annotations

from datetime import datetime
from html import unescape
from typing import Any

import pytest
from flask import Flask, current_app
from freezegun import freeze_time
from sqlalchemy import select

from alerts import digest
from alerts.emails import Rendered, alert_content, render
from alerts.models import DIGEST, REMINDER, TO_CONTACT, AlertEvent, DigestRun, Notification
from barometre import clock, services
from barometre.extensions import db
from barometre.models import Condition, Situation, User
from tests.conftest import SQLITE, file_report

from .conftest import add_contact, establishment

pytestmark = SQLITE

LANGS = ("fr", "nl", "en")
IND, COL = "individuel", "collectif"
ORANGE_FIVE = ("ACC-02", "ACC-03", "SEC-01", "OFF-01")

# Words no email may hold any more, in any language.
NEVER = (
    "conditions réunies",
    "conditions sont réunies",
    "bloqué par la diversité",
    "tegengehouden door de diversiteit",
    "held back by diversity",
    "Aucune situation ouverte ne touche",
)

# ACC-01: opened on 3 November, confirmed again on 28 November.
CONFIRMED = {
    "fr": "ouverte le 3 novembre 2026, confirmée pour la dernière fois le 28 novembre 2026",
    "nl": "geopend op 3 november 2026, laatst bevestigd op 28 november 2026",
    "en": "opened on 3 November 2026, last confirmed on 28 November 2026",
}
# The others: opened and last confirmed on 28 November.
OPENED = {
    "fr": "ouverte le 28 novembre 2026",
    "nl": "geopend op 28 november 2026",
    "en": "opened on 28 November 2026",
}
AFTER_REPORT = {"fr": "Après un signalement : ", "nl": "Na een melding: ", "en": "After a report: "}
NEW_SITUATION = {
    "fr": "nouvelle situation « {label} » (constatée le 28 novembre 2026)",
    "nl": "nieuwe situatie ‘{label}’ (vastgesteld op 28 november 2026)",
    "en": "new situation “{label}” (observed on 28 November 2026)",
}
CLOSED_CAUSE = {
    "fr": "Le comité a clos la situation « {label} » (constatée depuis le {day})",
    "nl": "Het comité heeft de situatie ‘{label}’ afgesloten (vastgesteld sinds {day})",
    "en": "The committee closed the situation “{label}” (observed since {day})",
}
NOV_3 = {"fr": "3 novembre 2026", "nl": "3 november 2026", "en": "3 November 2026"}
NOV_28 = {"fr": "28 novembre 2026", "nl": "28 november 2026", "en": "28 November 2026"}
RED_PENDING = {
    "fr": "Rouge en attente : il faut des situations touchant au moins 2 types d'offre"
    " (manque : collectif, cellulaire).",
    "nl": "Rood in afwachting: er zijn situaties nodig die minstens 2 soorten aanbod treffen"
    " (ontbreekt: collectief, op cel).",
    "en": "Red pending: situations must affect at least 2 offer types"
    " (missing: collective services, in-cell services).",
}
NOTE = "Suivi en cours avec la direction"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"alert_group_wait": 0}


@pytest.fixture
def story(app: Flask, worker: User) -> None:
    """Orange 5 waiting for diversity, then red, both on 28 November."""
    add_contact("direction@haren.test", language="fr")
    with freeze_time("2026-11-03 10:00:00"):
        file_report(worker, conditions=("ACC-01",), offer_types=(IND,))
    with freeze_time("2026-11-28 10:00:00"):
        file_report(worker, conditions=("ACC-01",), offer_types=(IND,))
        file_report(worker, conditions=ORANGE_FIVE, offer_types=(IND,))
        assert (establishment().colour, establishment().step) == ("orange", 5)
    with freeze_time("2026-11-28 11:00:00"):
        file_report(worker, conditions=("SEC-02",), offer_types=(COL,))
        assert establishment().colour == "rouge"


def label(code: str, lang: str) -> str:
    condition = db.session.scalar(select(Condition).where(Condition.code == code))
    assert condition is not None
    return condition.label(lang)


def latest(kind: str) -> AlertEvent:
    query = select(AlertEvent).where(AlertEvent.kind == kind).order_by(AlertEvent.id.desc())
    event = db.session.scalars(query).first()
    assert event is not None, kind
    return event


def settings() -> services.Settings:
    return current_app.config["SETTINGS"]  # type: ignore[no-any-return]


def alert(kind: str, lang: str) -> Rendered:
    notification = Notification(
        id=1,
        kind=kind,
        event=latest(kind),
        language=lang,
        recipient=f"lecteur-{lang}@haren.test",
        recipient_kind=TO_CONTACT,
    )
    return render(kind, lang, alert_content(db.session, notification, settings()).context)


def weekly(lang: str) -> Rendered:
    """The digest of 23–29 November, sent on Monday 30 November to a contact of Haren."""
    haren = establishment()
    run = DigestRun(
        iso_week="2026-W49", recipient="x", establishment_ids=[haren.id], created_at=clock.now()
    )
    notification = Notification(
        id=1,
        kind=DIGEST,
        digest_run=run,
        language=lang,
        recipient=f"lecteur-{lang}@haren.test",
        recipient_kind=TO_CONTACT,
    )
    return render(DIGEST, lang, digest.digest_content(db.session, notification, settings()).context)


def bodies(rendered: Rendered) -> tuple[str, str]:
    """The text and the HTML (unescaped), each on one line."""
    return " ".join(rendered.text.split()), " ".join(unescape(rendered.html).split())


def check(rendered: Rendered, *words: str) -> None:
    for body in (*bodies(rendered), rendered.subject):
        for never in NEVER:
            assert never not in body, never
    for body in bodies(rendered):
        for said in words:
            assert said in body, (said, body)


def inside(cause: str) -> str:
    """A cause after a dash, inside a line: « … — après un signalement : … »."""
    return cause[:1].lower() + cause[1:]


def close(code: str, coordinator: User) -> None:
    query = select(Situation).join(Condition).where(Condition.code == code)
    situation = db.session.scalars(query.where(Situation.status == "open")).one()
    services.resolve_situation(db.session, situation.id, coordinator, "Réglé", settings())
    db.session.commit()


@pytest.mark.parametrize("lang", LANGS)
def test_a_rise_says_its_cause_red_pending_and_each_situations_dates(
    story: None, lang: str
) -> None:
    rise = alert("rise", lang)
    check(
        rise,
        AFTER_REPORT[lang] + NEW_SITUATION[lang].format(label=label("ACC-02", lang)),
        NEW_SITUATION[lang].format(label=label("OFF-01", lang)),
        RED_PENDING[lang],
        label("ACC-01", lang),
        CONFIRMED[lang],
        OPENED[lang],
    )
    assert all(b.count(OPENED[lang]) == len(ORANGE_FIVE) for b in bodies(rise))  # one each


@pytest.mark.parametrize("lang", LANGS)
def test_red_says_its_cause_and_each_situations_dates(story: None, lang: str) -> None:
    check(
        alert("red", lang),
        AFTER_REPORT[lang] + NEW_SITUATION[lang].format(label=label("SEC-02", lang)),
        CONFIRMED[lang],
        OPENED[lang],
    )


@pytest.mark.parametrize("lang", LANGS)
def test_a_reminder_says_its_cause_and_each_situations_dates(story: None, lang: str) -> None:
    red = latest("red")
    with freeze_time("2026-12-01 10:00:00"):
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
        check(
            alert(REMINDER, lang),
            " — "
            + inside(AFTER_REPORT[lang])
            + NEW_SITUATION[lang].format(label=label("SEC-02", lang)),
            CONFIRMED[lang],
            OPENED[lang],
        )


@pytest.mark.parametrize("lang", LANGS)
def test_lifted_and_green_say_the_committee_closed_the_situation(
    story: None, coordinator: User, lang: str
) -> None:
    with freeze_time("2026-12-02 10:00:00"):
        close("SEC-02", coordinator)
        check(
            alert("lifted", lang),
            CLOSED_CAUSE[lang].format(label=label("SEC-02", lang), day=NOV_28[lang]),
            RED_PENDING[lang],
            CONFIRMED[lang],
        )
        for code in ORANGE_FIVE:
            close(code, coordinator)
        close("ACC-01", coordinator)
        green = alert("green", lang)
    check(green, CLOSED_CAUSE[lang].format(label=label("ACC-01", lang), day=NOV_3[lang]))
    assert "Réglé" not in "".join(bodies(green))


@pytest.mark.parametrize("lang", LANGS)
def test_the_digest_says_each_changes_cause_and_each_situations_dates(
    story: None, lang: str
) -> None:
    with freeze_time("2026-11-30 08:30:00"):
        sent = weekly(lang)
    red_cause = AFTER_REPORT[lang] + NEW_SITUATION[lang].format(label=label("SEC-02", lang))
    check(sent, " — " + inside(red_cause) + ".")
    confirmed = CONFIRMED[lang].split(", ")[1]
    text, page = bodies(sent)
    assert text.count(confirmed) == page.count(confirmed) == 1  # ACC-01 only


def test_the_digest_gives_the_note_only_while_it_speaks_of_the_level(story: None) -> None:
    haren = establishment()
    haren.committee_note = NOTE
    haren.committee_note_at = datetime(2026, 11, 28, 12)
    haren.committee_note_colour, haren.committee_note_step = haren.colour, haren.step
    db.session.commit()
    with freeze_time("2026-11-30 08:30:00"):
        text, page = bodies(weekly("fr"))
    heading = "Note du comité du 28 novembre 2026 (au niveau rouge) :"
    assert f"{heading} {NOTE}" in text and heading in page and NOTE in page
    haren.committee_note_colour = "orange"  # written before red: not its word on red
    db.session.commit()
    with freeze_time("2026-11-30 08:30:00"):
        for body in bodies(weekly("nl")):
            assert NOTE not in body and "Opmerking van het comité" not in body
