"""Channels in the console (issue 30): « Qui reçoit quoi » lists them, adds, tests and
removes them; their URL and secret never show in full once saved; a failing channel is
on every console page and in the coordinators' warning."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, current_app, g
from flask.testing import FlaskClient
from sqlalchemy import select
from standardwebhooks import Webhook

from alerts import trouble
from alerts.channels import service as channels
from alerts.channels.models import Channel
from alerts.kinds import compose
from alerts.models import TROUBLE, Notification, NotificationState
from barometre import clock
from barometre.extensions import db
from barometre.models import ROLE_COORDINATOR, ROLE_WORKER, AuditEntry, Establishment, User
from barometre.settings import Settings
from tests.conftest import file_report, login, make_user

from .conftest import notifications
from .support import HookReceiver, Reply, free_port

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef01234567").decode()
TOKEN = "jeton-tres-secret-42"  # what a webhook's path may hold: never shown once saved
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


HOOK_PATH = f"hook/{TOKEN}?cle={TOKEN}"


def hook(receiver: HookReceiver) -> str:
    """The receiver's webhook URL, whose path and query hold a token."""
    return receiver.url(HOOK_PATH)


def received(receiver: HookReceiver) -> list[tuple[dict[str, str], bytes]]:
    return [(posted.headers, posted.body) for posted in receiver.all()]


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    running = HookReceiver().start()
    running.default = Reply(200)
    yield running
    running.stop()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"channels_allow_private": True, "alert_group_wait": 0}


def settings() -> Settings:
    return current_app.config["SETTINGS"]  # type: ignore[no-any-return]


@pytest.fixture
def coordinator(app: Flask) -> User:
    return make_user(ROLE_COORDINATOR)


@pytest.fixture
def signed_in(client: FlaskClient, coordinator: User) -> FlaskClient:
    login(client, coordinator)
    return client


def add_channel(url: str, secret: str = SECRET, **where: Any) -> Channel:
    added = channels.add(db.session, None, settings(), url, secret=secret, **where)
    db.session.commit()
    return added.channel


def words(response: Any) -> str:
    """A page's text, its entities read and French no-break spaces as spaces."""
    return html.unescape(response.get_data(as_text=True)).replace("\xa0", " ")


def page(client: FlaskClient, url: str = "/coordination/adresses") -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return words(response)


def field_error(text: str, name: str) -> str:
    """The error shown under one field of the add form (empty: none)."""
    marker = f'id="{name}-error">'
    return text.split(marker, 1)[1].split("</p>", 1)[0] if marker in text else ""


def console_pages(client: FlaskClient) -> str:
    return "".join(
        page(client, url)
        for url in ("/coordination/adresses", "/coordination/notifications", "/coordination/")
    )


# --- access ---------------------------------------------------------------------------------

ROUTES = (
    ("GET", "/coordination/adresses"),
    ("POST", "/coordination/canaux"),
    ("POST", "/coordination/canaux/{id}/test"),
    ("GET", "/coordination/canaux/{id}/supprimer"),
    ("POST", "/coordination/canaux/{id}/supprimer"),
)


