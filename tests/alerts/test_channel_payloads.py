"""What a channel receives (issue 30): every event kind's webhook payload holds to its JSON
schema in the served OpenAPI document, every chat text is short, in the channel's language,
with the signed link, and neither ever holds a report's text, author or service.

One story gives every kind from real rows: a rise, a red, its reminder a week later, the
red lifted by a resolution, green again by rejections, the weekly digest; and the test
event. Six channels (a webhook and a chat of Haren, of a member service and of the
committee, in French, Dutch and English) receive each, for real, on a local receiver.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask, current_app
from flask.testing import FlaskClient
from freezegun import freeze_time
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlalchemy import select
from standardwebhooks import Webhook

from alerts import digest
from alerts.channels import payloads
from alerts.channels import service as channels
from alerts.channels.models import Channel
from alerts.channels.openapi import EVENT_SCHEMAS
from alerts.channels.payloads import CHANNEL_TEST, EVENT_TYPES, chat_message, webhook_payload
from alerts.models import DIGEST, GREEN_AGAIN, RED, RED_LIFTED, REMINDER, RISE, Notification
from alerts.reconcile import reconcile
from barometre import services
from barometre.extensions import db
from barometre.models import MemberService, Situation
from tests.conftest import file_report

from .conftest import establishment, notifications, user
from .support import (
    AUTHOR_EMAIL,
    AUTHOR_NAME,
    REJECTION_REASON,
    RESOLUTION_NOTE,
    SECRET_TEXT,
    SERVICE_EMAIL,
    SERVICE_NAME,
    HookReceiver,
    Posted,
    assert_private,
)

pytestmark = pytest.mark.committing  # the in-process delivery reads its commits

IND, COL = "individuel", "collectif"
FIRST = ("ACC-01", "ACC-02", "SEC-01")
LAST = ("OFF-01", "SEC-02")
START = datetime(2026, 3, 2, 5)  # 06:00 in Brussels, a Monday: no digest due yet
ALL_KINDS = {RISE, RED, REMINDER, RED_LIFTED, GREEN_AGAIN, DIGEST}
SIGNED = re.compile(r"https://barometre\.example\.org/etablissements/haren\?lien=[\w.\-]+")

# Words each language's chat says, kind by kind (its title is the email's subject).
TITLES = {
    RISE: {"fr": "Baromètre", "nl": "Barometer", "en": "Barometer"},
    RED: {"fr": "code rouge", "nl": "code rood", "en": "code red"},
    REMINDER: {"fr": "toujours en code rouge", "nl": "nog steeds", "en": "still"},
    RED_LIFTED: {"fr": "code rouge est levé", "nl": "code rood opgeheven", "en": "lifted"},
    GREEN_AGAIN: {"fr": "vert", "nl": "groen", "en": "green"},
    DIGEST: {"fr": "Baromètre", "nl": "Barometer", "en": "Barometer"},
}
HAREN = {"fr": "Haren", "nl": "Haren", "en": "Haren"}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "alert_group_wait": 0,
        "channels_allow_private": True,  # the receiver is on loopback
        "base_url": "https://barometre.example.org",
        "mail_from": "barometre@fidex.test",
    }


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    found = HookReceiver().start()
    yield found
    found.stop()


def settings() -> services.Settings:
    return current_app.config["SETTINGS"]  # type: ignore[no-any-return]


# --- the published schemas ------------------------------------------------------------------


def published(client: FlaskClient) -> dict[str, Any]:
    document: dict[str, Any] = client.get("/api/v1/openapi.json").get_json()
    return document


def validator(document: dict[str, Any], name: str) -> Draft202012Validator:
    """The served schema `name`, its `$ref`s resolved within the served document."""
    registry: Registry[Any] = Registry().with_resource(
        "urn:barometre:openapi", Resource.from_contents(document, default_specification=DRAFT202012)
    )
    return Draft202012Validator(
        {"$ref": f"urn:barometre:openapi#/components/schemas/{name}"},
        registry=registry,
        format_checker=FormatChecker(),
    )


def holds(document: dict[str, Any], payload: dict[str, Any]) -> None:
    """`payload` holds to the schema the document publishes for its event type."""
    webhook = document["webhooks"][payload["type"]]["post"]
    ref = webhook["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    name = ref.rsplit("/", 1)[1]
    assert name == EVENT_SCHEMAS[payload["type"]]
    errors = [e.message for e in validator(document, name).iter_errors(payload)]
    assert errors == [], (payload["type"], errors, payload)


# --- one story, every kind -----------------------------------------------------------------


def story(receiver: HookReceiver) -> list[Channel]:
    """Six channels, then rise, red, reminder, red lifted, green again and the digest; the
    reports, resolution and rejections carry the privacy markers."""
    service = MemberService(name=SERVICE_NAME, alert_emails=SERVICE_EMAIL)
    db.session.add(service)
    author = user(AUTHOR_EMAIL, "worker", service)
    author.name = AUTHOR_NAME
    coordinator = user("coordination@fidex.test", "coordinator")
    haren = establishment("haren").id
    added = [
        channels.add(db.session, None, settings(), url, language=lang, **owner).channel  # type: ignore[arg-type]
        for url, lang, owner in (
            (receiver.url("haren-hook"), "fr", {"establishment_id": haren}),
            (receiver.url("haren-chat", "json"), "nl", {"establishment_id": haren}),
            (receiver.url("service-hook"), "nl", {"service_id": service.id}),
            (receiver.url("service-chat", "json"), "en", {"service_id": service.id}),
            (receiver.url("comite-hook"), "en", {}),
            (receiver.url("comite-chat", "json"), "fr", {}),
        )
    ]
    db.session.commit()
    with freeze_time(START, real_asyncio=True) as frozen:
        first = file_report(author, conditions=FIRST, offer_types=(IND,), description=SECRET_TEXT)
        second = file_report(author, conditions=LAST, offer_types=(COL,), description=SECRET_TEXT)
        frozen.move_to(START + timedelta(days=settings().red_reminder_days))
        reconcile(db.session, settings())
        db.session.commit()
        situation = db.session.scalars(
            select(Situation).where(Situation.status == "open").order_by(Situation.id)
        ).first()
        assert situation is not None
        services.resolve_situation(
            db.session, situation.id, coordinator, RESOLUTION_NOTE, settings()
        )
        db.session.commit()
        for outcome in (second, first):
            services.reject_report(
                db.session, outcome.report.id, coordinator, REJECTION_REASON, settings()
            )
            db.session.commit()
        digest.plan(db.session, settings(), digest.iso_week_now(settings()))
        db.session.commit()
    return added


def verify(secret: str, posted: Posted) -> Any:
    """The payload, its signature checked by the library's own `verify`, at the time it was
    sent (the story's clock was frozen)."""
    sent = datetime.fromtimestamp(int(posted.headers["webhook-timestamp"]), UTC)
    with freeze_time(sent):
        return Webhook(secret).verify(posted.body, posted.headers)


def channel_rows() -> list[Notification]:
    return [n for n in notifications() if n.channel_id is not None]


def test_every_kind_holds_to_its_schema_says_its_language_and_keeps_reports_private(
    app: Flask, client: FlaskClient, receiver: HookReceiver
) -> None:
    added = story(receiver)
    document = published(client)
    rows = channel_rows()
    assert {n.kind for n in rows} == ALL_KINDS
    assert {n.state for n in rows} == {"sent"}
    for kind in ALL_KINDS:  # each kind reached all six channels
        assert sorted(n.channel_id for n in rows if n.kind == kind) == sorted(c.id for c in added)
    for row in rows:
        payload = webhook_payload(db.session, row, settings())
        assert payload["type"] == EVENT_TYPES[row.kind]
        assert payload["data"]["language"] == row.language
        holds(document, payload)
        assert_private(json.dumps(payload, ensure_ascii=False), (row.kind, row.recipient))
        title, text = chat_message(db.session, row, settings())
        assert_private(f"{title}\n{text}", (row.kind, row.recipient))
        assert TITLES[row.kind][row.language] in title, (row.kind, row.language, title)
        assert "\n" not in title and len(title) <= 120, title
        assert len(text.splitlines()) <= 12, text
        # The link that opens the page without an account: an alert's establishment, each
        # establishment of a digest.
        assert SIGNED.search(text), text
        if row.kind == DIGEST:
            for line in payload["data"]["establishments"]:
                assert f"- {line['name']}" in text and line["url"] in text, text
        else:
            assert HAREN[row.language] in title
            assert payload["data"]["establishment"]["slug"] == "haren"
            assert SIGNED.fullmatch(payload["data"]["establishment"]["url"])
    # What left, as the receivers got it: the same payloads, signed, and the chats.
    secrets = {c.id: c.secret for c in added}
    for channel in added:
        path = channel.url.rsplit("/", 1)[1]
        posted = receiver.all(path)
        assert len(posted) == len(ALL_KINDS), path
        for each in posted:
            body = each.body.decode()
            assert_private(body, path)
            received = json.loads(body)
            if channel.kind == "webhook":
                verified = verify(secrets[channel.id], each)
                holds(document, verified)
                assert received["data"]["language"] == channel.language
            else:
                assert set(received) >= {"title", "message"}


def test_the_test_event_holds_to_its_schema(
    app: Flask, client: FlaskClient, receiver: HookReceiver
) -> None:
    document = published(client)
    added = channels.add(db.session, None, settings(), receiver.url("test-hook"), language="nl")
    db.session.commit()
    payload = payloads.test_payload(added.channel.id, "nl", datetime(2026, 3, 2, 5, 0, 1, 12))
    assert payload["type"] == CHANNEL_TEST and payload["timestamp"] == "2026-03-02T05:00:01Z"
    holds(document, payload)
    said = channels.send_test(db.session, None, added.channel, settings())
    assert "204" in said
    [posted] = receiver.all("test-hook")
    holds(document, verify(added.generated_secret, posted))


def test_a_payload_that_drifts_from_its_schema_is_caught(client: FlaskClient) -> None:
    """The schemas are closed: a field added to a payload without its schema fails above."""
    document = published(client)
    payload = payloads.test_payload(3, "fr", datetime(2026, 3, 2, 5))
    holds(document, payload)
    with pytest.raises(AssertionError):
        holds(document, {**payload, "data": {**payload["data"], "author": "x"}})
    with pytest.raises(AssertionError):
        holds(document, {**payload, "timestamp": "2026-03-02 05:00"})
