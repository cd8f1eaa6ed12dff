"""The worker sees why; the console says who filed; every time is shown in TIMEZONE."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, current_app
from flask.testing import FlaskClient
from freezegun import freeze_time

from alerts.models import Notification
from barometre import clock, services
from barometre.extensions import db
from barometre.models import ROLE_COORDINATOR, ROLE_WORKER
from tests.conftest import bearer, file_report, login, make_user
from tests.intake_helpers import text

REASON = "Visite en dehors des heures convenues avec la direction"


def test_the_author_sees_the_committee_reason_and_nobody_else(
    app: Flask, client: FlaskClient
) -> None:
    author = make_user(ROLE_WORKER, "auteur@example.org", service="Service Aide")
    colleague = make_user(ROLE_WORKER, "collegue@example.org", service="Service Aide")
    coordinator = make_user(ROLE_COORDINATOR)
    report = file_report(author).report
    services.reject_report(
        db.session, report.id, coordinator, REASON, current_app.config["SETTINGS"]
    )
    db.session.commit()
    login(client, author)
    page = text(client.get("/mes-signalements"))
    assert (
        "Rejeté par le comité baromètre\xa0: ce signalement ne compte pas dans le niveau." in page
    )
    assert f"Motif du comité\xa0: {REASON}" in page
    other = app.test_client()
    login(other, colleague)
    assert REASON not in text(other.get("/mes-signalements"))
    assert other.get(f"/signalement/{report.id}/merci").status_code == 403


def test_the_console_report_page_names_the_member_service_and_only_it_does(
    app: Flask, client: FlaskClient
) -> None:
    author = make_user(ROLE_WORKER, "auteur@example.org", service="Service Passerelle")
    report = file_report(author).report
    login(client, make_user(ROLE_COORDINATOR))
    page = text(client.get(f"/coordination/signalements/{report.id}"))
    assert "Service membre qui l'a envoyé" in page and "Service Passerelle" in page
    reader = app.test_client()
    login(reader, make_user(ROLE_WORKER, "autre@example.org", service="Service Autre"))
    for path in ("/", "/etablissements/haren", "/api/v1/establishments/haren"):
        response = reader.get(path)
        assert response.status_code == 200, path
        assert "Passerelle" not in response.get_data(as_text=True), path


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"timezone": "Asia/Tokyo"}


def test_every_time_is_shown_in_the_configured_time_zone(app: Flask, client: FlaskClient) -> None:
    """Stored 05:00 UTC reads 14:00 in Tokyo on the console and the worker's pages."""
    with freeze_time("2026-03-02 05:00:00"):
        author = make_user(ROLE_WORKER, "auteur@example.org")
        bearer(author)
        coordinator = make_user(ROLE_COORDINATOR)
        report = file_report(author).report
        db.session.add(
            Notification(
                kind="rise",
                recipient="x@haren.test",
                recipient_kind="contact",
                state="failed",
                give_up_at=clock.now(),
            )
        )
        db.session.commit()
        login(client, author)
        expected = "02/03/2026 14:00"
        # The worker's own pages write dates in words (Babel), the console in figures.
        assert "Envoyé le 2 mars 2026 à 14:00" in text(client.get("/mes-signalements"))
        assert "Créé le 2 mars 2026 à 14:00" in text(client.get("/jetons"))
        login(client, coordinator)
        for path in ("/coordination/notifications", f"/coordination/signalements/{report.id}"):
            page = text(client.get(path))
            assert expected in page, path
            assert "05:00" not in page and "UTC" not in page, path
