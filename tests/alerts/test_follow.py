"""Follow one establishment (issue 19): double opt-in, followers as recipients, stopping.

Emails go to a real SMTP server (aiosmtpd), delivered in process after each
commit; the establishment's rises come from real reports.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from flask_babel import refresh
from freezegun import freeze_time
from sqlalchemy import func, select

from alerts.follow import service as follow
from alerts.follow.models import Follower, FollowRequest
from alerts.recipients import event_recipients, preference
from alerts.trouble import trouble_counts
from barometre.extensions import db
from barometre.models import AuditEntry, User
from barometre.retention import purge_expired
from tests.conftest import file_report, login, make_user

from .conftest import add_contact, establishment, notifications
from .support import SmtpServer

BASE = "https://barometre.example.org"
FAN = "suiveur@exemple.test"
CONFIRM = re.compile(r"https?://[^/\s]+(/etablissements/[a-z-]+/suivre/confirmer/[^\s\"<>]+)")


@pytest.fixture
def settings_overrides(smtp_server: SmtpServer) -> dict[str, Any]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_server.port,
        "alert_group_wait": 0,
        "mail_from": "barometre@fidex.test",
        "base_url": BASE,
        "public_barometer": True,
    }


def ask(
    client: FlaskClient, slug: str = "haren", email: str = FAN, lang: str = "fr", **fields: Any
) -> Any:
    data = {"email": email, "alerts": "toutes", **fields}
    headers = {"Accept-Language": lang}
    refresh()  # the test's app context outlives requests: forget the last one's locale
    return client.post(f"/etablissements/{slug}/suivre", data=data, headers=headers)


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def confirm_path(message: EmailMessage) -> str:
    found = CONFIRM.search(text_of(message))
    assert found, text_of(message)
    return found.group(1)


def confirm(client: FlaskClient, message: EmailMessage) -> None:
    path = confirm_path(message)
    assert client.get(path).status_code == 200  # a page with a button: a GET changes nothing
    assert db.session.scalar(select(func.count()).select_from(Follower)) == 0
    done = client.post(path)
    assert done.status_code == 200, done.get_data(as_text=True)
    assert "Suivi confirmé" in done.get_data(as_text=True)


def followers() -> list[Follower]:
    db.session.expire_all()
    return list(db.session.scalars(select(Follower).order_by(Follower.id)))


@pytest.mark.committing
def test_anonymous_follows_confirms_gets_its_rises_then_stops_with_one_click(
    app: Flask, smtp: SmtpServer
) -> None:
    """The acceptance test of issue 19."""
    client = app.test_client()
    worker = make_user("worker")
    page = client.get("/etablissements/haren")
    assert 'href="/etablissements/haren/suivre"' in page.get_data(as_text=True)
    answer = ask(client)
    assert answer.status_code == 200
    [confirmation] = smtp.collector.to(FAN)
    assert "Haren" in str(confirmation["Subject"])
    confirm(client, confirmation)
    [row] = followers()
    assert (row.email, row.language, row.alerts, row.red_only) == (FAN, "fr", True, False)

    file_report(worker)  # a rise at Haren
    [_, rise] = smtp.collector.to(FAN)
    assert "Haren" in str(rise["Subject"])
    assert notifications(kind="rise")[-1].recipient_kind == "follower"

    file_report(worker, establishment="saint-gilles")  # a rise elsewhere: nothing
    assert len(smtp.collector.to(FAN)) == 2

    url = str(rise["List-Unsubscribe"]).strip("<>")
    app.config["WTF_CSRF_ENABLED"] = True  # as in production: the provider sends no token
    stopped = app.test_client().post(url.removeprefix(BASE), data={"List-Unsubscribe": "One-Click"})
    app.config["WTF_CSRF_ENABLED"] = False
    assert stopped.status_code == 200
    assert followers() == []  # nothing left to receive: the follower is forgotten

    file_report(worker, conditions=("ACC-01",))  # the next rise of Haren
    assert len(smtp.collector.to(FAN)) == 2


@pytest.mark.parametrize("backend", ["sqlite"])
def test_nothing_is_sent_before_the_link_is_followed(app: Flask, smtp: SmtpServer) -> None:
    client = app.test_client()
    ask(client, digest="y")
    file_report(make_user("worker"))
    messages = smtp.collector.to(FAN)
    assert len(messages) == 1  # the confirmation only
    assert followers() == []
    assert all(n.kind == "follow" for n in notifications(recipient=FAN))
    result = app.test_cli_runner().invoke(args=["digest", "send"])
    assert result.exit_code == 0, result.output
    assert len(smtp.collector.to(FAN)) == 1


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_same_answer_whether_the_address_follows_or_not(app: Flask, smtp: SmtpServer) -> None:
    client = app.test_client()
    first = ask(client)
    confirm(client, smtp.collector.to(FAN)[0])
    again = ask(client)
    other = ask(client, email="inconnu@exemple.test")
    assert first.status_code == again.status_code == other.status_code == 200
    known = again.get_data(as_text=True).replace(FAN, "ADDRESS")
    unknown = other.get_data(as_text=True).replace("inconnu@exemple.test", "ADDRESS")
    assert known == unknown
    # Both get a confirmation email; the follower's choice changes only if it confirms again.
    assert len(smtp.collector.to(FAN)) == 2
    assert len(smtp.collector.to("inconnu@exemple.test")) == 1


@pytest.mark.parametrize("backend", ["sqlite"])
def test_confirming_again_takes_the_new_choice_and_a_used_link_confirms_nothing(
    app: Flask, smtp: SmtpServer
) -> None:
    client = app.test_client()
    ask(client)
    first = smtp.collector.to(FAN)[0]
    confirm(client, first)
    again = client.get(confirm_path(first))  # already used: it says the address follows
    assert again.status_code == 200 and "Cette adresse suit déjà" in again.get_data(as_text=True)
    assert "<form" not in again.get_data(as_text=True).split("<main", 1)[1]
    ask(client, alerts="rouge", digest="y")
    path = confirm_path(smtp.collector.to(FAN)[1])
    assert client.post(path).status_code == 200
    [row] = followers()
    assert (row.alerts, row.red_only, row.digest) == (True, True, True)
    assert client.get(path[:-3] + "xyz").status_code == 404  # tampered


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_used_link_says_the_address_follows_until_it_stops(app: Flask, smtp: SmtpServer) -> None:
    """A second visit to a used link (the next day, or long after it expired) does not send
    a follower back to « Refaites une demande »; once it stopped, the link is gone."""
    client = app.test_client()
    with freeze_time("2026-03-02 05:00:00", real_asyncio=True) as frozen:
        ask(client)
        path = confirm_path(smtp.collector.to(FAN)[0])
        confirm(client, smtp.collector.to(FAN)[0])
        for later in (timedelta(hours=1), timedelta(days=30)):
            frozen.tick(later)
            for method in ("GET", "POST"):
                answer = client.open(path, method=method)
                page = answer.get_data(as_text=True)
                assert answer.status_code == 200, (later, method)
                assert "Cette adresse suit déjà la prison de Haren" in page, (later, method)
                assert "Refaites une demande" not in page
                assert answer.headers["Cache-Control"] == "no-store"
        assert [row.email for row in followers()] == [FAN]
        follow.stop(db.session, FAN, alerts=True, digest=True)
        db.session.commit()
        gone = client.get(path)
    assert gone.status_code == 410 and "Refaites une demande" in gone.get_data(as_text=True)
    # Another establishment in the path: only what the address follows is said.
    other = client.get(path.replace("/haren/", "/saint-gilles/"))
    assert other.status_code == 410


@pytest.mark.parametrize("backend", ["sqlite"])
def test_an_expired_link_does_not_confirm(app: Flask, smtp: SmtpServer) -> None:
    client = app.test_client()
    with freeze_time("2026-03-02 05:00:00", real_asyncio=True) as frozen:
        ask(client)
        path = confirm_path(smtp.collector.to(FAN)[0])
        frozen.tick(timedelta(hours=follow.FOLLOW_LINK_HOURS, seconds=1))
        answer = client.post(path)
    assert answer.status_code == 410
    assert "n'est plus valable" in answer.get_data(as_text=True)
    assert followers() == []


@pytest.mark.parametrize("backend", ["sqlite"])
def test_requests_are_throttled_per_address_and_per_client(app: Flask, smtp: SmtpServer) -> None:
    client = app.test_client()
    with freeze_time("2026-03-02 05:00:00", real_asyncio=True) as frozen:
        for _ in range(follow.MAX_PER_ADDRESS):
            assert ask(client).status_code == 200
        refused = ask(client)
        assert refused.status_code == 429
        assert "Trop de demandes de suivi" in refused.get_data(as_text=True)
        assert len(smtp.collector.to(FAN)) == follow.MAX_PER_ADDRESS  # nothing more sent
        # Another client may still ask for another address, not for this one.
        other = app.test_client()
        assert ask(other, email="autre@exemple.test").status_code == 200
        # One client, many addresses.
        for n in range(follow.MAX_PER_CLIENT - follow.MAX_PER_ADDRESS - 1):
            assert ask(client, email=f"a{n}@exemple.test").status_code == 200
        assert ask(client, email="encore@exemple.test").status_code == 429
        assert smtp.collector.to("encore@exemple.test") == []
        frozen.tick(follow.THROTTLE_WINDOW + timedelta(seconds=1))
        assert ask(client).status_code == 200


@pytest.mark.parametrize("backend", ["sqlite"])
def test_bad_input_gets_french_errors_and_sends_nothing(app: Flask, smtp: SmtpServer) -> None:
    client = app.test_client()
    bad = ask(client, email="pas une adresse")
    assert bad.status_code == 422
    assert "Adresse électronique invalide." in bad.get_data(as_text=True)
    nothing = ask(client, alerts="aucune")
    assert nothing.status_code == 422
    assert "Choisissez au moins les alertes ou la synthèse." in nothing.get_data(as_text=True)
    assert client.get("/etablissements/inconnu/suivre").status_code == 404
    assert smtp.collector.count() == 0
    assert db.session.scalar(select(func.count()).select_from(FollowRequest)) == 0


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("settings_overrides", [{"public_barometer": False}])
def test_a_private_barometer_refuses_anonymous_followers(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/etablissements/haren/suivre", headers={"Accept": "text/html"})
    assert page.status_code in (302, 303) and "/connexion" in page.headers["Location"]
    assert ask(client).status_code in (302, 303, 401)
    assert db.session.scalar(select(func.count()).select_from(FollowRequest)) == 0
    worker = make_user("worker")
    login(client, worker)
    form = client.get("/etablissements/haren/suivre")
    assert form.status_code == 200
    assert f'value="{worker.email}"' in form.get_data(as_text=True)  # filled in for them
    assert ask(client, email=worker.email).status_code == 200


@pytest.mark.parametrize("backend", ["sqlite"])
def test_followers_get_their_choice_in_their_language_once_per_event(
    app: Flask, smtp: SmtpServer
) -> None:
    client = app.test_client()
    add_contact("direction@haren.test")
    ask(client, email="direction@haren.test")  # also a contact: one email per event
    ask(client, email="rouge@exemple.test", alerts="rouge")
    ask(client, email="volger@exemple.test", lang="nl")
    ask(client, email="follower@exemple.test", lang="en")
    confirmations = {r.recipients[0]: r.message for r in smtp.collector.all()}
    assert confirmations["volger@exemple.test"]["Content-Language"] == "nl"
    english = confirmations["follower@exemple.test"]
    assert english["Content-Language"] == "en"
    assert str(english["Subject"]).startswith("Barometer: confirm")
    for message in confirmations.values():
        assert client.post(confirm_path(message)).status_code == 200
    languages = {f.email: f.language for f in followers()}
    assert languages["volger@exemple.test"] == "nl"
    assert languages["follower@exemple.test"] == "en"
    file_report(make_user("worker"))  # a rise, not red
    rises = notifications(kind="rise")
    assert [n.recipient for n in rises].count("direction@haren.test") == 1
    assert "rouge@exemple.test" not in {n.recipient for n in rises}
    [nl] = [n for n in rises if n.recipient == "volger@exemple.test"]
    assert nl.language == "nl"


@pytest.mark.parametrize("backend", ["sqlite"])
def test_coordinators_list_and_remove_followers_audited(
    app: Flask, smtp: SmtpServer, coordinator: User
) -> None:
    client = app.test_client()
    ask(client)
    confirm(client, smtp.collector.to(FAN)[0])
    [row] = followers()
    assert app.test_client().get("/coordination/abonnes").status_code in (302, 303, 401)
    login(client, coordinator)
    listing = client.get("/coordination/abonnes")
    assert listing.status_code == 200
    assert FAN in listing.get_data(as_text=True)
    removed = client.post(f"/coordination/abonnes/{row.id}/supprimer")
    assert removed.status_code in (302, 303)
    assert followers() == []
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "follower.remove"))
    assert entry is not None and entry.actor_id == coordinator.id
    assert FAN not in str(entry.detail)
    file_report(make_user("worker"))
    assert len(smtp.collector.to(FAN)) == 1  # the confirmation only


@pytest.mark.parametrize("backend", ["sqlite"])
def test_retention_erases_expired_requests_and_followers_with_nothing_left(
    app: Flask, smtp: SmtpServer
) -> None:
    client = app.test_client()
    settings = app.config["SETTINGS"]
    with freeze_time("2026-03-02 05:00:00", real_asyncio=True) as frozen:
        ask(client)
        ask(client, email="stays@exemple.test")
        confirm(client, smtp.collector.to("stays@exemple.test")[0])
        frozen.tick(timedelta(hours=follow.FOLLOW_LINK_HOURS) - timedelta(seconds=1))
        assert purge_expired(db.session, settings).erased("follow_requests") == 0
        frozen.tick(timedelta(seconds=2))
        purged = purge_expired(db.session, settings)
        db.session.commit()
    assert purged.erased("follow_requests") == 1
    assert db.session.scalar(select(func.count()).select_from(FollowRequest)) == 0
    [row] = followers()
    row.alerts = row.digest = False  # e.g. changed by hand: nothing left to receive
    db.session.commit()
    assert purge_expired(db.session, settings).erased("followers") == 1
    db.session.commit()
    assert followers() == []


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_record_of_processing_counts_followers(
    app: Flask, smtp: SmtpServer, coordinator: User
) -> None:
    client = app.test_client()
    ask(client)
    confirm(client, smtp.collector.to(FAN)[0])
    login(client, coordinator)
    record = client.get("/coordination/donnees/registre.txt").get_data(as_text=True)
    assert "Personnes qui suivent un établissement (adresse électronique, langue, choix)" in record
    page = client.get("/coordination/donnees").get_data(as_text=True)
    assert "Demandes de suivi non confirmées" in page


@pytest.mark.committing
def test_a_confirmation_whose_request_is_gone_fails_without_retrying(
    app: Flask, smtp: SmtpServer
) -> None:
    smtp.collector.answer("451 4.3.0 Plus tard")
    ask(app.test_client())
    [row] = notifications(kind="follow")
    assert row.state == "pending"
    db.session.execute(FollowRequest.__table__.delete())
    db.session.commit()
    from alerts.delivery import deliver_batch

    with freeze_time(datetime.now() + timedelta(hours=2), real_asyncio=True):
        deliver_batch(db.session, [row.id], app.config["SETTINGS"])
    [row] = notifications(kind="follow")
    assert row.state == "failed"
    assert "Demande de suivi effacée" in row.last_error
    # A visitor's address is not the coordinators' trouble: no banner, no warning.
    assert trouble_counts(db.session) == {}


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_follower_gets_the_digest_of_its_establishment_only(app: Flask, smtp: SmtpServer) -> None:
    client = app.test_client()
    ask(client, alerts="aucune", digest="y")
    confirm(client, smtp.collector.to(FAN)[0])
    file_report(make_user("worker"))  # a rise: this follower asked for no alerts
    assert len(smtp.collector.to(FAN)) == 1
    result = app.test_cli_runner().invoke(args=["digest", "send"])
    assert result.exit_code == 0, result.output
    [digest] = notifications(kind="digest", recipient=FAN)
    assert digest.recipient_kind == "follower"
    assert digest.digest_run is not None
    assert digest.digest_run.establishment_ids == [establishment("haren").id]
    assert len(smtp.collector.to(FAN)) == 2


@pytest.mark.parametrize("backend", ["sqlite"])
def test_stopping_through_the_preferences_page_forgets_the_follower(
    app: Flask, smtp: SmtpServer
) -> None:
    client = app.test_client()
    ask(client, digest="y")
    confirm(client, smtp.collector.to(FAN)[0])
    file_report(make_user("worker"))
    rise = smtp.collector.to(FAN)[1]
    manage = re.search(rf"{re.escape(BASE)}(/alertes/preferences/\S+)", text_of(rise))
    assert manage is not None
    page = client.get(manage.group(1)).get_data(as_text=True)
    assert "Prison de Haren" in page  # what it follows is listed
    client.post(manage.group(1), data={"alerts": "1"})  # keeps alerts, stops the digest
    [row] = followers()
    assert (row.alerts, row.digest) == (True, False)
    client.post(manage.group(1), data={"stop_all": "1"})
    assert followers() == []
    # An address that only followed leaves nothing behind.
    assert preference(db.session, FAN) is None


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_contacts_one_click_also_stops_what_it_follows(app: Flask, smtp: SmtpServer) -> None:
    client = app.test_client()
    add_contact("direction@haren.test", slug="haren")
    ask(client, slug="saint-gilles", email="direction@haren.test", digest="y")
    confirm(client, smtp.collector.to("direction@haren.test")[0])
    file_report(make_user("worker"))  # a rise at Haren, told to its contact
    rise = smtp.collector.to("direction@haren.test")[1]
    url = str(rise["List-Unsubscribe"]).strip("<>")
    assert client.post(url.removeprefix(BASE)).status_code == 200
    [row] = followers()
    assert (row.alerts, row.digest) == (False, True)
    choice = preference(db.session, "direction@haren.test")
    assert choice is not None and (choice.alerts, choice.digest) == (False, True)


def one_click(client: FlaskClient, message: EmailMessage) -> int:
    url = str(message["List-Unsubscribe"]).strip("<>")
    answer = client.post(url.removeprefix(BASE), data={"List-Unsubscribe": "One-Click"})
    return answer.status_code


def follows_of(address: str) -> dict[str, tuple[bool, bool]]:
    """(alerts, digest) by the slug of what the address follows."""
    return {f.establishment.slug: (f.alerts, f.digest) for f in followers() if f.email == address}


@pytest.mark.committing
def test_a_followers_one_click_stops_only_the_establishment_its_email_was_about(
    app: Flask, smtp: SmtpServer
) -> None:
    """Issue 24, item 10a: a follower of two establishments; its other follow stays."""
    client = app.test_client()
    for slug in ("haren", "saint-gilles"):
        ask(client, slug=slug, digest="y")
        assert client.post(confirm_path(smtp.collector.to(FAN)[-1])).status_code == 200
    file_report(make_user("worker"))  # a rise at Haren
    rise = smtp.collector.to(FAN)[-1]
    assert "Haren" in str(rise["Subject"])
    assert one_click(client, rise) == 200
    assert follows_of(FAN) == {"haren": (False, True), "saint-gilles": (True, True)}
    assert preference(db.session, FAN) is None  # nothing said about anything else
    # The token carries its establishment: tampered with, it opens nothing.
    url = str(rise["List-Unsubscribe"]).strip("<>").removeprefix(BASE)
    token = url.split("/")[3]
    forged = url.replace(token, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    assert client.post(forged).status_code == 404
    assert client.get(f"/alertes/preferences/{token}").status_code == 404  # a salt of its own
    # A human who opens the link lands on the page that offers the rest.
    page = client.get(url, follow_redirects=True).get_data(as_text=True)
    assert "Prison de Haren" in page and "Saint-Gilles" in page

    result = app.test_cli_runner().invoke(args=["digest", "send"])
    assert result.exit_code == 0, result.output
    digest = smtp.collector.to(FAN)[-1]
    assert one_click(client, digest) == 200  # the digest of what it follows, no more
    assert follows_of(FAN) == {"saint-gilles": (True, False)}


@pytest.mark.committing
def test_a_confirmation_emails_one_click_cancels_that_request_only(
    app: Flask, smtp: SmtpServer
) -> None:
    client = app.test_client()
    ask(client, slug="saint-gilles")
    confirm(client, smtp.collector.to(FAN)[0])
    ask(client, slug="haren")
    confirmation = smtp.collector.to(FAN)[-1]
    assert one_click(client, confirmation) == 200
    assert follows_of(FAN) == {"saint-gilles": (True, False)}
    assert db.session.scalar(select(func.count()).select_from(FollowRequest)) == 0


CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_forms_carry_their_csrf_token(app: Flask, smtp: SmtpServer) -> None:
    app.config["WTF_CSRF_ENABLED"] = True  # as in production
    client = app.test_client()
    # HTTPS (BASE_URL): Flask-WTF also wants a same-origin Referer, as browsers send.
    client.environ_base["HTTP_REFERER"] = "https://localhost/etablissements/haren/suivre"

    def fresh() -> FlaskClient:
        g.pop("csrf_token", None)  # the test's app context outlives requests
        return client

    refused = ask(fresh())  # no token: refused, nothing sent
    assert refused.status_code == 400 and smtp.collector.count() == 0
    page = fresh().get("/etablissements/haren/suivre").get_data(as_text=True)
    token = CSRF_FIELD.search(page)
    assert token is not None
    sent = ask(fresh(), csrf_token=token.group(1))
    assert sent.status_code == 200, sent.get_data(as_text=True)
    path = confirm_path(smtp.collector.to(FAN)[0])
    assert fresh().post(path).status_code == 400  # no token
    shown = CSRF_FIELD.search(fresh().get(path).get_data(as_text=True))
    assert shown is not None
    assert fresh().post(path, data={"csrf_token": shown.group(1)}).status_code == 200
    assert [f.email for f in followers()] == [FAN]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_who_receives_what_shows_followers_and_a_coordinator_can_stop_them(
    app: Flask, smtp: SmtpServer, coordinator: User
) -> None:
    client = app.test_client()
    ask(client, alerts="rouge")
    confirm(client, smtp.collector.to(FAN)[0])
    login(client, coordinator)
    page = client.get("/coordination/adresses").get_data(as_text=True)
    assert FAN in page and "suit la prison de Haren" in page
    client.post("/coordination/adresses", data={"email": FAN, "alerts": "0", "digest": "0"})
    assert followers() == []  # as its own link would: nothing left, forgotten


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_end_of_a_red_is_not_told_to_who_stopped_following(
    app: Flask, smtp: SmtpServer
) -> None:
    client = app.test_client()
    ask(client)
    confirm(client, smtp.collector.to(FAN)[0])
    file_report(make_user("worker"))
    [rise] = [n for n in notifications(kind="rise") if n.recipient == FAN]
    assert rise.event_id is not None
    assert FAN in {r.address for r in event_recipients(db.session, rise.event_id)}
    follow.stop(db.session, FAN, alerts=True, digest=False)
    db.session.commit()
    assert FAN not in {r.address for r in event_recipients(db.session, rise.event_id)}


@pytest.mark.committing
def test_confirmations_racing_on_one_address_make_one_follower_and_no_error(
    app: Flask, smtp: SmtpServer
) -> None:
    """Both links of an address (it asked twice), each clicked four times at once."""
    ask(app.test_client())
    ask(app.test_client(), alerts="rouge")
    paths = [confirm_path(m) for m in smtp.collector.to(FAN)]
    assert len(paths) == 2
    start = threading.Barrier(8)

    def click(index: int) -> int:
        with app.app_context():
            client = app.test_client()
            start.wait()
            status = client.post(paths[index % 2]).status_code
            db.session.remove()
            return status

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(click, range(8)))
    assert all(status in (200, 410) for status in answers), answers
    assert 200 in answers
    assert len(followers()) == 1


@pytest.mark.committing  # the request's email goes in process
def test_a_request_another_confirmation_took_first_is_confirmed_without_a_warning(
    app: Flask, smtp: SmtpServer
) -> None:
    """The loser of a race finds its request already gone: its DELETE matches no row,
    which is the expected outcome of the race, not something to warn about."""
    import warnings

    from sqlalchemy import delete

    ask(app.test_client())
    request = db.session.scalars(select(FollowRequest)).one()
    db.session.execute(
        delete(FollowRequest).where(FollowRequest.id == request.id),
        execution_options={"synchronize_session": False},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        follower = follow.confirm(db.session, request)
    assert follower.email == FAN and len(followers()) == 1
