"""Channel URLs (issue 30): which kind, how they are shown, and errors without secrets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from flask import Flask

from alerts.channels import send
from alerts.channels.models import Channel, ChannelKind
from alerts.channels.targets import ChannelRefused, check_url, kind_of, scrub, shown
from alerts.transport import PermanentFailure, TemporaryFailure
from barometre.settings import Settings

from .support import HookReceiver, Reply, free_port

TOKEN = "s3cr3t-t0ken"


def test_an_http_url_is_a_webhook_and_anything_else_a_chat() -> None:
    assert kind_of("https://hooks.example.org/x") == ChannelKind.WEBHOOK
    assert kind_of("HTTP://hooks.example.org/x") == ChannelKind.WEBHOOK
    assert kind_of("tgram://123456789:abc/42") == ChannelKind.CHAT
    assert kind_of("json://hooks.example.org/x") == ChannelKind.CHAT


@pytest.mark.parametrize(
    ("url", "kind", "words"),
    [
        ("", ChannelKind.WEBHOOK, "Indiquez"),
        ("https://example.org/" + "a" * 2000, ChannelKind.WEBHOOK, "trop longue"),
        ("https://example.org/a\x00b", ChannelKind.WEBHOOK, "contrôle"),
        ("https://example.org/a b", ChannelKind.WEBHOOK, "espaces"),
        ("javascript:alert(1)", ChannelKind.WEBHOOK, "http://"),
        ("https:///nohost", ChannelKind.WEBHOOK, "hôte"),
        ("https://example.org/x", ChannelKind.CHAT, "webhook"),
        ("bogus://example.org/x", ChannelKind.CHAT, "Apprise"),
    ],
)
def test_a_wrong_url_is_refused_in_french(app: Flask, url: str, kind: str, words: str) -> None:
    with app.test_request_context(), pytest.raises(ChannelRefused) as refused:
        check_url(url, kind, allow_private=False)
    assert words in refused.value.reason


@pytest.mark.parametrize(
    ("url", "kind", "expected"),
    [
        (
            f"https://hooks.example.org:8443/a/{TOKEN}?k={TOKEN}",
            "webhook",
            "https://hooks.example.org:8443/…",
        ),
        ("https://hooks.example.org", "webhook", "https://hooks.example.org/"),
        (f"https://user:{TOKEN}@hooks.example.org/", "webhook", "https://hooks.example.org/"),
        (f"tgram://123456789:{TOKEN}/42/", "chat", "tgram://1...n/…"),
        (
            f"json://user:{TOKEN}@hooks.example.org/{TOKEN}",
            "chat",
            "json://user:****@hooks.example.org/…",
        ),
    ],
)
def test_a_saved_url_is_shown_without_its_secret_parts(url: str, kind: str, expected: str) -> None:
    assert shown(url, kind) == expected
    assert TOKEN not in shown(url, kind)


def test_requests_errors_name_the_url_and_the_scrub_takes_its_secret_parts_out() -> None:
    url = f"http://user:{TOKEN}@127.0.0.1:{free_port()}/hook/{TOKEN}?key={TOKEN}"
    with pytest.raises(requests.ConnectionError) as raised:
        requests.post(url, timeout=2)
    assert TOKEN in str(raised.value)  # what the scrub is for
    assert TOKEN not in scrub(str(raised.value), url)
    assert "127.0.0.1" in scrub(str(raised.value), url)  # where it failed still said
    chat = f"tgram://123456789:{TOKEN}/42/"
    assert TOKEN not in scrub(f"Failed to send to 123456789:{TOKEN}", chat)


@pytest.fixture
def gone_server() -> Iterator[int]:
    """A receiver answering 410 with a body that echoes the path, token included."""
    gone = HookReceiver().start()
    gone.default = Reply(410, f"no such hook /hook/{TOKEN}".encode())
    yield gone.port
    gone.stop()


def test_no_failure_of_a_channel_carries_its_token(app: Flask, gone_server: int) -> None:
    """Defect: the webhook's failures named its whole URL (requests does), which the
    notification log shows and the worker's log writes."""
    settings = Settings(channels_allow_private=True, secret_key="k" * 32)
    closed = Channel(
        kind="webhook",
        url=f"http://127.0.0.1:{free_port()}/hook/{TOKEN}",
        secret="whsec_" + "QUJD" * 8,
    )
    with pytest.raises(TemporaryFailure) as down:
        send.post(closed, "msg_1", {"type": "channel.test"}, settings)
    assert "127.0.0.1" in str(down.value)
    assert TOKEN not in str(down.value)
    gone = Channel(
        kind="webhook", url=f"http://127.0.0.1:{gone_server}/hook/{TOKEN}", secret=closed.secret
    )
    with pytest.raises(PermanentFailure) as failed:
        send.post(gone, "msg_1", {"type": "channel.test"}, settings)
    assert str(failed.value).startswith("HTTP 410")
    assert TOKEN not in str(failed.value)  # the receiver echoed the path: scrubbed too
    chat = Channel(kind="chat", url=f"json://127.0.0.1:{gone_server}/{TOKEN}")
    with app.app_context(), pytest.raises(PermanentFailure) as refused:
        send.notify(chat, "t", "x", settings)
    assert "410" in str(refused.value)
    assert TOKEN not in str(refused.value)
