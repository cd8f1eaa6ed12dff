"""The committee's note has a date and a level (R12, R15): « Note du comité du 3 décembre
2026 (au niveau orange 1) »; once the level changes it is no longer shown as current:
the establishment page gives it as an older note, the barometer's cards leave it out,
and the console asks to keep, change or remove it."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import select

from barometre.extensions import db
from barometre.models import Establishment, User
from tests.conftest import file_report, login

NOTE = "orange, avec une attention particulière aux temps d'attente"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"public_barometer": True}


def haren() -> Establishment:
    row = db.session.scalar(select(Establishment).where(Establishment.slug == "haren"))
    assert row is not None
    return row


def text(client: FlaskClient, path: str) -> str:
    page = re.sub(r"<[^>]+>", " ", client.get(path).get_data(as_text=True))
    return " ".join(html.unescape(page).split())


def publish(client: FlaskClient, note: str = NOTE) -> None:
    response = client.post(f"/coordination/etablissements/{haren().id}/note", data={"note": note})
    assert response.status_code == 302


def test_a_note_is_shown_with_its_date_and_level_while_the_level_holds(
    client: FlaskClient, worker: User, coordinator: User
) -> None:
    with freeze_time("2026-12-03 10:00:00"):
        file_report(worker, conditions=("ACC-01",), offer_types=("individuel",))
        login(client, coordinator)
        publish(client)
        client.get("/deconnexion")
        row = haren()
        assert (row.committee_note_colour, row.committee_note_step) == ("orange", 1)
        heading = "Note du comité du 3 décembre 2026 (au niveau orange 1) : " + NOTE
        assert heading in text(client, "/etablissements/haren")
        assert heading in text(client, "/")


def test_after_a_change_of_level_the_note_is_no_longer_current(
    client: FlaskClient, worker: User, coordinator: User
) -> None:
    with freeze_time("2026-12-03 10:00:00"):
        file_report(worker, conditions=("ACC-01",), offer_types=("individuel",))
        login(client, coordinator)
        publish(client)
    with freeze_time("2026-12-05 10:00:00"):
        file_report(worker, conditions=("ACC-02",), offer_types=("individuel",))
        console = text(client, f"/coordination/etablissements/{haren().id}")
        assert "Le niveau a changé depuis cette note" in console
        client.get("/deconnexion")
        page = text(client, "/etablissements/haren")
        assert (
            "Note plus ancienne du comité, du 3 décembre 2026 (au niveau orange 1) : " + NOTE
        ) in page
        assert "Note du comité du" not in page
        assert NOTE not in text(client, "/")
        # Kept at the new level: published again as it is.
        login(client, coordinator)
        publish(client)
        client.get("/deconnexion")
        assert ("Note du comité du 5 décembre 2026 (au niveau orange 2) : " + NOTE) in text(
            client, "/"
        )


def test_a_note_written_before_dates_were_kept_reads_as_before(client: FlaskClient) -> None:
    row = haren()
    row.committee_note = NOTE
    db.session.commit()
    assert "Note du comité baromètre : " + NOTE in text(client, "/etablissements/haren")
    assert "Note du comité baromètre : " + NOTE in text(client, "/")
