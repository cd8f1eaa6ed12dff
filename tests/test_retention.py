"""Retention (SPEC §4): free text and old audit entries go; counts, situations and levels stay.

Time is frozen and moved by hand; runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import func, select

from barometre.extensions import db
from barometre.models import AuditEntry, Establishment, LevelChange, Report, Situation, User
from barometre.retention import purge_expired
from barometre.services import audit
from tests.conftest import file_report, login

T0 = datetime(2026, 1, 5, 9, 0, 0)


def settings(app: Flask) -> Any:
    return app.config["SETTINGS"]


def snapshot() -> dict[str, Any]:
    """What must survive a purge."""
    return {
        "reports": db.session.scalar(select(func.count()).select_from(Report)),
        "situations": db.session.scalar(select(func.count()).select_from(Situation)),
        "changes": db.session.scalar(select(func.count()).select_from(LevelChange)),
        "levels": sorted(
            (e.slug, e.colour, e.step, e.open_situations)
            for e in db.session.scalars(select(Establishment))
        ),
    }


def descriptions() -> list[tuple[str, datetime | None]]:
    db.session.expire_all()
    query = select(Report.description, Report.description_purged_at).order_by(Report.id)
    return [(d, at) for d, at in db.session.execute(query)]


def test_free_text_is_erased_after_retention_days(app: Flask, worker: User) -> None:
    with freeze_time(T0):
        file_report(worker, description="Attente de 2 h au greffe.")
        file_report(worker, conditions=("ACC-01",), description="")
    with freeze_time(T0 + timedelta(days=10)):
        file_report(worker, conditions=("ACC-02",), description="Trop récent pour partir.")
    kept = snapshot()

    with freeze_time(T0 + timedelta(days=730) - timedelta(minutes=1)):
        assert purge_expired(db.session, settings(app)).descriptions == 0
        db.session.commit()
    assert descriptions()[0][0] == "Attente de 2 h au greffe."

    moment = T0 + timedelta(days=730, minutes=1)
    with freeze_time(moment):
        purged = purge_expired(db.session, settings(app))
        db.session.commit()
    assert purged.descriptions == 1
    assert descriptions() == [
        ("", moment),
        ("", None),  # had no text: nothing to erase, nothing marked
        ("Trop récent pour partir.", None),
    ]
    assert snapshot() == kept

    with freeze_time(moment + timedelta(hours=1)):
        assert purge_expired(db.session, settings(app)).descriptions == 0  # safe to run twice


def test_retention_days_is_a_setting(app: Flask, worker: User) -> None:
    short = settings(app).with_overrides(retention_days=7)
    with freeze_time(T0):
        file_report(worker, description="Texte")
    with freeze_time(T0 + timedelta(days=8)):
        assert purge_expired(db.session, short).descriptions == 1
        db.session.commit()
    assert descriptions() == [("", T0 + timedelta(days=8))]


def test_audit_entries_expire_on_their_own_clock(app: Flask, coordinator: User) -> None:
    with freeze_time(T0):
        audit(db.session, coordinator, "situation.resolve")
        db.session.commit()
    with freeze_time(T0 + timedelta(days=400)):
        audit(db.session, coordinator, "report.reject")
        db.session.commit()
    with freeze_time(T0 + timedelta(days=1095) - timedelta(seconds=1)):
        assert purge_expired(db.session, settings(app)).audit_entries == 0
        db.session.commit()
    with freeze_time(T0 + timedelta(days=1096)):
        purged = purge_expired(db.session, settings(app))
        db.session.commit()
    assert purged.audit_entries == 1
    actions = list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.at)))
    # The purge itself is recorded, with counts only.
    assert actions == ["report.reject", "retention.purge"]
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "retention.purge"))
    assert entry is not None and entry.detail == {"descriptions": 0, "audit_entries": 1}


def test_cli_purge(app: Flask, worker: User) -> None:
    with freeze_time(T0):
        file_report(worker, description="Texte à effacer")
    with freeze_time(T0 + timedelta(days=800)):
        result = app.test_cli_runner().invoke(args=["retention", "purge"])
    assert result.exit_code == 0, result.output
    assert "Textes libres effacés\xa0: 1" in result.output
    assert descriptions()[0][0] == ""


# --- the coordinator's page ----------------------------------------------------------------


def test_data_page_says_what_is_kept_and_for_how_long(
    client: FlaskClient, worker: User, coordinator: User
) -> None:
    with freeze_time(T0):
        file_report(worker, description="Texte confidentiel du signalement")
    with freeze_time(T0 + timedelta(days=3)):  # the session cookie is signed at that time too
        login(client, worker)
        assert client.get("/coordination/donnees").status_code == 403
        assert client.get("/coordination/donnees/registre.txt").status_code == 403
        login(client, coordinator)
        page = client.get("/coordination/donnees")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "730 jours après l&#39;envoi, puis effacé" in text
    assert "1095 jours, puis supprimé" in text
    assert "Textes libres conservés\xa0: 1" in text
    assert "effacé à partir du 5 janvier 2028" in text
    assert "Texte confidentiel" not in text


def test_register_is_a_text_download(client: FlaskClient, coordinator: User) -> None:
    login(client, coordinator)
    response = client.get("/coordination/donnees/registre.txt")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    text = response.get_data(as_text=True)
    for part in (
        "REGISTRE DES ACTIVITÉS DE TRAITEMENT (RGPD, article 30)",
        "Responsable du traitement",
        "Finalités",
        "Catégories de personnes concernées",
        "Destinataires",
        "Transferts hors de l'Union européenne",
        "Mesures de sécurité",
        "730 jours après l'envoi, puis effacé",
        "à compléter (réglage PRIVACY_CONTACT)",
    ):
        assert part in text, part
    assert "&#39;" not in text  # plain text, not HTML-escaped


class TestWithAPrivacyContact:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"privacy_contact": "vie-privee@fidex.example", "retention_days": 365}

    def test_register_names_the_contact_and_the_setting(
        self, client: FlaskClient, coordinator: User
    ) -> None:
        login(client, coordinator)
        text = client.get("/coordination/donnees/registre.txt").get_data(as_text=True)
        assert "Contact pour la protection des données\xa0: vie-privee@fidex.example" in text
        assert "365 jours après l'envoi, puis effacé" in text
