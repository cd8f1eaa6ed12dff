"""Every throttle against the variants an attacker uses (issue 24, item 6).

Each throttle that counts an address is filled with one spelling of a mailbox;
then the same mailbox, written in other case or with a `+tag`, must be refused
too, each from a fresh client (so that only the address can refuse it). Dots
are NOT folded (`barometre.addresses.mailbox`): `some.one@` is someone else and
is still accepted. Each throttle that counts a client is filled from one
network address (an IPv6 client: its /64); headers a client may write itself
(X-Forwarded-For and friends, not trusted without TRUSTED_PROXIES) must not
make a fresh client.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from freezegun import freeze_time
from werkzeug.test import TestResponse

from alerts.follow import service as follow
from barometre import clock
from barometre.addresses import mailbox
from intake import throttle

MAILBOX = "someone@example.org"
SAME_MAILBOX = [
    "Someone@Example.ORG",
    "SOMEONE@EXAMPLE.ORG",
    "someone+1@example.org",
    "someone+2@example.org",
    "Someone+Alertes@EXAMPLE.org",
    "someone+a+b@example.org",
]
NOT_FOLDED = ["some.one@example.org", "s.o.m.e.o.n.e@example.org"]
SPOOFED_CLIENT = [
    {"X-Forwarded-For": "203.0.113.9"},
    {"X-Forwarded-For": "203.0.113.10, 198.51.100.2"},
    {"X-Real-IP": "203.0.113.11"},
    {"Forwarded": "for=203.0.113.12"},
    {"Client-IP": "203.0.113.13"},
]


@dataclass(frozen=True)
class Throttle:
    name: str
    path: str
    per_address: int
    per_client: int
    accepted: int  # the status of a request the throttle lets through
    fields: dict[str, str] = field(default_factory=dict)

    def post(
        self, client: FlaskClient, email: str, remote: str, headers: dict[str, str] | None = None
    ) -> TestResponse:
        return client.post(
            self.path,
            data={"email": email, **self.fields},
            environ_base={"REMOTE_ADDR": remote},
            headers=headers or {},
        )


THROTTLES = [
    Throttle(
        "follow requests",
        "/etablissements/haren/suivre",
        follow.MAX_PER_ADDRESS,
        follow.MAX_PER_CLIENT,
        200,
        {"alerts": "toutes"},
    ),
    Throttle(
        "sign-in failures",
        "/connexion",
        throttle.MAX_FAILURES,
        throttle.MAX_FAILURES,
        422,  # a wrong password, not yet throttled
        {"password": "pas-le-bon-mot-de-passe"},
    ),
    Throttle(
        "password-link requests",
        "/mot-de-passe/oubli",
        throttle.RESET_PER_ACCOUNT,
        throttle.RESET_PER_CLIENT,
        303,
    ),
]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"public_barometer": True, "trusted_proxies": 0}


@pytest.fixture
def frozen(app: Flask) -> Iterator[None]:
    with freeze_time(clock.now()):
        yield


def remotes() -> Iterator[str]:
    for n in range(1, 250):
        yield f"192.0.2.{n}"


def test_the_mailbox_folds_case_and_plus_tags_only() -> None:
    for variant in SAME_MAILBOX:
        assert mailbox(variant) == MAILBOX, variant
    for other in NOT_FOLDED:
        assert mailbox(other) != MAILBOX, other
    assert mailbox("x@société.test") == mailbox("X@xn--socit-esab.TEST")
    assert mailbox("+tag@example.org") == "+tag@example.org"  # nothing before the tag


@pytest.mark.committing
@pytest.mark.parametrize("limit", THROTTLES, ids=lambda t: t.name)
def test_variants_of_a_throttled_mailbox_are_refused_too(
    app: Flask, frozen: None, limit: Throttle
) -> None:
    client = app.test_client()
    fresh = remotes()
    for _ in range(limit.per_address):
        assert limit.post(client, MAILBOX, next(fresh)).status_code == limit.accepted
    assert limit.post(client, MAILBOX, next(fresh)).status_code == 429
    for variant in SAME_MAILBOX:
        answer = limit.post(client, variant, next(fresh))
        assert answer.status_code == 429, f"{limit.name}: {variant} walked around the throttle"
    for other in NOT_FOLDED:  # documented: dots are another mailbox
        assert limit.post(client, other, next(fresh)).status_code == limit.accepted, other


@pytest.mark.committing
@pytest.mark.parametrize("limit", THROTTLES, ids=lambda t: t.name)
def test_a_throttled_client_cannot_make_itself_new_by_headers(
    app: Flask, frozen: None, limit: Throttle
) -> None:
    client = app.test_client()
    for n in range(limit.per_client):
        answer = limit.post(client, f"personne{n}@example.org", "192.0.2.200")
        assert answer.status_code == limit.accepted
    for n, headers in enumerate(SPOOFED_CLIENT):
        answer = limit.post(client, f"nouveau{n}@example.org", "192.0.2.200", headers)
        assert answer.status_code == 429, f"{limit.name}: {headers} made a new client"
    # Another network address is another client.
    assert limit.post(client, "autre@example.org", "192.0.2.201").status_code == limit.accepted


@pytest.mark.committing
@pytest.mark.parametrize("limit", THROTTLES, ids=lambda t: t.name)
def test_an_ipv6_client_is_its_whole_64(app: Flask, frozen: None, limit: Throttle) -> None:
    """An IPv6 client picks any address of its /64 at will: the /64 is the client."""
    client = app.test_client()
    for n in range(limit.per_client):
        answer = limit.post(client, f"personne{n}@example.org", f"2001:db8:1:2::{n + 1:x}")
        assert answer.status_code == limit.accepted
    for n, remote in enumerate(["2001:db8:1:2::ffff", "2001:db8:1:2:abcd:ef01:2345:6789"]):
        answer = limit.post(client, f"nouveau{n}@example.org", remote)
        assert answer.status_code == 429, f"{limit.name}: {remote} made a new client"
    assert limit.post(client, "autre@example.org", "2001:db8:1:3::1").status_code == limit.accepted
