"""Emails that large providers deliver (RFC 2369, RFC 8058, Gmail/Yahoo 2024 sender rules).

List-Unsubscribe is a plain `<https://…>` (never encoded words), with
List-Unsubscribe-Post for the one-click; a POST of `List-Unsubscribe=One-Click` on
that address stops what the email was about, without a page or a login, while a
GET, a HEAD or an OPTIONS changes nothing; every email says its language in
Content-Language.
"""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import func, select

from alerts.follow.models import Follower, FollowRequest
from alerts.models import AddressPreference
from alerts.recipients import preference
from barometre.extensions import db
from tests.alerts.conftest import add_contact, establishment
from tests.conftest import file_report, make_user

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

ONE_CLICK = re.compile(r"^<(https?://[^<>\s]+/alertes/desabonnement/[^/<>\s]+/(alertes|resume))>$")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"alert_group_wait": 0, "base_url": "https://barometre.example.org"}


def sent(app: Flask) -> list[tuple[bytes, Any]]:
    folder: Path = app.config["SETTINGS"].outbox_path
    files = sorted(folder.glob("notification-*.eml")) if folder.exists() else []
    return [
        (p.read_bytes(), message_from_bytes(p.read_bytes(), policy=policy.strict)) for p in files
    ]


def to(messages: list[tuple[bytes, Any]], address: str) -> list[tuple[bytes, Any]]:
    return [(raw, m) for raw, m in messages if m["To"] == address]


