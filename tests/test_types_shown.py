"""Offer types per condition on the console's pages and /mes-signalements; late reports marked."""

from __future__ import annotations

import html
import re

from flask import current_app
from flask.testing import FlaskClient

from barometre.models import User
from tests.conftest import file_report, login

PER_CONDITION = {"SEC-01": ("cellulaire",), "ACC-02": ("individuel", "collectif")}


def page(client: FlaskClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return html.unescape(response.get_data(as_text=True))


def squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))


def late_days() -> int:
    return int(current_app.config["SETTINGS"].situation_ttl_days) + 1


def test_console_report_and_list_show_types_per_condition_and_mark_late_reports(
    client: FlaskClient, worker: User, coordinator: User
) -> None:
    counted = file_report(worker, per_condition=PER_CONDITION).report.id
    late = file_report(worker, per_condition=PER_CONDITION, days_ago=late_days()).report.id
    login(client, coordinator)
    view = squeeze(page(client, f"/coordination/signalements/{counted}"))
    assert "SEC-01" in view and "type d'offre : cellulaire" in view  # one type: singular
    assert "types d'offre : individuel, collectif" in view
    assert "Hors délai" not in view
    late_view = squeeze(page(client, f"/coordination/signalements/{late}"))
    assert "Hors délai" in late_view and "n'ouvre ni ne confirme aucune situation" in late_view
    listing = page(client, "/coordination/signalements")
    rows = {
        int(m.group(1)): squeeze(m.group(2))
        for m in re.finditer(r'<tr id="signalement-(\d+)"[^>]*>(.*?)</tr>', listing, re.S)
    }
    assert "Hors délai : ne compte pas" in rows[late]
    assert "Hors délai" not in rows[counted]
    assert "(Cellulaire)" in rows[counted] and "(Individuel, Collectif)" in rows[counted]


def test_my_reports_show_types_per_condition(client: FlaskClient, worker: User) -> None:
    file_report(worker, per_condition=PER_CONDITION)
    login(client, worker)
    text = squeeze(page(client, "/mes-signalements"))
    # Mid-sentence, offer types are lower case (docs/glossary.md).
    assert "(cellulaire)" in text and "(individuel, collectif)" in text


def test_thank_you_page_says_plainly_a_late_report_does_not_count(
    client: FlaskClient, worker: User
) -> None:
    late = file_report(worker, per_condition=PER_CONDITION, days_ago=late_days()).report.id
    ok = file_report(worker, per_condition=PER_CONDITION).report.id
    login(client, worker)
    text = squeeze(page(client, f"/signalement/{late}/merci"))
    assert "Ce signalement ne compte pas dans le niveau." in text
    assert f"plus de {late_days() - 1} jours" in text
    assert "Le niveau n'a pas changé" not in text
    assert "ne compte pas" not in squeeze(page(client, f"/signalement/{ok}/merci"))
