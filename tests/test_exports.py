"""Exports: French labels in CSV and XLSX, run in the background with progress."""

from __future__ import annotations

import csv
import io
import os
import time
from datetime import datetime, timedelta
from typing import Any

import openpyxl
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert, select

from barometre import clock
from barometre.console import exports
from barometre.console.models import Export
from barometre.extensions import db
from barometre.models import (
    Condition,
    Establishment,
    MemberService,
    OfferType,
    Report,
    User,
    report_condition,
    report_offer_type,
)
from tests.conftest import file_report, login, make_user

pytestmark = pytest.mark.committing  # other connections, threads or processes read its commits

FORMULA = '=HYPERLINK("http://evil.test")'


@pytest.fixture
def console(client: FlaskClient, coordinator: User) -> FlaskClient:
    login(client, coordinator)
    return client


def wait_for(export_id: int, timeout: float = 60.0) -> tuple[Export, list[int]]:
    """Poll the row as the page does; return it finished, with the progress values seen."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.rollback()  # a fresh snapshot: the thread commits in its own session
        row = db.session.get(Export, export_id, populate_existing=True)
        assert row is not None
        if not seen or seen[-1] != row.progress:
            seen.append(row.progress)
        if row.finished:
            return row, seen
        time.sleep(0.02)
    raise AssertionError(f"export {export_id} did not finish in {timeout} s")


def start(console: FlaskClient, kind: str, fmt: str, **filters: Any) -> int:
    response = console.post(
        "/coordination/exports", query_string=filters, data={"kind": kind, "format": fmt}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])


def download(console: FlaskClient, export_id: int) -> bytes:
    response = console.get(f"/coordination/exports/{export_id}/fichier")
    assert response.status_code == 200
    return response.data


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


def xlsx_rows(data: bytes) -> list[list[Any]]:
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]


def some_reports(worker: User) -> None:
    file_report(
        worker,
        conditions=("SEC-01", "ACC-01"),
        offer_types=("individuel", "collectif"),
        description=FORMULA,
        minutes_waited=50,
        activity_cancelled=True,
    )
    file_report(worker, establishment="saint-gilles", conditions=("OFF-06",), description="autre")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_report_export_has_french_labels_text_and_no_author(
    console: FlaskClient, worker: User, fmt: str
) -> None:
    some_reports(worker)
    export_id = start(console, "reports", fmt, establishment="haren")
    row, _seen = wait_for(export_id)
    assert (row.state, row.progress, row.row_count) == ("done", 100, 1)
    data = download(console, export_id)
    rows = csv_rows(data) if fmt == "csv" else xlsx_rows(data)
    header, line = rows[0], dict(zip(rows[0], rows[1], strict=True))
    assert len(rows) == 2  # filtered like the console: haren only
    assert header[:3] == ["N°", "Établissement", "Date de visite"]
    assert line["Établissement"] == "Prison de Haren"
    assert line["Catégories"] == "Accessibilité | Sécurité"
    assert line["Conditions non respectées"].startswith("Les travailleurs des services ont accès")
    assert line["Types d'offre"] == "Individuel, Collectif"
    assert line["Activité annulée"] == "Oui" and line["Revue"] == "À examiner"
    assert line["Service"] == "Service A"
    assert line["Description"] == "'" + FORMULA  # never run as a formula
    flat = repr(rows)
    assert worker.email not in flat and worker.name not in flat and "SEC-01" not in flat


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_situation_export(console: FlaskClient, worker: User, coordinator: User, fmt: str) -> None:
    some_reports(worker)
    export_id = start(console, "situations", fmt, state="open", category="SEC")
    wait_for(export_id)
    data = download(console, export_id)
    rows = csv_rows(data) if fmt == "csv" else xlsx_rows(data)
    assert len(rows) == 2
    line = dict(zip(rows[0], rows[1], strict=True))
    assert line["Catégorie"] == "Sécurité" and line["État"] == "Ouverte"
    assert line["Condition"].startswith("Les travailleurs peuvent se déplacer librement")
    assert line["Types d'offre"] == "Individuel, Collectif" and str(line["Signalements"]) == "1"


def test_progress_page_polls_until_the_file_is_offered(
    console: FlaskClient, coordinator: User
) -> None:
    row = Export(
        kind="reports",
        format="csv",
        state="running",
        progress=40,
        row_count=400,
        total_rows=1000,
        created_by_id=coordinator.id,
    )
    db.session.add(row)
    db.session.commit()
    page = console.get(f"/coordination/exports/{row.id}")
    body = page.get_data(as_text=True)
    assert page.headers["Refresh"] == "2"
    assert 'value="40"' in body and "40 % — 400 lignes sur 1000" in body
    assert f"/coordination/exports/{row.id}/fichier" not in body
    assert console.get(f"/coordination/exports/{row.id}/fichier").status_code == 404


def test_progress_is_committed_chunk_by_chunk_and_a_second_run_does_nothing(
    app: Flask, worker: User, coordinator: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    for day in range(7):
        file_report(worker, days_ago=day)
    monkeypatch.setattr(exports, "CHUNK", 2)
    seen: list[int] = []
    real = exports.save_progress

    def spy(session: Any, export: Export, done: int) -> None:
        real(session, export, done)
        seen.append(export.progress)

    monkeypatch.setattr(exports, "save_progress", spy)
    export = Export(kind="reports", format="csv", created_by_id=coordinator.id)
    db.session.add(export)
    db.session.commit()
    exports.run_export(export.id)
    assert seen == [28, 57, 85, 99]
    db.session.refresh(export)
    assert (export.state, export.progress, export.row_count) == ("done", 100, 7)
    path = export.file_path
    exports.run_export(export.id)  # a task run twice: claimed once
    db.session.refresh(export)
    assert export.file_path == path and seen == [28, 57, 85, 99]


def test_a_failed_export_says_so(console: FlaskClient, coordinator: User) -> None:
    export = Export(
        kind="reports",
        format="csv",
        filters={"date_from": "pas-une-date"},
        created_by_id=coordinator.id,
    )
    db.session.add(export)
    db.session.commit()
    exports.run_export(export.id)
    db.session.refresh(export)
    assert export.state == "failed" and export.error == "ValueError"
    assert "L'export a échoué" in console.get(f"/coordination/exports/{export.id}").get_data(
        as_text=True
    )


def bulk_reports(count: int) -> None:
    """Insert reports with SQLAlchemy core, as a busy year would leave them."""
    haren = db.session.scalar(select(Establishment.id).where(Establishment.slug == "haren"))
    service = make_user(service="Service en masse").service_id
    conditions = list(db.session.scalars(select(Condition.id).order_by(Condition.id)))
    offers = list(db.session.scalars(select(OfferType.id).order_by(OfferType.id)))
    start_day = clock.today() - timedelta(days=365)
    now = datetime(2026, 1, 1, 12, 0)
    db.session.execute(
        insert(Report),
        [
            {
                "id": i,
                "establishment_id": haren,
                "service_id": service,
                "visit_date": start_day + timedelta(days=i % 365),
                "submitted_at": now,
                "description": f"Visite {i}",
                "review_state": "unreviewed",
                "review_reason": "",
            }
            for i in range(1, count + 1)
        ],
    )
    db.session.execute(
        insert(report_condition),
        [
            {"report_id": i, "condition_id": conditions[i % len(conditions)]}
            for i in range(1, count + 1)
        ],
    )
    db.session.execute(
        insert(report_offer_type),
        [{"report_id": i, "offer_type_id": offers[i % len(offers)]} for i in range(1, count + 1)],
    )
    db.session.commit()


# `make test` exports 20 000 reports; `make soak` the bench's 100 000 (EXPORT_REPORTS).
EXPORT_REPORTS = int(os.environ.get("EXPORT_REPORTS", "20000"))


@pytest.mark.parametrize("backend", ["sqlite"])
def test_many_reports_export_in_the_background(console: FlaskClient, backend: str) -> None:
    bulk_reports(EXPORT_REPORTS)
    began = time.monotonic()
    export_id = start(console, "reports", "csv")
    row, seen = wait_for(export_id, timeout=60)
    elapsed = time.monotonic() - began
    assert row.state == "done", row.error
    assert (row.progress, row.row_count, row.total_rows) == (100, EXPORT_REPORTS, EXPORT_REPORTS)
    assert seen[-1] == 100 and seen == sorted(seen)
    page = console.get(f"/coordination/exports/{export_id}").get_data(as_text=True)
    assert "100 %" in page and f"Télécharger le fichier ({EXPORT_REPORTS} lignes)" in page
    rows = csv_rows(download(console, export_id))
    assert len(rows) == EXPORT_REPORTS + 1 and rows[1][1] == "Prison de Haren"
    print(f"{EXPORT_REPORTS} reports exported in {elapsed:.1f} s")
    if EXPORT_REPORTS >= 100_000:
        assert elapsed < 30, elapsed


def test_service_filter_and_labels_survive_the_round_trip(
    console: FlaskClient, worker: User
) -> None:
    some_reports(worker)
    service = db.session.scalar(select(MemberService.id).where(MemberService.name == "Service A"))
    export_id = start(console, "reports", "csv", service=str(service), offer_type="collectif")
    row, _seen = wait_for(export_id)
    assert row.filters == {"service": service, "offer_type": "collectif"}
    assert len(csv_rows(download(console, export_id))) == 2


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_report_export_gives_the_offer_types_of_each_condition(
    console: FlaskClient, worker: User, fmt: str
) -> None:
    file_report(worker, per_condition={"SEC-01": ("cellulaire",), "ACC-01": ("individuel",)})
    export_id = start(console, "reports", fmt)
    wait_for(export_id)
    data = download(console, export_id)
    rows = csv_rows(data) if fmt == "csv" else xlsx_rows(data)
    line = dict(zip(rows[0], rows[1], strict=True))
    assert line["Types d'offre"] == "Individuel, Cellulaire"
    accessibility, security = line["Types d'offre par condition"].split(" | ")
    assert accessibility.startswith("Les travailleurs des services ont accès")
    assert accessibility.endswith(" : Individuel")
    assert security.startswith("Les travailleurs peuvent se déplacer librement")
    assert security.endswith(" : Cellulaire")
