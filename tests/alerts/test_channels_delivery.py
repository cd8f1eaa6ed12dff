"""Channels keep the email's delivery promise (issue 30), on real parts.

A local HTTP server in a thread (`receivers.HookReceiver`) is the webhook's receiver
and the target of Apprise's `json://` and `form://` URLs; delivery runs in this
process (no broker), the reconciler is run by hand under frozen time. Each webhook
POST is verified with the library's own `Webhook.verify`.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask, current_app
from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory
from sqlalchemy import select
from standardwebhooks import Webhook

from alerts import delivery, digest, trouble
from alerts.channels import send, service
from alerts.channels.models import Channel
from alerts.channels.targets import ChannelRefused
from alerts.models import (
    DIGEST,
    RED,
    RED_LIFTED,
    REMINDER,
    RISE,
    TO_COMMITTEE,
    TO_CONTACT,
    TO_SERVICE,
    TROUBLE,
    Notification,
)
from alerts.reconcile import reconcile
from alerts.transport import PermanentFailure, TemporaryFailure
from barometre import services
from barometre.extensions import db
from barometre.models import ROLE_COORDINATOR, MemberService, Situation
from tests.conftest import file_report

from .conftest import establishment, notifications, user
from .support import HookReceiver, Reply, free_port

pytestmark = pytest.mark.committing  # the receiver's thread and the deliveries' sessions

MONDAY_EARLY = datetime(2026, 3, 2, 5)  # 06:00 in Brussels: no digest due yet
FIVE = ("ACC-01", "ACC-02", "ACC-03", "SEC-01", "SEC-02")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"alert_group_wait": 0, "channels_allow_private": True}


@pytest.fixture(scope="module")
def receiver_server() -> Iterator[HookReceiver]:
    server = HookReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def receiver(receiver_server: HookReceiver) -> HookReceiver:
    receiver_server.reset()
    return receiver_server


@pytest.fixture
def frozen(app: Flask) -> Iterator[FrozenDateTimeFactory]:
    with freeze_time(MONDAY_EARLY) as factory:
        yield factory


def settings() -> services.Settings:
    return current_app.config["SETTINGS"]  # type: ignore[no-any-return]


def add_channel(url: str, **owner: Any) -> service.Added:
    added = service.add(db.session, None, settings(), url, **owner)
    db.session.commit()
    return added


def run_reconciler() -> None:
    reconcile(db.session, settings())
    db.session.commit()


def one_row(kind: str = RISE) -> Notification:
    """The one channel row of this kind (a coordinator's email may be there too)."""
    [row] = [n for n in notifications(kind=kind) if n.channel_id is not None]
    return row


def plain_text(raw: bytes) -> str:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def verified(added: service.Added, request: Any) -> dict[str, Any]:
    """The payload, once `Webhook.verify` accepted its signature (as a receiver does)."""
    payload: dict[str, Any] = Webhook(added.generated_secret).verify(request.body, request.headers)
    return payload


# --- webhooks ------------------------------------------------------------------------------


def test_a_webhook_gets_one_signed_post_the_library_verifies(
    receiver: HookReceiver, frozen: FrozenDateTimeFactory
) -> None:
    added = add_channel(receiver.url())
    file_report()
    [request] = receiver.all()
    payload = verified(added, request)
    assert payload["type"] == "level.changed" and payload["data"]["change"] == RISE
    assert payload["data"]["establishment"]["slug"] == "haren"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == send.webhook_id(one_row().id, settings())
    row = one_row()
    assert (row.state, row.attempts, row.channel_id) == ("sent", 1, added.channel.id)
    assert (row.recipient, row.recipient_kind) == (added.channel.name, TO_COMMITTEE)
    assert added.channel.secret not in row.recipient and "/hook" not in row.recipient
    tampered = {**request.headers, "webhook-id": request.headers["webhook-id"] + "x"}
    with pytest.raises(Exception, match="signature"):
        Webhook(added.generated_secret).verify(request.body, tampered)


def test_a_5xx_is_retried_after_its_backoff_with_the_same_webhook_id(
    receiver: HookReceiver, frozen: FrozenDateTimeFactory
) -> None:
    added = add_channel(receiver.url())
    receiver.answer(Reply(503, b"Service Unavailable: maintenance"))
    file_report()
    row = one_row()
    assert (row.state, row.attempts) == ("pending", 1)
    assert row.last_error.startswith("HTTP 503")
    wait = row.next_attempt_at - MONDAY_EARLY
    assert timedelta(seconds=48) <= wait <= timedelta(seconds=72)
    run_reconciler()  # not due yet
    assert receiver.count() == 1
    frozen.tick(75)
    run_reconciler()
    row = one_row()
    assert (row.state, row.attempts) == ("sent", 2)
    first, second = receiver.all()
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    assert verified(added, second)["type"] == "level.changed"


@pytest.mark.parametrize("status", [408, 429])
def test_408_and_429_are_retried(
    receiver: HookReceiver, frozen: FrozenDateTimeFactory, status: int
) -> None:
    add_channel(receiver.url())
    receiver.answer(status)
    file_report()
    row = one_row()
    assert (row.state, row.attempts) == ("pending", 1)
    assert row.last_error.startswith(f"HTTP {status}")
    frozen.tick(75)
    run_reconciler()
    assert (one_row().state, receiver.count()) == ("sent", 2)


def test_a_410_fails_at_once_and_the_coordinators_are_warned_of_it(
    receiver: HookReceiver, frozen: FrozenDateTimeFactory
) -> None:
    coordinator = user("coordination@fidex.test", ROLE_COORDINATOR)
    added = add_channel(receiver.url())
    receiver.answer(Reply(410, b"Gone"))
    file_report()
    row = one_row()
    assert (row.state, row.attempts) == ("failed", 1)
    assert row.last_error == "HTTP 410 Gone\xa0: Gone"
    frozen.tick(3600)
    run_reconciler()  # never retried on its own; the daily warning names it
    assert (one_row().state, receiver.count()) == ("failed", 1)
    [warning] = notifications(kind=TROUBLE)
    assert warning.recipient == coordinator.email and warning.state == "sent"
    assert warning.warning.notification_ids == [row.id]
    [item] = trouble.trouble_content(db.session, warning, settings()).context["items"]
    shown = f"webhook n° {added.channel.id} · {added.channel.shown}"
    assert (item["recipient"], item["state"]) == (shown, "échec")
    assert item["error"].startswith("HTTP 410")
    [text] = [
        body
        for email in settings().outbox_path.glob("*.eml")
        if "HTTP 410" in (body := plain_text(email.read_bytes()))
    ]
    assert shown in text
    assert "/hook" not in text  # never the URL in full
    assert service.health(db.session, [added.channel.id])[added.channel.id].failing


def test_a_redirect_fails_at_once_and_is_not_followed(
    receiver: HookReceiver, frozen: FrozenDateTimeFactory
) -> None:
    add_channel(receiver.url())
    receiver.answer(Reply(301, headers={"location": receiver.url("/ailleurs")}))
    file_report()
    row = one_row()
    assert (row.state, row.attempts) == ("failed", 1)
    assert row.last_error.startswith("Redirection refusée (HTTP 301")
    assert [r.path for r in receiver.all()] == ["/hook"]


def test_a_receiver_slower_than_the_read_timeout_is_retried(
    receiver: HookReceiver, frozen: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(send, "READ_TIMEOUT", 0.2)  # the knob, not a mock: a real timeout
    added = add_channel(receiver.url())
    receiver.answer(Reply(200, delay=1.0))
    file_report()
    row = one_row()
    assert (row.state, row.attempts) == ("pending", 1)
    assert "timed out" in row.last_error.lower()
    frozen.tick(75)
    run_reconciler()
    assert (one_row().state, one_row().attempts) == ("sent", 2)
    first, second = receiver.all()  # the first may have arrived: same id, to deduplicate
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    verified(added, second)


@pytest.mark.parametrize("status", [200, 500])
def test_a_ten_megabyte_answer_is_read_no_further_than_64_kib(
    receiver: HookReceiver, frozen: FrozenDateTimeFactory, status: int
) -> None:
    add_channel(receiver.url())
    size = 10 * 1024 * 1024
    receiver.answer(Reply(status, size=size))
    file_report()
    row = one_row()
    assert row.state == ("sent" if status == 200 else "pending")
    if status == 500:
        assert row.last_error.startswith("HTTP 500") and len(row.last_error) < 300
    # The client hung up after its 64 KiB: the server could not write the rest.
    [written] = receiver.wait_written()
    assert written <= 1024 * 1024, written  # 128 KiB here: our buffer and the client's


def test_an_answer_that_trickles_in_is_read_no_longer_than_the_read_timeout(
    app: Flask, receiver: HookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each byte comes well within the read timeout, which bounds one read, not the
    answer: 64 KiB at one byte every 50 ms would hold the delivery thread for an hour."""
    monkeypatch.setattr(send, "READ_TIMEOUT", 0.5)  # a knob: the answer's time is the same
    add_channel(receiver.url())
    receiver.answer(Reply(500, size=send.MAX_RESPONSE, drip=0.05, drip_for=8.0))
    started = time.monotonic()
    file_report()  # real time: the answer's deadline is a real clock's
    elapsed = time.monotonic() - started
    row = one_row()
    assert (row.state, row.attempts) == ("pending", 1)
    assert row.last_error.startswith("HTTP 500 Internal Server Error\xa0: x")
    assert elapsed < 4.0, elapsed  # 8 s and more without the deadline


def test_headers_that_trickle_in_are_given_up_on_in_time(
    app: Flask, receiver: HookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The status line and headers, byte by byte: a read timeout bounds one read, the
    attempt as a whole is bounded by TOTAL_TIMEOUT (the threads pool that sends has no
    time limit: a receiver must not hold a delivery thread)."""
    monkeypatch.setattr(send, "TOTAL_TIMEOUT", 1.0)  # a knob: the same bound, shorter
    add_channel(receiver.url())
    endless = b"HTTP/1.1 200 OK\r\n" + b"x-lent: " + b"a" * 10_000
    receiver.answer(Reply(raw=endless, drip=0.05, drip_for=8.0))
    started = time.monotonic()
    file_report()
    elapsed = time.monotonic() - started
    row = one_row()
    assert (row.state, row.attempts) == ("pending", 1)
    assert row.last_error.startswith("Pas de réponse complète de http://127.0.0.1:")
    assert elapsed < 4.0, elapsed  # 8 s and more without the bound


def test_failures_for_24_hours_end_failed(
    receiver: HookReceiver, frozen: FrozenDateTimeFactory
) -> None:
    add_channel(receiver.url())
    receiver.answer(*[502] * 200)
    file_report()
    attempts_at = [MONDAY_EARLY]
    while (row := one_row()).state == "pending":
        frozen.move_to(row.next_attempt_at)
        attempts_at.append(row.next_attempt_at)
        run_reconciler()
    row = one_row()
    assert row.state == "failed"
    assert row.last_error.startswith("Abandon après 24 h\xa0: HTTP 502")
    assert row.attempts == len(attempts_at)
    assert attempts_at[-1] - MONDAY_EARLY <= timedelta(hours=24)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(attempts_at)]
    assert gaps[0] < gaps[3] < gaps[6] and max(gaps) <= 3600 * 1.2
    ours = send.webhook_id(row.id, settings())
    assert sum(r.headers["webhook-id"] == ours for r in receiver.all()) == row.attempts


def test_a_removed_channel_fails_what_waits_and_gets_nothing_new(
    receiver: HookReceiver, frozen: FrozenDateTimeFactory
) -> None:
    added = add_channel(receiver.url())
    receiver.answer(503)
    file_report()
    assert one_row().state == "pending"
    assert service.remove(db.session, None, added.channel.id) is not None
    db.session.commit()
    frozen.tick(75)
    run_reconciler()
    row = one_row()
    assert (row.state, row.last_error) == ("failed", "Canal supprimé\xa0: rien n'est envoyé.")
    file_report(conditions=("ACC-01",))  # a second rise: no row for the removed channel
    assert len(notifications()) == 1
    assert receiver.count() == 1
    channel = db.session.get(Channel, added.channel.id)
    assert channel is not None and (channel.url, channel.secret) == ("", "")


# --- chats (Apprise) ------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["json", "form"])
def test_an_apprise_chat_is_delivered(
    receiver: HookReceiver, frozen: FrozenDateTimeFactory, scheme: str
) -> None:
    added = add_channel(receiver.url("/chat", scheme))
    assert added.generated_secret == ""
    file_report()
    [request] = receiver.all()
    fields = json.loads(request.body) if scheme == "json" else request.form()
    assert fields["title"] == "Baromètre\xa0: la prison de Haren passe en code orange 1 sur 5"
    assert "1 situation problématique ouverte." in fields["message"]
    assert "/etablissements/haren?lien=" in fields["message"]
    row = one_row()
    assert (row.state, row.attempts, row.recipient) == ("sent", 1, added.channel.name)


@pytest.mark.parametrize(
    ("scheme", "status", "state"),
    [
        ("json", 410, "failed"),
        ("form", 410, "failed"),
        ("json", 404, "failed"),
        ("json", 503, "pending"),
    ],
)
def test_an_apprise_chat_refused_fails_at_once_and_a_5xx_is_retried(
    receiver: HookReceiver, frozen: FrozenDateTimeFactory, scheme: str, status: int, state: str
) -> None:
    add_channel(receiver.url("/chat", scheme))
    receiver.answer(status)
    file_report()
    row = one_row()
    assert (row.state, row.attempts) == (state, 1)
    assert f"error={status}" in row.last_error
    frozen.tick(75)
    run_reconciler()
    assert one_row().state == ("sent" if state == "pending" else "failed")


def test_two_chats_failing_at_once_are_each_judged_by_their_own_answer(
    app: Flask, receiver: HookReceiver
) -> None:
    """The delivery worker sends from several threads (`--pool threads`): one chat's 410
    must not fail another's 503 for good, nor lend it its words."""
    import threading

    other = HookReceiver().start()
    try:
        slow = Channel(id=1, kind="chat", url=receiver.url("/lent", "json"), shown="json://a")
        gone = Channel(id=2, kind="chat", url=other.url("/parti", "json"), shown="json://b")
        receiver.answer(Reply(503, b"Plus tard", delay=0.6))
        other.answer(Reply(410, b"Parti"))
        outcomes: dict[str, Exception] = {}
        now = settings()

        def run(name: str, channel: Channel) -> None:
            try:
                send.notify(channel, "Titre", "Texte", now)
            except Exception as error:
                outcomes[name] = error

        first = threading.Thread(target=run, args=("slow", slow))
        first.start()
        receiver.wait_for(1)  # the slow one is waiting for its answer
        run("gone", gone)
        first.join(10)
    finally:
        other.stop()
    assert isinstance(outcomes["gone"], PermanentFailure)
    assert isinstance(outcomes["slow"], TemporaryFailure), outcomes["slow"]
    assert "error=503" in str(outcomes["slow"]) and "410" not in str(outcomes["slow"])


# --- who receives what -----------------------------------------------------------------------


def paths(receiver: HookReceiver, kind: str = "") -> list[str]:
    found = []
    for request in receiver.all():
        payload = json.loads(request.body)
        if not kind or payload["type"] == kind:
            found.append(request.path)
    return sorted(found)


def test_an_establishment_channel_gets_its_own_alerts_and_digest_services_and_committee_all(
    receiver: HookReceiver, frozen: FrozenDateTimeFactory
) -> None:
    member = MemberService(name="Service des canaux")
    db.session.add(member)
    db.session.commit()
    haren = add_channel(receiver.url("/haren"), establishment_id=establishment("haren").id)
    add_channel(receiver.url("/sg"), establishment_id=establishment("saint-gilles").id)
    add_channel(receiver.url("/service"), service_id=member.id)
    add_channel(receiver.url("/comite"))
    file_report()
    assert paths(receiver) == ["/comite", "/haren", "/service"]
    kinds = {n.recipient.split(" · ")[0]: n.recipient_kind for n in notifications()}
    assert kinds[haren.channel.name.split(" · ")[0]] == TO_CONTACT
    assert sorted(kinds.values()) == [TO_COMMITTEE, TO_CONTACT, TO_SERVICE]
    receiver.reset()
    file_report(establishment="saint-gilles")
    assert paths(receiver) == ["/comite", "/service", "/sg"]

    receiver.reset()
    digest.plan(db.session, settings())
    db.session.commit()
    covered = {
        request.path: sorted(e["slug"] for e in json.loads(request.body)["data"]["establishments"])
        for request in receiver.all()
    }
    assert covered["/haren"] == ["haren"]
    assert covered["/sg"] == ["saint-gilles"]
    assert covered["/service"] == covered["/comite"] == ["haren", "saint-gilles"]
    runs = {n.channel_id: n.digest_run.establishment_ids for n in notifications(kind=DIGEST)}
    assert runs[haren.channel.id] == [establishment("haren").id]
    assert list(runs.values()).count(None) == 2  # the service's and the committee's: all
    assert {n.state for n in notifications(kind=DIGEST)} == {"sent"}


def test_a_reminder_and_a_red_lifted_reach_the_channels_the_red_reached(
    receiver: HookReceiver, frozen: FrozenDateTimeFactory
) -> None:
    add_channel(receiver.url("/avant"))
    removed = add_channel(receiver.url("/retire"), establishment_id=establishment("haren").id)
    file_report(conditions=FIVE, offer_types=("individuel", "collectif"))
    assert sorted(n.recipient_kind for n in notifications(kind=RED)) == [TO_COMMITTEE, TO_CONTACT]
    add_channel(receiver.url("/apres"))  # added after the red: it was not told of it
    service.remove(db.session, None, removed.channel.id)  # removed since
    db.session.commit()
    receiver.reset()
    frozen.move_to(MONDAY_EARLY + timedelta(days=7))
    run_reconciler()
    [reminder] = notifications(kind=REMINDER)
    assert reminder.state == "sent"
    assert paths(receiver, "level.reminder") == ["/avant"]
    situation = db.session.scalars(
        select(Situation).where(Situation.status == "open").order_by(Situation.id)
    ).first()
    assert situation is not None
    services.resolve_situation(db.session, situation.id, None, "Réglé", settings())
    db.session.commit()
    [lifted] = notifications(kind=RED_LIFTED)
    assert (lifted.state, lifted.recipient_kind) == ("sent", TO_COMMITTEE)
    assert paths(receiver, "level.changed") == ["/avant"]


def test_one_row_per_event_and_channel(
    receiver: HookReceiver, frozen: FrozenDateTimeFactory
) -> None:
    haren = establishment("haren").id
    # The same URL for two owners: two channels, two rows; never twice for one owner.
    add_channel(receiver.url("/commun"))
    add_channel(receiver.url("/commun"), establishment_id=haren)
    with pytest.raises(ChannelRefused, match="existe déjà"):
        add_channel(receiver.url("/commun"))
    db.session.rollback()
    file_report()
    file_report(conditions=("ACC-01",))
    rows = notifications()
    pairs = [(n.event_id, n.channel_id) for n in rows]
    assert len(pairs) == len(set(pairs)) == 4
    assert receiver.count() == 4
    assert len({r.headers["webhook-id"] for r in receiver.all()}) == 4
    # Delivering a row again (a second worker, a task run twice) sends nothing more.
    for row in rows:
        assert delivery.deliver(db.session, row.id, settings()) == "skipped"
    assert receiver.count() == 4


# --- a channel's URL is never shown in full, nor logged -------------------------------------

TOKEN, KEY = "JETON-SECRET-T000", "CLE-SECRETE-42"


@pytest.mark.parametrize("down", ["refused", "unknown host"])
def test_a_network_failure_never_carries_the_url_nor_logs_it(
    receiver: HookReceiver,
    frozen: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    down: str,
) -> None:
    """requests names the URL in full when it cannot connect: its path and query may be
    the receiver's token (https://hooks.example/services/T000/B000/<token>)."""
    host = f"127.0.0.1:{free_port()}" if down == "refused" else "hote-inconnu.invalid"
    add_channel(f"http://{host}/services/{TOKEN}?cle={KEY}")
    with caplog.at_level("DEBUG"):
        file_report()
        row = one_row()
        frozen.tick(75)
        run_reconciler()
    row = one_row()
    assert (row.state, row.attempts) == ("pending", 2)
    assert row.last_error.startswith("ConnectionError: ")
    assert ("Connection refused" if down == "refused" else "Name or service") in row.last_error
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "notification 1 not sent" in logged
    for secret in (TOKEN, KEY, "/services/"):
        assert secret not in row.last_error and secret not in logged, secret


def test_a_sent_webhook_logs_nothing_of_its_url(
    receiver: HookReceiver, frozen: FrozenDateTimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    add_channel(receiver.url(f"/services/{TOKEN}?cle={KEY}"))
    with caplog.at_level("DEBUG"):
        file_report()
    assert one_row().state == "sent"
    assert [r.path for r in receiver.all()] == [f"/services/{TOKEN}?cle={KEY}"]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert TOKEN not in logged and KEY not in logged
