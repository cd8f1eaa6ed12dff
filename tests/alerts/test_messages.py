"""Messages that explain themselves and links that open (R14), in-process with real SMTP.

Every open situation by its wording, category and offer types (the new ones
marked), the colour per offer type, a link to the establishment's page —
signed for recipients without an account, opening that page only, without
login, until it expires — and the fall out of red told to the red's recipients.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from email.message import EmailMessage
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, current_app
from freezegun import freeze_time
from markupsafe import escape
from sqlalchemy import select

from alerts import digest
from alerts.models import RED_LIFTED, AlertEvent
from alerts.reconcile import reconcile
from barometre import services
from barometre.extensions import db
from barometre.gauge import contrast
from barometre.models import Condition, Situation
from barometre.signed_links import establishment_token
from tests.conftest import file_report

from .conftest import add_contact, establishment, notifications, rise_recipients
from .support import SmtpServer

pytestmark = pytest.mark.committing  # other connections, threads or processes read its commits

IND, COL = "individuel", "collectif"
FIRST = ("ACC-01", "ACC-02", "SEC-01")
LAST = ("OFF-01", "SEC-02")
SECRET_TEXT = "Monsieur Dupont, cellule 12, a vu le directeur"
SIGNED = re.compile(r"https?://[^\s\"<>]+/etablissements/haren\?lien=[A-Za-z0-9_.\-]+")
PLAIN = "http://127.0.0.1:5000/etablissements/haren"
MONDAY_EARLY = "2026-03-02 05:00:00"  # the weekly digest is not due
STYLESHEET = Path(__file__).resolve().parents[2] / "barometre" / "static" / "barometre.css"
BADGE = re.compile(r'<td bgcolor="(#[0-9a-f]{6})" style="background-color:\1;color:(#[0-9a-f]{6});')
HEADING = re.compile(r'<h1 style="[^"]*color:(#[0-9a-f]{6});">')


@pytest.fixture
def settings_overrides(smtp_server: SmtpServer) -> dict[str, Any]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_server.port,
        "alert_group_wait": 0,
        "mail_from": "barometre@fidex.test",
        "public_barometer": False,
    }


def settings() -> services.Settings:
    return current_app.config["SETTINGS"]  # type: ignore[no-any-return]


def wording(code: str, lang: str = "fr") -> str:
    condition = db.session.scalar(select(Condition).where(Condition.code == code))
    assert condition is not None
    return condition.label(lang)


def bodies(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


def go_red(people: dict[str, Any]) -> None:
    """Orange 3 (three individual situations), then red (two collective ones)."""
    file_report(people["worker"], conditions=FIRST, offer_types=(IND,), description=SECRET_TEXT)
    file_report(people["worker"], conditions=LAST, offer_types=(COL,), description=SECRET_TEXT)


def red_message(smtp: SmtpServer, address: str) -> EmailMessage:
    [message] = [m for m in smtp.collector.to(address) if "rouge" in m["Subject"]]
    return message


def signed_link(message: EmailMessage) -> str:
    text, html = bodies(message)
    found = SIGNED.findall(text)
    assert found, text
    assert found[0].replace("&", "&amp;") in html
    return str(found[0])


# --- what the emails say -------------------------------------------------------------


def test_a_red_email_lists_every_open_situation_with_its_types_the_new_ones_marked(
    people: dict[str, Any], smtp: SmtpServer
) -> None:
    go_red(people)
    text, html = bodies(red_message(smtp, people["red_only"]))
    assert "5 situations problématiques différentes sont ouvertes" in text
    assert "touchent 2 types d'offre sur 3 (individuel, collectif)" in text
    for code in FIRST:
        line = f"- {wording(code)} ("
        assert line in text and f"- [NOUVELLE] {wording(code)}" not in text
        assert str(escape(wording(code))) in html
    for code in LAST:
        assert f"- [NOUVELLE] {wording(code)} (" in text
    assert f"{wording('ACC-01')} (Accessibilité\xa0; type d'offre\xa0: individuel)" in text
    assert f"{wording('SEC-02')} (Sécurité\xa0; type d'offre\xa0: collectif)" in text
    assert "- Offre individuelle\xa0: orange 3\r\n- Offre collective\xa0: orange 2" in text
    assert "Offre cellulaire\xa0: vert" in text and "Offre collective\xa0: orange 2" in html
    assert html.count("Nouvelle\xa0:") == 2


def test_a_rise_lists_the_situations_already_open_too(
    people: dict[str, Any], smtp: SmtpServer
) -> None:
    file_report(people["worker"], conditions=("ACC-01",), offer_types=(IND,))
    smtp.collector.reset()
    file_report(people["worker"], conditions=("SEC-01",), offer_types=(IND, COL))
    [message] = smtp.collector.to(people["fr"])
    text, _ = bodies(message)
    assert f"- {wording('ACC-01')} (Accessibilité" in text
    assert (
        f"- [NOUVELLE] {wording('SEC-01')} (Sécurité\xa0; types d'offre\xa0: individuel, collectif)"
        in text
    )
    [dutch] = smtp.collector.to(people["nl"])
    dutch_text, _ = bodies(dutch)
    assert f"- [NIEUW] {wording('SEC-01', 'nl')}" in dutch_text
    assert "- Individueel aanbod: oranje 2\r\n- Collectief aanbod: oranje 1" in dutch_text


def page_colours() -> dict[str, str]:
    """The level colours the pages paint with: the stylesheet's variables."""
    return dict(re.findall(r"(--[\w-]+): (#[0-9a-f]{6});", STYLESHEET.read_text()))