def test_only_coordinators_reach_the_channels(app: Flask, receiver: HookReceiver) -> None:
    channel = add_channel(hook(receiver))
    worker, coordinator = make_user(ROLE_WORKER), make_user(ROLE_COORDINATOR)
    served = {
        (method, rule.rule.replace("<id:channel_id>", "{id}"))
        for rule in app.url_map.iter_rules()
        if rule.endpoint
        in (
            "alerts.addresses",
            "alerts.add_channel",
            "alerts.test_channel",
            "alerts.remove_channel",
        )
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert set(ROUTES) <= served  # every method of every route is walked below
    for method, template in sorted(served):
        url = template.format(id=channel.id)
        anonymous = app.test_client().open(url, method=method)
        assert anonymous.status_code in (302, 303, 401), (method, url)
        if anonymous.status_code != 401:
            assert "/connexion" in anonymous.headers["Location"]
        as_worker = app.test_client()
        login(as_worker, worker)
        assert as_worker.open(url, method=method, data={"url": "x"}).status_code == 403
    assert channels.live(db.session, channel.id) is not None  # nothing was removed
    assert received(receiver) == []  # nor tested
    as_coordinator = app.test_client()
    login(as_coordinator, coordinator)
    for method in ("PUT", "DELETE", "PATCH"):
        url = f"/coordination/canaux/{channel.id}/supprimer"
        assert as_coordinator.open(url, method=method).status_code == 405


# --- adding ---------------------------------------------------------------------------------


def test_a_webhook_added_without_secret_shows_its_secret_once(
    signed_in: FlaskClient, receiver: HookReceiver
) -> None:
    response = signed_in.post(
        "/coordination/canaux",
        data={"owner": "comite", "url": hook(receiver), "kind": "", "language": "nl"},
    )
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    channel = db.session.scalars(select(Channel)).one()
    assert channel.kind == "webhook" and channel.committee and channel.language == "nl"
    assert channel.secret.startswith("whsec_")
    text = words(response)
    assert channel.secret in text and "il ne sera plus jamais montré" in text
    assert TOKEN not in text and hook(receiver) not in text

    later = console_pages(signed_in)
    assert channel.secret not in later and TOKEN not in later
    listed = later.split(f'id="canal-{channel.id}"', 1)[1].split("</tr>", 1)[0]
    assert channel.shown in listed and "le comité" in listed and "Webhook" in listed
    assert "aucun envoi pour l'instant" in listed and "Néerlandais" in listed
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "channel.add")).one()
    logged = json.dumps(entry.detail, default=str)
    assert TOKEN not in logged and channel.secret not in logged
    journal = page(signed_in, "/coordination/journal")
    assert TOKEN not in journal and channel.secret not in journal


def test_a_webhook_with_its_own_secret_and_a_chat_are_added_and_never_shown_in_full(
    signed_in: FlaskClient, receiver: HookReceiver
) -> None:
    haren = db.session.scalar(select(Establishment).where(Establishment.slug == "haren"))
    assert haren is not None
    response = signed_in.post(
        "/coordination/canaux",
        data={
            "owner": f"etablissement-{haren.id}",
            "url": hook(receiver),
            "kind": "webhook",
            "secret": SECRET,
            "language": "fr",
        },
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/coordination/adresses#canal-1") or (
        "#canal-" in response.headers["Location"]
    )
    chat_url = f"json://127.0.0.1:{receiver.port}/chat/{TOKEN}"
    response = signed_in.post(
        "/coordination/canaux",
        data={"owner": "comite", "url": chat_url, "kind": "", "language": "en"},
        follow_redirects=True,
    )
    text = words(response)
    assert "Canal ajouté : messagerie n° 2" in text
    webhook, chat = db.session.scalars(select(Channel).order_by(Channel.id)).all()
    assert (webhook.establishment_id, webhook.secret) == (haren.id, SECRET)
    assert (chat.kind, chat.secret, chat.committee) == ("chat", "", True)
    shown = console_pages(signed_in)
    assert SECRET not in shown and TOKEN not in shown
    assert "Prison de Haren" in shown.split(f'id="canal-{webhook.id}"', 1)[1].split("</tr>")[0]