def test_headers_are_plain_and_say_the_language(app: Flask) -> None:
    add_contact("direction@haren.test", language="nl")
    file_report(make_user("worker"))
    result = CliRunner().invoke(app.cli, ["digest", "send"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    messages = to(sent(app), "direction@haren.test")
    assert len(messages) == 2  # the rise, the digest
    topics = set()
    for raw, message in messages:
        header = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("ascii")
        line = next(h for h in header.split("\n") if h.startswith("List-Unsubscribe: "))
        value = line.removeprefix("List-Unsubscribe: ")
        assert "=?" not in value  # no RFC 2047 encoded words
        match = ONE_CLICK.match(value)
        assert match, value
        assert match.group(1).startswith("https://barometre.example.org/")
        topics.add(match.group(2))
        assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in header.split("\n")
        assert message["Content-Language"] == "nl"
        domain = app.config["SETTINGS"].mail_from.rpartition("@")[2].strip(">")
        assert str(message["Message-ID"]).endswith(f"@{domain}>")  # the sender's domain
    assert topics == {"alertes", "resume"}


@pytest.mark.parametrize("host", ["barometre.example.org", "b" * 1000 + ".example.org"])
def test_list_unsubscribe_is_one_plain_line_when_a_line_can_hold_it(app: Flask, host: str) -> None:
    """The email package makes encoded words of a long unbroken value; RFC 2369 wants the
    `<https://…>` itself. Past what a line may hold (998), the package folds it as it can."""
    from alerts.emails import Rendered, build_message

    settings = app.config["SETTINGS"].with_overrides(base_url=f"https://{host}")
    rendered = Rendered("Objet é", "Texte é\n", "<p>Texte é</p>")
    raw = build_message(7, "direction@haren.test", rendered, settings).as_bytes()
    parsed = message_from_bytes(raw, policy=policy.strict)
    value = str(parsed["List-Unsubscribe"])
    assert value.startswith(f"<https://{host}/alertes/desabonnement/"), value
    lines = raw.split(b"\n\n", 1)[0].split(b"\n")
    assert all(len(line) <= 998 for line in lines)
    plain = [line for line in lines if line.startswith(b"List-Unsubscribe: <https://")]
    assert (len(plain) == 1) == (len(host) < 900)
    if plain:
        assert plain[0].decode() == f"List-Unsubscribe: {value}"


def test_one_click_stops_what_the_email_was_about(app: Flask) -> None:
    add_contact("direction@haren.test")
    worker = make_user("worker")
    file_report(worker)
    [(_raw, rise)] = to(sent(app), "direction@haren.test")
    url = str(rise["List-Unsubscribe"]).strip("<>")
    path = url.removeprefix("https://barometre.example.org")
    app.config["WTF_CSRF_ENABLED"] = True  # as in production: the provider sends no token
    client = app.test_client()

    looked = client.get(path)  # a scanner or a person: nothing changes
    assert looked.status_code in (302, 303)
    assert preference(db.session, "direction@haren.test") is None

    stopped = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert stopped.status_code == 200
    row = preference(db.session, "direction@haren.test")
    assert row is not None and (row.alerts, row.digest) == (False, True)

    file_report(worker, conditions=("ACC-01",))  # the next rise
    assert len(to(sent(app), "direction@haren.test")) == 1  # nothing more
    tampered = path.replace("/alertes/desabonnement/", "/alertes/desabonnement/x")
    assert client.post(tampered, data={"List-Unsubscribe": "One-Click"}).status_code == 404
    db.session.remove()


# --- only a POST changes anything (issue 24, item 1) ---------------------------------------

CONTACT, FAN = "direction@haren.test", "suiveur@exemple.test"


def add_follower(email: str, slug: str, **choice: bool) -> Follower:
    row = Follower(establishment=establishment(slug), email=email, **choice)
    db.session.add(row)
    db.session.commit()
    return row


def choices() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]:
    """What every address chose: preferences, follows, unconfirmed requests."""
    db.session.rollback()
    db.session.expire_all()
    preferences = db.session.execute(
        select(
            AddressPreference.email, AddressPreference.alerts, AddressPreference.digest
        ).order_by(AddressPreference.email)
    ).all()
    follows = db.session.execute(
        select(
            Follower.email,
            Follower.establishment_id,
            Follower.alerts,
            Follower.red_only,
            Follower.digest,
        ).order_by(Follower.id)
    ).all()
    requests = db.session.scalar(select(func.count()).select_from(FollowRequest)) or 0
    return [tuple(r) for r in preferences], [tuple(r) for r in follows], requests


def one_click_paths(app: Flask, address: str) -> dict[str, str]:
    """The one-click path of each email the address got, by topic."""
    paths = {}
    for _raw, message in to(sent(app), address):
        url = str(message["List-Unsubscribe"]).strip("<>")
        topic = url.rsplit("/", 1)[1]
        paths[topic] = url.removeprefix("https://barometre.example.org")
    return paths


@pytest.mark.parametrize("who", [CONTACT, FAN])
def test_only_a_post_of_the_one_click_link_changes_anything(app: Flask, who: str) -> None:
    """HEAD (scanners, prefetchers), GET and OPTIONS leave every choice as it was (RFC 8058)."""
    add_contact(CONTACT, alerts=True, digest=True)
    add_follower(FAN, "haren", alerts=True, digest=True)
    file_report(make_user("worker"))  # the rise
    result = CliRunner().invoke(app.cli, ["digest", "send"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    paths = one_click_paths(app, who)
    assert set(paths) == {"alertes", "resume"}
    app.config["WTF_CSRF_ENABLED"] = True  # as in production: the provider sends no token
    client = app.test_client()
    for topic, path in paths.items():
        before = choices()
        for method in ("HEAD", "GET", "OPTIONS"):
            answer = client.open(path, method=method)
            assert answer.status_code < 400, (topic, method, answer.status_code)
            assert choices() == before, (topic, method)
        stopped = client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert stopped.status_code == 200, topic
        assert choices() != before, topic
    db.session.remove()


# --- the preferences page after a one-click (issue 26) -------------------------------------


def ticked(page: str) -> dict[str, bool]:
    """Which boxes of the preferences page are ticked."""
    boxes = re.findall(r'<input type="checkbox" id="(\w+)"([^>]*)>', page)
    return {name: re.search(r"\bchecked\b", rest) is not None for name, rest in boxes}


def unchanged_form(page: str) -> dict[str, str]:
    """What a browser posts when the page is saved as shown: the ticked boxes only."""
    return {name: "1" for name, on in ticked(page).items() if on}


@pytest.mark.parametrize("who", [FAN, CONTACT])
def test_after_a_one_click_the_preferences_page_shows_and_keeps_alerts_off(
    app: Flask, who: str
) -> None:
    from alerts.emails import preferences_token

    add_contact(CONTACT, alerts=True, digest=True)
    add_follower(FAN, "haren", alerts=True, digest=True)
    worker = make_user("worker")
    file_report(worker)  # the rise
    stopped = app.test_client().post(one_click_paths(app, who)["alertes"])
    assert stopped.status_code == 200
    after_click = choices()

    client = app.test_client()
    path = f"/alertes/preferences/{preferences_token(who, app.config['SETTINGS'])}"
    page = client.get(path).get_data(as_text=True)
    assert ticked(page) == {"alerts": False, "digest": True}
    assert client.post(path, data=unchanged_form(page)).status_code == 302  # « Enregistrer »
    assert choices()[1] == after_click[1]  # the follows as the one-click left them
    assert ticked(client.get(path).get_data(as_text=True)) == {"alerts": False, "digest": True}
    file_report(worker, conditions=("ACC-01",))  # the next rise
    assert len(to(sent(app), who)) == 1  # no alert since the one-click
    db.session.remove()