def test_an_email_paints_a_level_as_the_pages_do_with_readable_ink(
    people: dict[str, Any], smtp: SmtpServer
) -> None:
    """Orange 4, then red: the badge of each alert in the page's colour for that level,
    its words in an ink that reads (WCAG AA; white on the emails' own orange 4 read at
    2.7:1), the red's heading in the page's red."""
    file_report(people["worker"], conditions=(*FIRST, "OFF-01"), offer_types=(IND,))
    [rise] = smtp.collector.to(people["fr"])
    [(fill, ink)] = BADGE.findall(bodies(rise)[1])
    assert fill == page_colours().get("--orange-4")
    assert contrast(fill, ink) >= 4.5
    file_report(people["worker"], conditions=("SEC-02",), offer_types=(COL,))
    _, html = bodies(red_message(smtp, people["fr"]))
    [(fill, ink)] = BADGE.findall(html)
    assert fill == HEADING.findall(html)[0] == page_colours().get("--rouge")
    assert contrast(fill, ink) >= 4.5


def test_orange_five_says_which_types_are_missing_for_red(
    people: dict[str, Any], smtp: SmtpServer
) -> None:
    file_report(people["worker"], conditions=FIRST + LAST, offer_types=(IND,))
    [message] = smtp.collector.to(people["fr"])
    text, html = bodies(message)
    pending = (
        "Rouge en attente\xa0: il faut des situations touchant au moins 2 types d'offre"
        " (manque\xa0: collectif, cellulaire)."
    )
    for body in (text, unescape(html)):
        assert pending in body  # the pages' sentence (R4)
        assert "bloqué par la diversité" not in body
    # Painted in the pages' orange, read from the one table of level colours.
    orange = page_colours()["--orange"]
    assert f'border-left:3px solid {orange};">{escape(pending)}</p>' in html
    assert (
        "- Offre individuelle\xa0: orange 5\r\n- Offre collective\xa0: vert\r\n"
        "- Offre cellulaire\xa0: vert" in text
    )


def test_no_email_ever_holds_a_reports_text_author_or_service(
    app: Flask, people: dict[str, Any], smtp: SmtpServer
) -> None:
    go_red(people)
    services.resolve_situation(
        db.session, first_open().id, people["coordinator"], "Réglé", settings()
    )
    db.session.commit()
    digest.plan(db.session, settings(), "2026-W49")
    db.session.commit()
    kinds = {n.kind for n in notifications()}
    assert kinds == {"rise", "red", RED_LIFTED, "digest"}
    worker, service = people["worker"], people["service"]
    for received in smtp.collector.all():
        for body in (*bodies(received.message), received.message["Subject"]):
            assert "Dupont" not in body and "cellule 12" not in body
            assert worker.email not in body and worker.name not in body
            assert service.name not in body and "Réglé" not in body


def first_open() -> Situation:
    situation = db.session.scalars(
        select(Situation).where(Situation.status == "open").order_by(Situation.id)
    ).first()
    assert situation is not None
    return situation


# --- links -------------------------------------------------------------------------


