"""One address check for the console, the command line and the alerts (issue 11, "also seen").

Each address below is tried everywhere an address comes in: a contact, a member
service's alert addresses and an invitation in the console, and the `contacts
add`, `services add` and `users create` commands. Every door gives the same answer.
"""

from __future__ import annotations

import html

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from alerts.follow.models import FollowRequest
from alerts.models import Notification
from barometre.addresses import clean_address, is_phone
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
    ("b\u043eb@example.org", False),  # a Cyrillic « о » (issue 24, item 7)
    ("jean@soci\u00e9t\u00e9.test", True),  # kept as jean@xn--socit-esab.test
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


@pytest.mark.committing
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


# --- issue 24, item 7: ASCII before the @, an international domain in its ASCII form ---------

CYRILLIC = "b\u043eb@example.org"  # « bоb » with a Cyrillic « о »
NOT_ASCII = "Une adresse électronique ne peut contenir que des caractères ASCII avant le @."
IDN = "jean@soci\u00e9t\u00e9.test"
IDN_ASCII = "jean@xn--socit-esab.test"


def page(response: TestResponse, client: FlaskClient) -> str:
    """The page answered, or the one its redirect leads to (where the flash shows)."""
    if response.status_code in (302, 303):
        response = client.get(response.headers["Location"])
    return html.unescape(response.get_data(as_text=True))


def web_doors(establishment_id: int) -> list[tuple[str, str, dict[str, str]]]:
    """(name, path, form fields without the address's) of every web form taking one."""
    return [
        (
            "console contact",
            f"/coordination/etablissements/{establishment_id}/contacts",
            {"new-language": "fr", "new-alerts": "y"},
        ),
        ("console service", "/coordination/services", {"name": "Console"}),
        (
            "console invitation",
            "/coordination/utilisateurs/inviter",
            {"role": "coordinator", "language": "fr", "service": ""},
        ),
        ("follow form", "/etablissements/haren/suivre", {"alerts": "toutes"}),
        ("address book", "/coordination/adresses", {"alerts": "1", "digest": "1"}),
        ("password link", "/mot-de-passe/oubli", {}),
    ]


def email_field(name: str, address: str) -> dict[str, str]:
    field = {"console contact": "new-email", "console service": "alert_emails"}
    return {field.get(name, "email"): address}


def test_every_door_refuses_a_local_part_that_is_not_ascii_with_its_reason(
    app: Flask, coordinator: User
) -> None:
    assert clean_address(CYRILLIC) is None
    console = app.test_client()
    login(console, coordinator)
    for name, path, fields in web_doors(haren().id):
        client = app.test_client() if name == "password link" else console
        answer = client.post(path, data={**fields, **email_field(name, CYRILLIC)})
        assert NOT_ASCII in page(answer, client), name
    runner = app.test_cli_runner()
    for args in (
        ["contacts", "add", "haren", CYRILLIC],
        ["services", "add", "Ligne", "--email", CYRILLIC],
        ["users", "create", CYRILLIC, "--role", "coordinator"],
    ):
        result = runner.invoke(args=args)
        assert result.exit_code != 0 and NOT_ASCII in result.output, args
    db.session.rollback()
    stored = [
        *db.session.scalars(select(Contact.email)),
        *db.session.scalars(select(MemberService.alert_emails)),
        *db.session.scalars(select(User.email)),
        *db.session.scalars(select(FollowRequest.email)),
    ]
    assert not [s for s in stored if not s.isascii()]


@pytest.mark.committing
def test_an_international_domain_is_kept_in_its_ascii_form_everywhere(
    app: Flask, coordinator: User
) -> None:
    assert clean_address(IDN) == IDN_ASCII == clean_address(IDN_ASCII)
    console = app.test_client()
    login(console, coordinator)
    for name, path, fields in web_doors(haren().id)[:4]:
        answer = console.post(path, data={**fields, **email_field(name, IDN)})
        assert answer.status_code < 400, (name, page(answer, console))
    runner = app.test_cli_runner()
    db.session.execute(Contact.__table__.delete())
    db.session.commit()
    for args in (
        ["contacts", "add", "haren", IDN],
        ["services", "add", "Ligne", "--email", IDN],
    ):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
    db.session.rollback()
    assert list(db.session.scalars(select(Contact.email))) == [IDN_ASCII]
    assert set(
        db.session.scalars(
            select(MemberService.alert_emails).where(MemberService.name.in_(["Console", "Ligne"]))
        )
    ) == {IDN_ASCII}
    assert list(db.session.scalars(select(FollowRequest.email))) == [IDN_ASCII]
    assert db.session.scalar(select(User.email).where(User.id != coordinator.id)) == IDN_ASCII
    # Typed either way, the address finds its account.
    result = runner.invoke(args=["tokens", "create", IDN])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["users", "disable", IDN_ASCII.upper()])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        ("+32 2 512 00 00", True),
        ("02/512.00.00", True),
        ("(02) 512-00-00", True),
        ("0032 2 512 00 00", True),
        ("12345", False),  # too few digits to be a number
        ("+32 2 512 00 00 00 00 00 00 00 00", False),  # 21 digits: too many
        ("appelez le secrétariat", False),
        ("+32 2 512 00 00\nBcc: x@y.z", False),
        ("+32 2 512 00 00 ext. 12", False),
    ],
)
def test_a_phone_number_as_people_write_it(raw: str, ok: bool) -> None:
    assert is_phone(raw) is ok
