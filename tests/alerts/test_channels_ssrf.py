"""A channel is no way into the server's own network (issue 30, « Safety »).

Without CHANNELS_ALLOW_PRIVATE, a URL to loopback, link-local (the cloud metadata),
private or otherwise non-global addresses is refused when the channel is added (the
console's service and the CLI alike), with the reason in French; and a channel
stored while the setting was on is refused at connection time, after the name is
resolved: its notification fails at once and nothing reaches the address.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, current_app

from alerts.channels import service
from alerts.channels.models import Channel
from alerts.channels.targets import ChannelRefused
from barometre import services
from barometre.extensions import db
from tests.conftest import file_report

from .conftest import notifications
from .support import HookReceiver

PRIVATE = [
    "http://127.0.0.1/",
    "http://169.254.169.254/latest/meta-data",
    "http://10.0.0.1/",
    "http://192.168.1.10:8080/hook",
    "http://100.64.0.1/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:a9fe:a9fe]/",  # 169.254.169.254, IPv4-mapped
    "http://[fe80::1%25eth0]/",
    "http://localhost/",
    "https://LOCALHOST:8443/",
    "http://0.0.0.0/",
    "http://127.1/",
    "http://2130706433/",  # 127.0.0.1 as one number
    "http://0x7f000001/",
    "http://user:secret@127.0.0.1/",
    "json://127.0.0.1/",
    "form://10.0.0.1/hook",
    "jsons://[::1]/",
    "xml://localhost/",
    "json://2130706433/",
    "form://0x7f000001:8080/",
    "ntfy://127.0.0.1/topic",
    "mmost://169.254.169.254/token",
    "signal://10.0.0.2:8080/+32470000000",
]

REASON = "Adresse privée refusée"
WHY = "un canal ne peut viser le réseau du serveur (CHANNELS_ALLOW_PRIVATE=1 l'autorise)."


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"alert_group_wait": 0}


def settings(**overrides: Any) -> services.Settings:
    found: services.Settings = current_app.config["SETTINGS"]
    return found.with_overrides(**overrides) if overrides else found


@pytest.mark.parametrize("url", PRIVATE)
def test_a_private_address_is_refused_without_the_setting(app: Flask, url: str) -> None:
    with app.test_request_context(), pytest.raises(ChannelRefused) as refused:
        service.add(db.session, None, settings(channels_allow_private=False), url)
    assert refused.value.reason.startswith(REASON) and refused.value.reason.endswith(WHY)
    assert db.session.query(Channel).count() == 0


@pytest.mark.parametrize("url", PRIVATE)
def test_the_cli_refuses_it_too_in_french(app: Flask, url: str) -> None:
    current_app.config["SETTINGS"] = settings(channels_allow_private=False)
    result = app.test_cli_runner().invoke(args=["channels", "add", url, "--committee"])
    assert result.exit_code == 1, result.output
    assert REASON in result.output and "CHANNELS_ALLOW_PRIVATE=1" in result.output
    assert db.session.query(Channel).count() == 0


@pytest.mark.parametrize("url", PRIVATE)
def test_with_the_setting_they_are_accepted(app: Flask, url: str) -> None:
    current_app.config["SETTINGS"] = settings(channels_allow_private=True)
    result = app.test_cli_runner().invoke(args=["channels", "add", url, "--committee"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Canal 1 ajouté (")
    assert db.session.query(Channel).count() == 1


def test_public_urls_are_accepted_without_the_setting(app: Flask) -> None:
    for url in (
        "https://hooks.example.org/barometre",
        "tgram://123456789:ABCdefGHIjkl/12345",
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general",
        "ntfy://barometre-fidex",
    ):
        service.add(db.session, None, settings(channels_allow_private=False), url)
    assert db.session.query(Channel).count() == 4


# --- at send time ----------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    server = HookReceiver().start()
    yield server
    server.stop()


@pytest.mark.committing  # the deliveries' own sessions read the committed rows
@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/hook",
        "http://localhost:{port}/hook",
        "json://127.0.0.1:{port}/chat",
        "form://localhost:{port}/chat",
    ],
)
def test_a_channel_stored_while_allowed_is_refused_at_connection_time(
    app: Flask, receiver: HookReceiver, target: str
) -> None:
    url = target.format(port=receiver.port)
    added = service.add(db.session, None, settings(channels_allow_private=True), url)
    db.session.commit()
    current_app.config["SETTINGS"] = settings(channels_allow_private=False)
    file_report()
    [row] = notifications()
    assert (row.channel_id, row.state, row.attempts) == (added.channel.id, "failed", 1)
    assert row.last_error == "Adresse privée refusée\xa0: 127.0.0.1 (CHANNELS_ALLOW_PRIVATE)"
    with app.test_request_context(), pytest.raises(ChannelRefused, match=REASON):
        service.send_test(db.session, None, added.channel, settings())
    assert receiver.count() == 0  # nothing reached the address
    # The same channel, allowed again, is reached: the receiver did listen.
    current_app.config["SETTINGS"] = settings(channels_allow_private=True)
    with app.test_request_context():
        service.send_test(db.session, None, added.channel, settings())
    assert receiver.count() == 1