def test_coordinators_get_the_plain_page_link_others_a_signed_one(
    people: dict[str, Any], smtp: SmtpServer
) -> None:
    file_report(people["worker"])
    for address in rise_recipients(people):
        [message] = smtp.collector.to(address)
        text, _ = bodies(message)
        if address in (people["coordinator"].email, people["coordinator_nl"].email):
            assert f"{PLAIN}\n" in text.replace("\r", "") and "lien=" not in text
        else:
            assert SIGNED.search(text), address  # contacts and the service address
    one, other = (smtp.collector.to(people[k])[0] for k in ("fr", "service_address"))
    assert signed_link(one) == signed_link(other)  # one link per event, made once


def test_the_signed_link_opens_the_page_without_login_and_nothing_else(
    app: Flask, people: dict[str, Any], smtp: SmtpServer
) -> None:
    go_red(people)
    link = signed_link(red_message(smtp, people["fr"]))
    visitor = app.test_client()
    assert visitor.get(PLAIN).status_code == 401  # PUBLIC_BAROMETER=0: sign in first
    page = visitor.get(link)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Prison de Haren" in html and "Code rouge" in html
    assert str(escape(wording("ACC-01"))) in html  # the condition wording, as the email named it
    assert "Dupont" not in html and people["worker"].email not in html
    assert people["service"].name not in html
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    token = link.split("lien=", 1)[1]
    periods = re.findall(r'href="([^"]*periode=[^"]*)"', html)
    assert periods and all(f"lien={token}" in p.replace("&amp;", "&") for p in periods)
    twelve = visitor.get(periods[-1].replace("&amp;", "&"))
    assert twelve.status_code == 200  # the chart's other periods open with the same link
    assert "badge/haren.svg" not in html  # nothing on the page that would ask a login
    # Not another establishment, not another page.
    other = visitor.get(f"/etablissements/saint-gilles?lien={token}")
    assert other.status_code == 403 and "Ce lien n'est pas valide" in other.get_data(as_text=True)
    assert visitor.get(f"/?lien={token}").status_code == 401
    assert visitor.get(f"/badge/haren.svg?lien={token}").status_code == 401
    assert visitor.get(f"/api/v1/establishments/haren?lien={token}").status_code == 401
    assert visitor.get(f"/alertes/preferences/{token}").status_code in (400, 404)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature
        lambda t: "Mg" + t[2:],  # payload: establishment 2
        lambda t: "",
        lambda t: "n'importe quoi <script>",
    ],
)
def test_a_tampered_link_gets_a_french_403_page(
    app: Flask, people: dict[str, Any], smtp: SmtpServer, tamper: Any
) -> None:
    file_report(people["worker"])
    token = signed_link(smtp.collector.to(people["fr"])[0]).split("lien=", 1)[1]
    page = app.test_client().get("/etablissements/haren", query_string={"lien": tamper(token)})
    assert page.status_code == 403
    html = page.get_data(as_text=True)
    assert "Ce lien n'est pas valide" in html and 'lang="fr"' in html
    assert "Prison de Haren" not in html


def test_a_link_signed_for_another_purpose_does_not_open(
    app: Flask, people: dict[str, Any]
) -> None:
    from alerts.emails import preferences_token

    haren = establishment("haren")
    wrong = preferences_token(people["fr"], settings())
    session_like = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    assert session_like is not None
    for token in (wrong, session_like.dumps(haren.id)):
        page = app.test_client().get("/etablissements/haren", query_string={"lien": token})
        assert page.status_code == 403


def test_an_expired_link_gets_a_french_410_page(
    app: Flask, people: dict[str, Any], smtp: SmtpServer
) -> None:
    with freeze_time(MONDAY_EARLY, real_asyncio=True) as frozen:
        file_report(people["worker"])
        link = signed_link(smtp.collector.to(people["fr"])[0])
        frozen.tick(timedelta(days=29, hours=23))
        assert app.test_client().get(link).status_code == 200
        frozen.tick(timedelta(hours=2))  # 30 days and an hour: SIGNED_LINK_DAYS is 30
        page = app.test_client().get(link)
    assert page.status_code == 410
    html = page.get_data(as_text=True)
    assert "Ce lien a expiré" in html and "Prison de Haren" not in html