REFUSED = {
    "too long": (
        "http://127.0.0.1/" + "a" * 1990,
        "",
        "URL trop longue (2000 caractères au plus).",
    ),
    "control character": ("http://127.0.0.1/a\x07b", "", "caractères de contrôle"),
    "line break": ("http://127.0.0.1/a\r\nHost: x", "", "caractères de contrôle"),
    "javascript": ("javascript:alert(1)", "", "URL Apprise non reconnue"),
    "javascript as a webhook": ("javascript:alert(1)", "webhook", "Un webhook est une URL http"),
    "no host": ("http:///chemin", "webhook", "URL sans nom d'hôte valide."),
    "empty": ("", "", "Indiquez l'URL du canal."),
    "https as a chat": ("https://hooks.example.org/x", "chat", "une messagerie a une URL Apprise"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_refused_url_says_why_in_french_next_to_the_field(
    signed_in: FlaskClient, case: str
) -> None:
    url, kind, reason = REFUSED[case]
    response = signed_in.post(
        "/coordination/canaux",
        data={"owner": "comite", "url": url, "kind": kind, "language": "fr"},
    )
    assert response.status_code == 422
    assert reason in field_error(words(response), "url")
    assert db.session.scalars(select(Channel)).all() == []


def test_a_bad_secret_or_owner_is_refused_on_its_field(
    signed_in: FlaskClient, receiver: HookReceiver
) -> None:
    data = {"owner": "comite", "url": hook(receiver), "kind": "", "language": "fr"}
    response = signed_in.post("/coordination/canaux", data={**data, "secret": "whsec_abc"})
    assert response.status_code == 422
    error = field_error(words(response), "secret")
    assert "Secret de webhook" in error
    assert "whsec_abc" not in response.get_data(as_text=True)  # a secret is never echoed
    response = signed_in.post("/coordination/canaux", data={**data, "owner": "etablissement-99999"})
    assert response.status_code == 422
    assert field_error(words(response), "owner")
    twice = signed_in.post("/coordination/canaux", data=data)
    assert twice.status_code == 201
    again = signed_in.post("/coordination/canaux", data=data)
    assert again.status_code == 422
    assert "Ce canal existe déjà" in field_error(words(again), "url")
    assert len(db.session.scalars(select(Channel)).all()) == 1


@pytest.mark.parametrize("settings_overrides", [{}])
@pytest.mark.parametrize(
    "url", ["http://10.0.0.1/", "http://127.0.0.1:8080/hook", "http://169.254.169.254/latest"]
)
def test_a_private_address_is_refused_without_the_setting(signed_in: FlaskClient, url: str) -> None:
    response = signed_in.post(
        "/coordination/canaux",
        data={"owner": "comite", "url": url, "kind": "", "language": "fr"},
    )
    assert response.status_code == 422
    assert "Adresse privée refusée" in field_error(words(response), "url")
    assert db.session.scalars(select(Channel)).all() == []


# --- testing and removing ---------------------------------------------------------------------


def test_the_test_button_says_what_the_receiver_answered(
    signed_in: FlaskClient, receiver: HookReceiver
) -> None:
    channel = add_channel(hook(receiver))
    response = signed_in.post(f"/coordination/canaux/{channel.id}/test")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"#canal-{channel.id}")
    text = page(signed_in)
    assert "Évènement de test reçu (HTTP 200)." in text
    [(headers, body)] = received(receiver)
    assert Webhook(SECRET).verify(body, headers)["type"] == "channel.test"

    receiver.default = Reply(410)
    signed_in.post(f"/coordination/canaux/{channel.id}/test")
    text = page(signed_in)
    assert "Échec du test : HTTP 410 Gone" in text and TOKEN not in text


def test_a_receiver_that_is_down_is_told_without_the_url(signed_in: FlaskClient) -> None:
    url = f"http://127.0.0.1:{free_port()}/{HOOK_PATH}"  # nobody listens there
    channel = add_channel(url)
    signed_in.post(f"/coordination/canaux/{channel.id}/test")
    text = page(signed_in)
    assert "Échec du test : ConnectionError" in text
    assert TOKEN not in text


def test_a_removed_channel_is_gone(signed_in: FlaskClient, receiver: HookReceiver) -> None:
    channel = add_channel(hook(receiver))
    confirm = page(signed_in, f"/coordination/canaux/{channel.id}/supprimer")
    assert f"Supprimer le canal webhook n° {channel.id}" in confirm and TOKEN not in confirm
    response = signed_in.post(f"/coordination/canaux/{channel.id}/supprimer")
    assert response.status_code == 303
    assert "Canal supprimé : webhook n°" in page(signed_in)
    db.session.expire_all()
    removed = db.session.get(Channel, channel.id)
    assert removed is not None and removed.removed_at is not None and removed.url == ""
    for method, url in (
        ("POST", f"/coordination/canaux/{channel.id}/test"),
        ("GET", f"/coordination/canaux/{channel.id}/supprimer"),
        ("POST", f"/coordination/canaux/{channel.id}/supprimer"),
        ("POST", "/coordination/canaux/987654/test"),
        ("GET", "/coordination/canaux/987654/supprimer"),
    ):
        assert signed_in.open(url, method=method).status_code == 404, (method, url)
    assert received(receiver) == []
    assert f'id="canal-{channel.id}"' not in page(signed_in)


# --- a failing channel ------------------------------------------------------------------------


@pytest.mark.committing  # delivery claims and records on connections of its own
def test_a_channel_that_fails_is_on_every_console_page_and_in_the_warning(
    app: Flask, receiver: HookReceiver
) -> None:
    coordinator = make_user(ROLE_COORDINATOR)
    client = app.test_client()
    login(client, coordinator)
    channel = add_channel(hook(receiver))
    receiver.default = Reply(410)
    file_report()  # a rise at Haren: the committee's webhook is told, and answers 410
    [failed] = notifications(channel_id=channel.id)
    assert failed.state == "failed" and failed.last_error.startswith("HTTP 410 Gone")

    line = f"Canal en échec : webhook n° {channel.id} · {channel.shown} — HTTP 410 Gone"
    for url in ("/coordination/", "/coordination/signalements", "/coordination/adresses"):
        assert line in page(client, url), url
    text = page(client)
    listed = text.split(f'id="canal-{channel.id}"', 1)[1].split("</tr>", 1)[0]
    assert "en échec" in listed and "HTTP 410 Gone" in listed
    log = page(client, "/coordination/notifications")
    row = log.split(f"<td>{failed.id}</td>", 1)[1].split("</tr>", 1)[0]
    assert f"webhook n° {channel.id}" in row and "canal du comité" in row
    assert "corrigez-la" not in row  # a channel is no address to correct
    assert TOKEN not in console_pages(client)
    # The email lines count emails only: the channel's failure is told on its own line.
    assert "1 courriel en échec" not in page(client, "/coordination/")

    trouble.warn_coordinators(db.session, settings())
    db.session.commit()
    [warning] = [n for n in notifications(kind=TROUBLE) if n.recipient == coordinator.email]
    message = compose(db.session, warning, settings())
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    said = " ".join(body.get_content().replace("\xa0", " ").split())
    assert message["Subject"].replace("\xa0", " ") == "Baromètre : 1 envoi non remis"
    assert f"au canal webhook n° {channel.id} · {channel.shown} · échec" in said
    assert "Qui reçoit quoi" in said and "/coordination/adresses#canaux" in said
    assert "corrige" not in said and TOKEN not in said
    rich = message.get_body(preferencelist=("html",))
    assert rich is not None
    shown = html.unescape(rich.get_content()).replace("\xa0", " ")
    assert f"au canal webhook n° {channel.id}" in shown and "1 envoi non remis" in shown
    assert "/coordination/adresses#canaux" in shown
    assert "corrige" not in shown and TOKEN not in shown

    # Dismissed, the line goes; the channel still shows failing where it is set.
    assert client.post(f"/coordination/notifications/{failed.id}/ignorer").status_code == 302
    assert line not in page(client, "/coordination/")
    assert "en échec" in page(client).split(f'id="canal-{channel.id}"', 1)[1].split("</tr>")[0]


def test_every_form_of_the_channels_carries_its_csrf_token(
    app: Flask, signed_in: FlaskClient, receiver: HookReceiver
) -> None:
    channel = add_channel(hook(receiver))
    app.config["WTF_CSRF_ENABLED"] = True  # as in production
    signed_in.environ_base["HTTP_REFERER"] = "https://localhost/coordination/adresses"

    def fresh() -> FlaskClient:
        g.pop("csrf_token", None)  # the test's app context outlives requests
        return signed_in

    data = {"owner": "comite", "url": hook(receiver) + "x", "language": "fr"}
    for url, body in (
        ("/coordination/canaux", data),
        (f"/coordination/canaux/{channel.id}/test", {}),
        (f"/coordination/canaux/{channel.id}/supprimer", {}),
    ):
        assert fresh().post(url, data=body).status_code == 400, url
    assert received(receiver) == [] and len(channels.listing(db.session)) == 1
    tokens = CSRF_FIELD.findall(fresh().get("/coordination/adresses").get_data(as_text=True))
    assert len(tokens) >= 2  # the add form and each channel's test button
    added = fresh().post("/coordination/canaux", data={**data, "csrf_token": tokens[-1]})
    assert added.status_code == 201
    tested = fresh().post(f"/coordination/canaux/{channel.id}/test", data={"csrf_token": tokens[0]})
    assert tested.status_code == 303 and len(received(receiver)) == 1
    confirm = fresh().get(f"/coordination/canaux/{channel.id}/supprimer").get_data(as_text=True)
    token = CSRF_FIELD.findall(confirm)[-1]  # the confirmation's form, last on the page
    removed = fresh().post(
        f"/coordination/canaux/{channel.id}/supprimer", data={"csrf_token": token}
    )
    assert removed.status_code == 303 and channels.live(db.session, channel.id) is None


def trouble_row(channel: Channel, state: str, error: str) -> Notification:
    row = Notification(
        kind="rise",
        channel_id=channel.id,
        recipient=channel.name,
        recipient_kind="committee",
        state=state,
        last_error=error,
        give_up_at=clock.now(),
    )
    db.session.add(row)
    db.session.commit()
    return row


def test_each_failing_channel_has_its_line_and_its_advice(
    signed_in: FlaskClient, receiver: HookReceiver
) -> None:
    failing, uncertain, removed = (add_channel(f"{hook(receiver)}{n}") for n in range(3))
    for _ in range(2):
        trouble_row(failing, NotificationState.FAILED, "HTTP 404 Not Found : " + "x" * 300)
    trouble_row(uncertain, NotificationState.UNCERTAIN, "")
    trouble_row(removed, NotificationState.FAILED, "Canal supprimé : rien n'est envoyé.")
    channels.remove(db.session, None, removed.id)
    db.session.commit()

    home = page(signed_in, "/coordination/")
    line = home.split(f"Canal en échec : webhook n° {failing.id}", 1)[1].split("</p>", 1)[0]
    assert "HTTP 404 Not Found : xxx" in line and "x" * 200 not in line  # cut short
    assert "relancez ou ignorez ses 2 échecs" in line
    assert f"Canal incertain : webhook n° {uncertain.id} · {uncertain.shown} — incertain" in home
    line = home.split(f"Canal en échec : webhook n° {removed.id}", 1)[1].split("</p>", 1)[0]
    assert "ce canal est supprimé" in line
    assert "1 courriel refusé" not in home and "1 courriel en échec" not in home
    assert TOKEN not in home
    listed = page(signed_in).split(f'id="canal-{uncertain.id}"', 1)[1].split("</tr>", 1)[0]
    assert "en échec" in listed  # uncertain: perhaps not delivered


def test_a_chat_test_message_is_in_the_channels_language(
    signed_in: FlaskClient, receiver: HookReceiver
) -> None:
    """Defect: a chat's test message was written in the console user's language."""
    port = receiver.port
    added = channels.add(
        db.session, None, settings(), f"json://127.0.0.1:{port}/chat", language="nl"
    )
    db.session.commit()
    signed_in.post(f"/coordination/canaux/{added.channel.id}/test")
    assert "Message de test envoyé." in page(signed_in)  # the console's own language
    [(_headers, body)] = received(receiver)
    sent = json.loads(body)
    assert sent["title"] == "Barometer: testbericht"
    assert sent["message"] == "Dit kanaal zal de meldingen van de barometer ontvangen."
