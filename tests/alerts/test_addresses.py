"""Preferences in one place: what each address really receives, seen and changed in the console."""

from __future__ import annotations

from flask import Flask, current_app
from flask.testing import FlaskClient
from sqlalchemy import select

from alerts.emails import preferences_token
from alerts.recipients import alert_recipients, digest_recipients
from barometre.extensions import db
from barometre.models import ROLE_COORDINATOR, ROLE_WORKER, AuditEntry, MemberService
from tests.conftest import login

from .conftest import add_contact, establishment, user

ADDRESS = "direction@haren.test"


def opt_out_by_link(client: FlaskClient, address: str, alerts: bool, digest: bool) -> None:
    token = preferences_token(address, current_app.config["SETTINGS"])
    form = {k: "1" for k, wanted in (("alerts", alerts), ("digest", digest)) if wanted}
    assert client.post(f"/alertes/preferences/{token}", data=form).status_code == 302


def alert_addresses() -> set[str]:
    return {r.address for r in alert_recipients(db.session, establishment().id, "rise")}


def test_an_opt_out_through_the_link_is_visible_and_editable_in_the_console(
    app: Flask, client: FlaskClient
) -> None:
    contact = add_contact(ADDRESS)
    coordinator = user("coord@fidex.test", ROLE_COORDINATOR)
    opt_out_by_link(app.test_client(), ADDRESS, alerts=False, digest=True)
    assert ADDRESS not in alert_addresses()

    login(client, coordinator)
    listing = client.get(f"/coordination/etablissements/{contact.establishment_id}")
    text = listing.get_data(as_text=True)
    assert "alertes refusées par le lien" in text
    page = client.get(f"/coordination/contacts/{contact.id}").get_data(as_text=True)
    assert "non, refusées par le lien de ses courriels" in page
    book = client.get("/coordination/adresses").get_data(as_text=True)
    row = book.split(f'<th scope="row">{ADDRESS}</th>')[1].split("</tr>")[0]
    assert "refusées par le lien" in row and "contact de la prison de Haren" in row

    # Asked by phone, the coordinator lets alerts through again, from the contact's page.
    back = f"/coordination/contacts/{contact.id}"
    response = client.post(
        "/coordination/adresses",
        data={"email": ADDRESS, "alerts": "1", "digest": "1", "next": back},
    )
    assert response.status_code == 302 and response.headers["Location"].endswith(back)
    assert ADDRESS in alert_addresses()
    page = client.get(back).get_data(as_text=True)
    assert "refusées par le lien" not in page
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "address.preferences")
    ).one()
    assert entry.actor_id == coordinator.id
    assert entry.detail == {"alerts": True, "digest": True}


def test_a_service_address_that_left_the_digest_shows_on_the_service_page(
    app: Flask, client: FlaskClient
) -> None:
    service = MemberService(name="Service Sud", alert_emails="alertes@sud.test")
    db.session.add(service)
    db.session.commit()
    opt_out_by_link(app.test_client(), "alertes@sud.test", alerts=True, digest=False)
    assert "alertes@sud.test" not in {r.address for r in digest_recipients(db.session)}
    login(client, user("coord@fidex.test", ROLE_COORDINATOR))
    page = client.get(f"/coordination/services/{service.id}").get_data(as_text=True)
    assert "non, refusée par le lien de ses courriels" in page
    client.post(
        "/coordination/adresses",
        data={"email": "alertes@sud.test", "alerts": "1", "digest": "1"},
    )
    assert "alertes@sud.test" in {r.address for r in digest_recipients(db.session)}


def test_only_coordinators_change_an_address_and_only_valid_addresses(
    app: Flask, client: FlaskClient
) -> None:
    add_contact(ADDRESS)
    worker_service = MemberService(name="Service Nord")
    db.session.add(worker_service)
    login(client, user("w@example.org", ROLE_WORKER, worker_service))
    assert client.get("/coordination/adresses").status_code == 403
    assert client.post("/coordination/adresses", data={"email": ADDRESS}).status_code == 403
    assert ADDRESS in alert_addresses()
    login(client, user("coord@fidex.test", ROLE_COORDINATOR))
    client.post("/coordination/adresses", data={"email": "pas une adresse\r\nBcc: x@y.test"})
    assert db.session.scalars(select(AuditEntry)).all() == []