def test_the_links_life_is_configurable_and_counts_from_the_event(
    app: Flask, people: dict[str, Any]
) -> None:
    current_app.config["SETTINGS"] = settings().with_overrides(signed_link_days=2)
    haren = establishment("haren")
    issued = datetime(2026, 3, 2, 5, 0)
    token = establishment_token(haren.id, settings(), issued)
    assert token == establishment_token(haren.id, settings(), issued)  # every copy the same
    client = app.test_client()
    with freeze_time(issued + timedelta(days=1)):
        assert client.get("/etablissements/haren", query_string={"lien": token}).status_code == 200
    with freeze_time(issued + timedelta(days=2, seconds=1)):
        assert client.get("/etablissements/haren", query_string={"lien": token}).status_code == 410


def test_a_link_to_an_unknown_or_closed_establishment_gets_a_french_404(
    app: Flask, people: dict[str, Any]
) -> None:
    haren = establishment("haren")
    token = establishment_token(haren.id, settings())
    client = app.test_client()
    page = client.get("/etablissements/nulle-part", query_string={"lien": token})
    assert page.status_code == 404 and "Établissement introuvable" in page.get_data(as_text=True)
    haren.active = False
    db.session.commit()
    assert client.get("/etablissements/haren", query_string={"lien": token}).status_code == 404


# --- the fall out of red ------------------------------------------------------------------


def test_a_fall_out_of_red_is_told_once_to_the_reds_recipients_only(
    people: dict[str, Any], smtp: SmtpServer
) -> None:
    go_red(people)
    red_event = db.session.scalars(select(AlertEvent).where(AlertEvent.kind == "red")).one()
    told = {n.recipient.lower() for n in notifications(event_id=red_event.id)}
    late = add_contact("arrivee-apres-le-rouge@haren.test").email
    smtp.collector.reset()
    services.resolve_situation(db.session, first_open().id, people["coordinator"], "ok", settings())
    db.session.commit()
    lifted = notifications(kind=RED_LIFTED)
    assert {n.recipient.lower() for n in lifted} == told
    assert sorted(a for r in smtp.collector.all() for a in r.recipients) == sorted(told)
    assert smtp.collector.to(late) == [] and smtp.collector.to(people["no_alerts"]) == []
    [message] = smtp.collector.to(people["red_only"])
    assert message["Subject"] == "Baromètre\xa0: le code rouge est levé à la prison de Haren"
    text, _ = bodies(message)
    assert "passé de rouge à orange 4 sur 5" in text
    assert "4 situations problématiques ouvertes." in text
    [dutch] = smtp.collector.to(people["nl"])
    assert dutch["Subject"] == "Barometer: code rood opgeheven in Gevangenis van Haren"
    # Exactly once: a second fall, or the reconciler, sends nothing more.
    services.resolve_situation(db.session, first_open().id, people["coordinator"], "ok", settings())
    db.session.commit()
    with freeze_time(MONDAY_EARLY, real_asyncio=True):
        reconcile(db.session, settings())
        db.session.commit()
    assert len(notifications(kind=RED_LIFTED)) == len(told)
    assert smtp.collector.count() == len(told)


def test_a_fall_after_an_opt_out_skips_that_address(
    people: dict[str, Any], smtp: SmtpServer
) -> None:
    from alerts.recipients import set_preference

    go_red(people)
    set_preference(db.session, people["fr"], alerts=False, digest=True)
    db.session.commit()
    smtp.collector.reset()
    services.resolve_situation(db.session, first_open().id, people["coordinator"], "ok", settings())
    db.session.commit()
    assert smtp.collector.to(people["fr"]) == []
    assert len(smtp.collector.to(people["red_only"])) == 1


class TestRedLiftedOff:
    @pytest.fixture
    def settings_overrides(self, smtp_server: SmtpServer) -> dict[str, Any]:
        return {
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_server.port,
            "alert_group_wait": 0,
            "notify_red_lifted": False,
        }

    def test_nothing_is_sent(self, people: dict[str, Any], smtp: SmtpServer) -> None:
        go_red(people)
        smtp.collector.reset()
        services.resolve_situation(
            db.session, first_open().id, people["coordinator"], "ok", settings()
        )
        db.session.commit()
        assert smtp.collector.count() == 0 and notifications(kind=RED_LIFTED) == []


