"""The coordinators' console: review (R11), resolve, manage, committee note (R12), audit."""

from __future__ import annotations

import html
import time
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from barometre import clock
from barometre.extensions import db
from barometre.models import (
    AuditEntry,
    Condition,
    Contact,
    Establishment,
    LevelChange,
    MemberService,
    Report,
    Situation,
    User,
)
from tests.conftest import bearer, file_report, login, make_user
from tests.races import console_clients, race

SECRET_TEXT = "Le-texte-du-signalement-ne-va-pas-au-journal"


@pytest.fixture
def console(client: FlaskClient, coordinator: User) -> FlaskClient:
    login(client, coordinator)
    return client


def text(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def establishment(slug: str) -> Establishment:
    row = db.session.scalar(select(Establishment).where(Establishment.slug == slug))
    assert row is not None
    return row


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_workers_cannot_use_the_console(client: FlaskClient, worker: User) -> None:
    file_report(worker)
    login(client, worker)
    assert client.get("/coordination/signalements").status_code == 403
    assert (
        client.post("/coordination/signalements/1/rejeter", data={"reason": "x"}).status_code == 403
    )
    assert db.session.get(Report, 1).review_state == "unreviewed"  # type: ignore[union-attr]


def test_review_list_filters(console: FlaskClient, worker: User) -> None:
    other = make_user(service="Autre service")
    a = file_report(worker, conditions=("SEC-01",), offer_types=("collectif",), days_ago=2).report
    b = file_report(worker, conditions=("ACC-01",), offer_types=("individuel",), days_ago=10).report
    c = file_report(other, establishment="saint-gilles", conditions=("SEC-02",)).report
    assert a and b and c

    def listed(**args: Any) -> set[int]:
        page = console.get("/coordination/signalements", query_string=args).get_data(as_text=True)
        return {r.id for r in (a, b, c) if f'id="signalement-{r.id}"' in page}

    assert listed() == {a.id, b.id, c.id}
    assert listed(establishment="haren") == {a.id, b.id}
    assert listed(category="SEC") == {a.id, c.id}
    assert listed(offer_type="collectif") == {a.id}
    assert listed(service=str(other.service_id)) == {c.id}
    since = (clock.today() - timedelta(days=5)).isoformat()
    assert listed(date_from=since) == {a.id, c.id}
    assert listed(date_to=since) == {b.id}
    assert listed(state="rejected") == set()
    assert listed(establishment="haren", category="SEC", offer_type="collectif") == {a.id}
    # Unknown values are ignored, never a 500.
    assert listed(establishment="nulle-part", date_from="pas-une-date", service="abc") == {
        a.id,
        b.id,
        c.id,
    }


def test_reject_needs_a_reason_then_the_level_falls(console: FlaskClient, worker: User) -> None:
    report = file_report(worker, description=SECRET_TEXT).report
    assert report is not None and establishment("haren").level.colour == "orange"
    page = text(console.get(f"/coordination/signalements/{report.id}"))
    assert SECRET_TEXT in page  # coordinators read the text
    assert worker.name not in page and worker.email not in page  # never the author

    empty = console.post(f"/coordination/signalements/{report.id}/rejeter", data={"reason": " "})
    assert empty.status_code == 422 and "Ce champ est obligatoire." in text(empty)
    assert establishment("haren").level.colour == "orange"

    done = console.post(
        f"/coordination/signalements/{report.id}/rejeter", data={"reason": "Doublon"}
    )
    assert done.status_code == 302
    followed = text(console.get(done.headers["Location"]))
    assert "Signalement rejeté" in followed and "Motif\xa0: Doublon" in followed
    db.session.expire_all()
    assert establishment("haren").level.colour == "vert"
    change = db.session.scalars(select(LevelChange).order_by(LevelChange.id.desc())).first()
    assert change is not None and change.cause == "rejection" and change.cause_id == report.id
    assert actions()[-1] == "report.reject"
    again = console.post(f"/coordination/signalements/{report.id}/rejeter", data={"reason": "x"})
    assert again.status_code == 302  # a conflict becomes a flash, not a 500
    assert "déjà rejeté" in text(console.get("/coordination/"))


@pytest.mark.parametrize("settings_overrides", [{"reports_require_review": True}])
def test_validation_makes_a_report_count(console: FlaskClient, worker: User) -> None:
    report = file_report(worker).report
    assert report is not None and establishment("haren").level.colour == "vert"
    response = console.post(f"/coordination/signalements/{report.id}/valider")
    assert response.status_code == 302
    db.session.expire_all()
    assert establishment("haren").level.colour == "orange"
    assert db.session.get(Report, report.id).review_state == "validated"  # type: ignore[union-attr]
    assert actions()[-1] == "report.validate"


def test_resolve_a_situation_with_a_note(console: FlaskClient, worker: User) -> None:
    outcome = file_report(worker)
    situation_id = outcome.new_situations[0].id
    listing = text(console.get("/coordination/situations", follow_redirects=True))
    assert f'id="situation-{situation_id}"' in listing
    empty = console.post(f"/coordination/situations/{situation_id}/resoudre", data={"note": ""})
    assert empty.status_code == 422 and "Ce champ est obligatoire." in text(empty)
    done = console.post(
        f"/coordination/situations/{situation_id}/resoudre", data={"note": "DECT fournis"}
    )
    assert done.status_code == 302
    db.session.expire_all()
    situation = db.session.get(Situation, situation_id)
    assert situation is not None and situation.status == "resolved"
    assert situation.close_note == "DECT fournis"
    assert establishment("haren").level.colour == "vert"
    assert actions()[-1] == "situation.resolve"


def test_establishments_add_rename_deactivate(console: FlaskClient) -> None:
    bad = console.post("/coordination/etablissements", data={"name": ""})
    assert bad.status_code == 422 and "Ce champ est obligatoire." in text(bad)
    added = console.post("/coordination/etablissements", data={"name": "Prison de Forest"})
    assert added.status_code == 302
    forest = establishment("forest")
    assert forest.name == "Prison de Forest" and forest.active
    console.post(f"/coordination/etablissements/{forest.id}", data={"name": "Prison de Forest (B)"})
    console.post(f"/coordination/etablissements/{forest.id}/activation", data={"active": "0"})
    db.session.expire_all()
    forest = establishment("forest")
    assert forest.name == "Prison de Forest (B)" and not forest.active
    assert "Prison de Forest" not in text(console.get("/"))
    again = console.post("/coordination/etablissements", data={"name": "Prison de Forest"})
    assert again.status_code == 302 and db.session.scalar(
        select(Establishment).where(Establishment.slug == "forest-2")
    )
    assert actions()[:3] == [
        "establishment.create",
        "establishment.rename",
        "establishment.deactivate",
    ]


def test_committee_note_set_and_removed(console: FlaskClient) -> None:
    haren_id = establishment("haren").id
    too_long = console.post(
        f"/coordination/etablissements/{haren_id}/note", data={"note": "x" * 281}
    )
    assert too_long.status_code == 422 and "280 caractères au maximum" in text(too_long)
    note = "vert, avec une alerte sur les temps d'attente"
    console.post(f"/coordination/etablissements/{haren_id}/note", data={"note": note})
    assert note in text(console.get("/"))
    console.post(
        f"/coordination/etablissements/{haren_id}/note", data={"note": note, "remove": "1"}
    )
    assert note not in text(console.get("/"))
    assert actions() == ["establishment.note.set", "establishment.note.remove"]


def test_the_fidex_contact_and_the_committees_request_are_set_checked_and_audited(
    console: FlaskClient,
) -> None:
    haren_id = establishment("haren").id
    url = f"/coordination/etablissements/{haren_id}/a-faire"
    page = text(console.get(f"/coordination/etablissements/{haren_id}"))
    assert "Ce que le comité demande (français)" in page and "Contact à Fidex\xa0: nom" in page
    refused = {
        "fidex_email": ("aline@fidex.be\r\nBcc: x@evil.test", "Adresse électronique invalide."),
        "fidex_phone": ("appelez le secrétariat", "Numéro de téléphone invalide"),
        "fidex_name": ("Aline\u202eFidex", "caractère interdit"),
        "request": ("x" * 501, "500 caractères au maximum"),
        "request_nl": ("Heropen de bezoekzalen.", "Écrivez aussi la demande en français"),
    }
    for name, (value, message) in refused.items():
        answer = console.post(url, data={name: value})
        assert answer.status_code == 422 and message in text(answer), name
    assert actions() == []
    good = {
        "fidex_name": "Aline Verhaegen",
        "fidex_email": "Aline@Fidex.be",
        "fidex_phone": "(02) 512 00 00",
        "request": "Rouvrez les parloirs avant vendredi.",
        "request_nl": "Heropen de bezoekzalen tegen vrijdag.",
        "request_en": "",
    }
    assert console.post(url, data=good).status_code == 302
    db.session.expire_all()
    haren = establishment("haren")
    assert (haren.fidex_contact_email, haren.fidex_contact_phone) == (
        "aline@fidex.be",
        "(02) 512 00 00",
    )
    assert haren.request_in("nl") == good["request_nl"]
    assert haren.request_in("en") == good["request"]  # the French request by default
    page = text(console.get(f"/coordination/etablissements/{haren_id}"))
    assert "Rouvrez les parloirs avant vendredi." in page and "aline@fidex.be" in page
    assert actions() == ["establishment.what_to_do"]
    entry = db.session.scalars(select(AuditEntry)).one()
    # Which fields changed, never what they say.
    assert "Rouvrez" not in str(entry.detail) and "fidex_phone" in entry.detail["fields"]


def test_contacts_add_edit_remove(console: FlaskClient) -> None:
    haren_id = establishment("haren").id
    url = f"/coordination/etablissements/{haren_id}/contacts"
    injected = console.post(
        url, data={"new-email": "dir@prison.be\r\nBcc: x@evil.test", "new-language": "fr"}
    )
    assert injected.status_code == 422 and "Adresse électronique invalide." in text(injected)
    added = console.post(
        url,
        data={
            "new-email": "Direction@Prison.be",
            "new-name": "Direction",
            "new-language": "nl",
            "new-alerts": "y",
            "new-digest": "y",
        },
    )
    assert added.status_code == 302
    contact = db.session.scalar(select(Contact))
    assert (
        contact is not None and contact.email == "direction@prison.be" and contact.language == "nl"
    )
    duplicate = console.post(url, data={"new-email": "direction@prison.be", "new-language": "fr"})
    assert duplicate.status_code == 422 and "existe déjà" in text(duplicate)
    console.post(
        f"/coordination/contacts/{contact.id}",
        data={"email": "direction@prison.be", "language": "fr", "alerts": "y", "red_only": "y"},
    )
    db.session.expire_all()
    contact = db.session.get(Contact, contact.id)
    assert (
        contact is not None and contact.red_only and not contact.digest and contact.language == "fr"
    )
    console.post(f"/coordination/contacts/{contact.id}/supprimer")
    assert db.session.scalar(select(Contact)) is None
    assert actions() == ["contact.create", "contact.update", "contact.remove"]


def test_member_services_add_edit_deactivate(console: FlaskClient) -> None:
    bad = console.post(
        "/coordination/services", data={"name": "Aide", "alert_emails": "pas-une-adresse"}
    )
    assert bad.status_code == 422 and "Adresse électronique invalide\xa0: pas-une-adresse" in text(
        bad
    )
    console.post(
        "/coordination/services", data={"name": "Aide", "alert_emails": "a@aide.be; b@aide.be"}
    )
    service = db.session.scalar(select(MemberService).where(MemberService.name == "Aide"))
    assert service is not None and service.alert_addresses == ["a@aide.be", "b@aide.be"]
    console.post(
        f"/coordination/services/{service.id}", data={"name": "Aide", "alert_emails": "c@aide.be"}
    )
    db.session.expire_all()
    service = db.session.get(MemberService, service.id)
    assert service is not None and service.alert_addresses == ["c@aide.be"] and not service.active
    assert actions() == ["service.create", "service.update", "service.deactivate"]


@pytest.mark.parametrize("again", ["Åide Été", "åide été", "ÅIDE ÉTÉ"])
def test_a_service_name_taken_in_another_case_is_refused_not_a_500(
    console: FlaskClient, again: str
) -> None:
    """SQLite's lower() folds ASCII only: the clash is found in Python, for every letter.
    (The console fuzz hit a 500 here with « Åé » sent twice.)"""
    first = console.post("/coordination/services", data={"name": "Åide Été", "alert_emails": ""})
    assert first.status_code == 302
    second = console.post("/coordination/services", data={"name": again, "alert_emails": ""})
    assert second.status_code == 422 and "Un service porte déjà ce nom." in text(second)
    names = db.session.scalars(select(MemberService.name)).all()
    assert [n for n in names if n.casefold() == "åide été"] == ["Åide Été"]


@pytest.mark.committing
def test_coordinators_adding_one_service_at_once_make_one_and_no_500(
    app: Flask, coordinator: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every request passes the name check before any inserts (the check waits): the unique
    index refuses the others, who see the form's error, not a 500."""
    from barometre.console import admin

    check = admin._unique_service_name

    def slow_check(*args: Any) -> str:
        name = check(*args)
        time.sleep(0.3)
        return name

    monkeypatch.setattr(admin, "_unique_service_name", slow_check)
    clients = console_clients(app, coordinator, 6)
    data = {"name": "Relais", "alert_emails": ""}
    responses = race(app, lambda i: clients[i].post("/coordination/services", data=data), 6)
    statuses = sorted(getattr(r, "status_code", r) for r in responses)
    assert statuses == [302] + [422] * 5, statuses
    refused = [text(r) for r in responses if r.status_code == 422]
    assert all("Un service porte déjà ce nom." in page for page in refused)
    db.session.rollback()
    names = db.session.scalars(select(MemberService.name)).all()
    assert names.count("Relais") == 1


def test_users_change_role_service_and_deactivate(
    console: FlaskClient, coordinator: User, app: Any
) -> None:
    worker = make_user(service="Service A")
    other = db.session.scalar(select(MemberService).where(MemberService.name == "Service A"))
    assert other is not None
    no_service = console.post(
        f"/coordination/utilisateurs/{worker.id}",
        data={"role": "worker", "service": "", "active": "y"},
    )
    assert no_service.status_code == 422 and "appartient à un service" in text(no_service)
    myself = console.post(
        f"/coordination/utilisateurs/{coordinator.id}",
        data={"role": "worker", "service": str(other.id), "active": "y"},
    )
    assert myself.status_code == 422 and "votre propre rôle" in text(myself)

    worker_client = app.test_client()
    login(worker_client, worker)
    assert worker_client.get("/etablissements/haren").status_code == 200
    done = console.post(
        f"/coordination/utilisateurs/{worker.id}", data={"role": "worker", "service": str(other.id)}
    )
    assert done.status_code == 302
    db.session.expire_all()
    assert not db.session.get(User, worker.id).active  # type: ignore[union-attr]
    # the session ended
    assert worker_client.get("/etablissements/haren").status_code in (302, 303, 401)
    assert worker.email in text(console.get("/coordination/utilisateurs"))
    assert actions()[-1] == "user.disable"


def test_referentiel_add_edit_retire_never_delete(console: FlaskClient, worker: User) -> None:
    added = console.post(
        "/coordination/referentiel",
        data={
            "category": "SEC",
            "label_fr": "Les travailleurs disposent d'un casier",
            "keywords": "casier",
        },
    )
    assert added.status_code == 302
    condition = db.session.scalar(select(Condition).where(Condition.code == "SEC-05"))
    assert condition is not None and condition.label_fr.endswith("casier")
    console.post(
        f"/coordination/referentiel/{condition.id}",
        data={"label_fr": "Un casier fermé à clé est disponible"},
    )
    db.session.expire_all()
    assert (
        db.session.get(Condition, condition.id).label_fr == "Un casier fermé à clé est disponible"
    )  # type: ignore[union-attr]
    assert '<span class="code">SEC-05</span>' in text(console.get("/codes"))

    file_report(worker, conditions=("SEC-05",))
    console.post(f"/coordination/referentiel/{condition.id}/retrait")
    db.session.expire_all()
    assert db.session.get(Condition, condition.id).retired_at is not None  # type: ignore[union-attr]
    assert '<span class="code">SEC-05</span>' not in text(console.get("/codes"))
    refused = console.post(
        "/api/v1/reports",
        json={
            "establishment": "haren",
            "visit_date": clock.today().isoformat(),
            "conditions": ["SEC-05"],
            "offer_types": ["individuel"],
        },
        headers=bearer(worker),
    )
    assert refused.status_code == 422  # retired: out of the questionnaire
    # Reports and situations on the retired code stay; a new code is never the old one.
    assert db.session.scalar(select(Situation).where(Situation.condition_id == condition.id))
    console.post("/coordination/referentiel", data={"category": "SEC", "label_fr": "Autre"})
    assert db.session.scalar(select(Condition).where(Condition.code == "SEC-06"))
    assert actions() == [
        "condition.create",
        "condition.update",
        "condition.retire",
        "condition.create",
    ]


def test_audit_log_shows_who_did_what_without_report_text(
    console: FlaskClient, worker: User, coordinator: User
) -> None:
    report = file_report(worker, description=SECRET_TEXT).report
    assert report is not None
    console.post(f"/coordination/signalements/{report.id}/rejeter", data={"reason": "Motif-prive"})
    page = text(console.get("/coordination/journal"))
    assert "Signalement rejeté" in page and coordinator.email in page
    assert f"Signalement n° {report.id}" in page and "report n°" not in page  # target in words
    assert SECRET_TEXT not in page and "Motif-prive" not in page


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_head_request_answers_as_the_page_and_changes_nothing(
    console: FlaskClient, worker: User
) -> None:
    """Pages that take GET and POST: only a POST takes the changing branch (issue 24, item 1)."""
    contact = Contact(establishment=establishment("haren"), email="direction@haren.test")
    service = MemberService(name="Service Haren")
    db.session.add_all([contact, service])
    db.session.commit()
    paths = [
        f"/coordination/utilisateurs/{worker.id}",
        f"/coordination/etablissements/{establishment('haren').id}",
        f"/coordination/services/{service.id}",
        f"/coordination/contacts/{contact.id}",
        "/coordination/referentiel/1",
        "/coordination/referentiel",
        "/coordination/etablissements",
        "/coordination/services",
        "/connexion",
    ]
    before = actions()
    for path in paths:
        looked = console.get(path)
        assert looked.status_code == 200, path
        assert console.head(path).status_code == 200, path
    assert actions() == before


@pytest.mark.parametrize("kind", ["services", "utilisateurs", "etablissements", "referentiel"])
def test_an_unknown_row_of_the_console_is_a_french_404(console: FlaskClient, kind: str) -> None:
    """A service, an account, an establishment or a condition that is gone (or never was):
    404 on reading and on saving, and nothing is written."""
    for ident in (9999, 2**31 - 1):
        page = console.get(f"/coordination/{kind}/{ident}")
        assert page.status_code == 404
        assert "inconnu" in page.get_data(as_text=True)
        assert console.post(f"/coordination/{kind}/{ident}", data={"name": "x"}).status_code == 404
