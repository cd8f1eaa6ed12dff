"""The one transport over TLS, against a real aiosmtpd server with a CA made here.

STARTTLS (`SMTP_STARTTLS=1`) and implicit TLS (`SMTP_SSL=1`) deliver an
invitation and an alert when `SMTP_CA_FILE` names the authority of the server's
certificate; a certificate that does not verify (another authority, the
system's store, another host name) is a failure naming the certificate, and
nothing, neither login nor message, reaches the server.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from flask import Flask, current_app
from flask.testing import FlaskClient
from freezegun import freeze_time

from barometre.extensions import db
from barometre.models import User
from tests.conftest import PASSWORD, file_report, login
from tests.intake_helpers import LINK, body_of, text

from .conftest import add_contact, notifications
from .support import free_port

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("backend", ["sqlite"])]

MONDAY_EARLY = "2026-03-02 05:00:00"  # no digest due
CONTACT = "direction@haren.test"
INVITED = "nouvelle@example.org"


@dataclass
class Pki:
    ca_file: Path
    good: trustme.LeafCert  # 127.0.0.1, signed by the authority of ca_file
    other_ca: trustme.LeafCert  # 127.0.0.1, signed by an authority nobody trusts
    wrong_name: trustme.LeafCert  # mail.example.test, signed by the authority of ca_file


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    ca, stranger = trustme.CA(), trustme.CA()
    ca_file = tmp_path_factory.mktemp("pki") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Pki(
        ca_file,
        ca.issue_cert("127.0.0.1", "localhost"),
        stranger.issue_cert("127.0.0.1", "localhost"),
        ca.issue_cert("mail.example.test"),
    )


@dataclass
class Seen:
    """What the server saw: logins and MAIL commands (each must follow TLS), messages."""

    logins: list[str] = field(default_factory=list)
    mails: list[str] = field(default_factory=list)
    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        with self.lock:
            self.logins.append(mechanism)
        return AuthResult(success=True)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        with self.lock:
            self.mails.append(address)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(bytes(envelope.content), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.lock:
            self.messages.append(parsed)
        return "250 2.0.0 OK"


@contextmanager
def tls_server(mode: str, cert: trustme.LeafCert) -> Iterator[tuple[int, Seen]]:
    """An SMTP server on loopback speaking STARTTLS (TLS required before MAIL and AUTH)
    or implicit TLS, with this certificate."""
    seen, port = Seen(), free_port()
    context = trustme_server_context(cert)
    options: dict[str, Any] = {"authenticator": seen.authenticate}
    if mode == "starttls":
        options.update(tls_context=context, require_starttls=True, auth_require_tls=True)
    else:
        # aiosmtpd does not count implicit TLS as TLS for AUTH: the whole connection is.
        options.update(ssl_context=context, auth_require_tls=False)
    controller = Controller(seen, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port, seen
    finally:
        controller.stop()


def trustme_server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


def use_server(port: int, mode: str, ca_file: Path | None) -> None:
    current_app.config["SETTINGS"] = current_app.config["SETTINGS"].with_overrides(
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=mode == "starttls",
        smtp_ssl=mode == "ssl",
        smtp_ca_file=str(ca_file) if ca_file else "",
        smtp_user="barometre",
        smtp_password="mot-de-passe-smtp",
        smtp_timeout=5,
        alert_group_wait=0,
        mail_from="barometre@fidex.test",
    )


def invite(client: FlaskClient, coordinator: User) -> Any:
    login(client, coordinator)
    data = {"email": INVITED, "name": "", "role": "coordinator", "service": "", "language": "fr"}
    return client.post("/coordination/utilisateurs/inviter", data=data)


MODES = ["starttls", "ssl"]


@pytest.mark.parametrize("mode", MODES)
def test_tls_delivers_an_invitation_and_an_alert_when_the_ca_file_names_the_authority(
    app: Flask, client: FlaskClient, coordinator: User, pki: Pki, mode: str
) -> None:
    add_contact(CONTACT)
    with tls_server(mode, pki.good) as (port, seen), freeze_time(MONDAY_EARLY, real_asyncio=True):
        use_server(port, mode, pki.ca_file)
        response = invite(client, coordinator)
        assert response.status_code == 303
        file_report()
    assert {(n.kind, n.state, n.attempts) for n in notifications()} == {
        ("invite", "sent", 1),
        ("rise", "sent", 1),
    }
    received = [str(m["To"]) for m in seen.messages]
    assert {CONTACT, INVITED} <= set(received) and len(received) == len(notifications())
    assert len(seen.logins) == 2  # one connection (and login) for each hand-over
    # The invited coordinator also gets the alert, as every coordinator does.
    [invitation] = [m for m in seen.messages if m["Subject"] == "Baromètre\xa0: votre invitation"]
    assert invitation["To"] == INVITED and LINK.search(body_of(invitation)) is not None


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("served", "trusted", "why"),
    [
        ("other_ca", "ca_file", "unable to get local issuer certificate"),
        ("good", "system", "unable to get local issuer certificate"),
        ("wrong_name", "ca_file", "mismatch, certificate is not valid for"),
    ],
)
def test_a_certificate_that_does_not_verify_is_a_failure_and_nothing_is_sent(
    app: Flask,
    client: FlaskClient,
    coordinator: User,
    pki: Pki,
    mode: str,
    served: str,
    trusted: str,
    why: str,
) -> None:
    add_contact(CONTACT)
    with (
        tls_server(mode, getattr(pki, served)) as (port, seen),
        freeze_time(MONDAY_EARLY, real_asyncio=True),
    ):
        use_server(port, mode, pki.ca_file if trusted == "ca_file" else None)
        response = invite(client, coordinator)
        page = text(client.get(response.headers["Location"]))
        file_report()
    rows = notifications()
    assert {(n.kind, n.state, n.attempts) for n in rows} == {
        ("invite", "pending", 1),
        ("rise", "pending", 1),
    }
    for row in rows:
        assert row.last_error.startswith("Certificat du serveur SMTP refusé"), row.last_error
        assert why in row.last_error
    assert seen.logins == [] and seen.mails == [] and seen.messages == []
    assert "est créé mais le courriel n'a pas pu partir\xa0: nouvel essai automatique" in page


def test_starttls_required_but_not_offered_sends_nothing_in_clear(
    app: Flask, client: FlaskClient, coordinator: User
) -> None:
    seen, port = Seen(), free_port()
    controller = Controller(seen, hostname="127.0.0.1", port=port)  # no TLS at all
    controller.start()
    try:
        use_server(port, "starttls", None)
        invite(client, coordinator)
    finally:
        controller.stop()
    [row] = notifications()
    assert (row.state, row.attempts) == ("pending", 1)
    assert "STARTTLS" in row.last_error
    assert seen.mails == [] and seen.messages == [] and seen.logins == []


def test_the_invited_user_signs_in_after_a_tls_delivery(
    app: Flask, client: FlaskClient, coordinator: User, pki: Pki
) -> None:
    with tls_server("ssl", pki.good) as (port, seen):
        use_server(port, "ssl", pki.ca_file)
        invite(client, coordinator)
    [message] = seen.messages
    found = LINK.search(body_of(message))
    assert found is not None
    fresh = app.test_client()
    response = fresh.post(found.group(1), data={"password": PASSWORD, "confirm": PASSWORD})
    assert response.status_code == 303
    db.session.expire_all()
    user = db.session.query(User).filter_by(email=INVITED).one()
    assert user.password_hash.startswith("$argon2")