class TestRedNeverSent:
    @pytest.fixture
    def settings_overrides(self, smtp_server: SmtpServer) -> dict[str, Any]:
        return {"smtp_host": "127.0.0.1", "smtp_port": smtp_server.port, "alert_group_wait": 300}

    def test_a_red_undone_within_its_group_wait_lifts_nothing(
        self, people: dict[str, Any], smtp: SmtpServer
    ) -> None:
        with freeze_time(MONDAY_EARLY, real_asyncio=True) as frozen:
            go_red(people)
            frozen.tick(60)
            services.resolve_situation(
                db.session, first_open().id, people["coordinator"], "ok", settings()
            )
            db.session.commit()
            frozen.tick(300)
            reconcile(db.session, settings())
            db.session.commit()
        subjects = {m["Subject"] for m in smtp.collector.to(people["fr"])}
        assert subjects == {"Baromètre\xa0: la prison de Haren passe en code orange 4 sur 5"}
        assert notifications(kind=RED_LIFTED) == []


class TestGrouped:
    @pytest.fixture
    def settings_overrides(self, smtp_server: SmtpServer) -> dict[str, Any]:
        return {"smtp_host": "127.0.0.1", "smtp_port": smtp_server.port, "alert_group_wait": 300}

    def test_a_group_email_lists_every_open_situation_and_marks_the_groups_new_ones(
        self, people: dict[str, Any], smtp: SmtpServer
    ) -> None:
        with freeze_time(MONDAY_EARLY, real_asyncio=True) as frozen:
            file_report(people["worker"], conditions=("ACC-01",))
            frozen.tick(301)
            reconcile(db.session, settings())  # orange 1 is told
            db.session.commit()
            smtp.collector.reset()
            file_report(people["worker"], conditions=("ACC-02",))
            frozen.tick(60)
            file_report(people["worker"], conditions=("SEC-01",), offer_types=(COL,))
            frozen.tick(300)
            reconcile(db.session, settings())
            db.session.commit()
        [message] = smtp.collector.to(people["fr"])
        assert (
            message["Subject"] == "Baromètre\xa0: la prison de Haren passe en code orange 3 sur 5"
        )
        text, _ = bodies(message)
        assert f"- {wording('ACC-01')} (" in text
        assert f"- [NOUVELLE] {wording('ACC-02')} (" in text
        assert (
            f"- [NOUVELLE] {wording('SEC-01')} (Sécurité\xa0; type d'offre\xa0: collectif)" in text
        )
        assert "- Offre individuelle\xa0: orange 2\r\n- Offre collective\xa0: orange 1" in text


def test_an_event_recorded_before_r14_still_renders_its_new_situations(
    people: dict[str, Any], smtp: SmtpServer
) -> None:
    from alerts.kinds import compose

    file_report(people["worker"], conditions=("ACC-01", "SEC-01"))
    event = db.session.scalars(select(AlertEvent)).one()
    event.open_situation_ids = None  # as the migration leaves older rows
    db.session.commit()
    [row] = [n for n in notifications() if n.recipient == people["fr"]]
    text, _ = bodies(compose(db.session, row, settings()))
    assert "Nouvelles situations problématiques\xa0:" in text
    assert wording("ACC-01") in text and "[NOUVELLE]" not in text
    assert "Par type d'offre" not in text


class TestAnEarlierRedIsNotLiftedAgain:
    @pytest.fixture
    def settings_overrides(self, smtp_server: SmtpServer) -> dict[str, Any]:
        return {
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_server.port,
            "alert_group_wait": 0,
            "notify_back_to_green": False,
        }

    def test_a_new_red_never_sent_lifts_nothing_even_if_the_last_red_was_not_ended(
        self, people: dict[str, Any], smtp: SmtpServer
    ) -> None:
        with freeze_time(MONDAY_EARLY, real_asyncio=True) as frozen:
            first = file_report(people["worker"], conditions=FIRST + LAST, offer_types=(IND, COL))
            services.reject_report(
                db.session, first.report.id, people["coordinator"], "Doublon", settings()
            )
            db.session.commit()  # red -> green at once, and no green notice: the red never ended
            current_app.config["SETTINGS"] = settings().with_overrides(alert_group_wait=300)
            frozen.tick(60)
            smtp.collector.reset()
            go_red(people)  # a second red spell, waiting in its group
            frozen.tick(60)
            services.resolve_situation(
                db.session, first_open().id, people["coordinator"], "ok", settings()
            )
            db.session.commit()
        assert notifications(kind=RED_LIFTED) == []
        assert smtp.collector.count() == 0
