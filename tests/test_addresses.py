"""One address check for the console, the command line and the alerts (issue 11, "also seen").

Each address below is tried everywhere an address comes in: a contact, a member
service's alert addresses and an invitation in the console, and the `contacts
add`, `services add` and `users create` commands. Every door gives the same answer.
"""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from alerts.models import Notification
from barometre.addresses import clean_address
from barometre.extensions import db
from barometre.models import Contact, Establishment, MemberService, User
from tests.conftest import login

ADDRESSES = [
    ("direction@haren.test", True),  # a special-use domain: the tests' and demos' own
    ("Jean.Dupont@Example.ORG", True),
    ("camille@prison.be", True),
    ("pas-une-adresse", False),
    ("a@b", False),
    ("x@y.test\nBcc: z@w.test", False),
    ("x@y.test\x00", False),
]


def haren() -> Establishment:
    found = db.session.scalar(select(Establishment).where(Establishment.slug == "haren"))
    assert found is not None
    return found


def stored_contact() -> bool:
    db.session.rollback()
    return bool(db.session.scalar(select(func.count(Contact.id))))


def stored_user(coordinator_id: int) -> bool:
    db.session.rollback()
    return bool(db.session.scalar(select(func.count(User.id)).where(User.id != coordinator_id)))


def service_addresses(name: str) -> str | None:
    db.session.rollback()
    return db.session.scalar(select(MemberService.alert_emails).where(MemberService.name == name))


@pytest.mark.parametrize(("address", "accepted"), ADDRESSES)
def test_the_console_and_the_cli_accept_the_same_addresses(
    app: Flask, coordinator: User, address: str, accepted: bool
) -> None:
    assert (clean_address(address) is not None) is accepted
    coordinator_id = coordinator.id
    console = app.test_client()
    login(console, coordinator)
    runner = app.test_cli_runner()
    establishment_id = haren().id

    # Contacts: the console, then the command line (after removing the console's).
    console.post(
        f"/coordination/etablissements/{establishment_id}/contacts",
        data={"new-email": address, "new-language": "fr", "new-alerts": "y"},
    )
    assert stored_contact() is accepted, "console contact"
    db.session.execute(Contact.__table__.delete())
    db.session.commit()
    result = runner.invoke(args=["contacts", "add", "haren", address])
    assert (result.exit_code == 0) is accepted, result.output
    assert stored_contact() is accepted, "cli contact"

    # A member service's alert addresses.
    console.post("/coordination/services", data={"name": "Console", "alert_emails": address})
    assert (service_addresses("Console") is not None) is accepted, "console service"
    result = runner.invoke(args=["services", "add", "Ligne", "--email", address])
    assert (result.exit_code == 0) is accepted, result.output

    # Accounts: an invitation in the console, `users create` on the command line.
    console.post(
        "/coordination/utilisateurs/inviter",
        data={"email": address, "role": "coordinator", "language": "fr", "service": ""},
    )
    assert stored_user(coordinator_id) is accepted, "console invitation"
    db.session.execute(Notification.__table__.delete())  # the invitation's row names the user
    db.session.execute(User.__table__.delete().where(User.id != coordinator_id))
    db.session.commit()
    result = runner.invoke(args=["users", "create", address, "--role", "coordinator"])
    assert (result.exit_code == 0) is accepted, result.output
    assert stored_user(coordinator_id) is accepted, "cli user"
