"""Concurrent reports on one establishment: serialised by the row lock, none lost."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from barometre import services
from barometre.extensions import db
from barometre.levels import compute_level
from barometre.models import Establishment, Report, Situation, User
from tests.conftest import BOTH, make_user, report_input

pytestmark = [BOTH, pytest.mark.committing]  # threads; the embedded mode runs these too

CODES = ["ACC-01", "ACC-02", "SEC-01", "SEC-03", "OFF-06", "CON-01"]


def test_parallel_reports_keep_one_situation_per_condition(
    app: Flask, worker: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker_id = worker.id
    read_situations = services.open_situations

    def slow_read(session: Any, establishment_id: int) -> list[Situation]:
        # Widen the window between reading the open situations and writing.
        found = read_situations(session, establishment_id)
        time.sleep(0.02)
        return found

    monkeypatch.setattr(services, "open_situations", slow_read)

    def submit(index: int) -> int:
        with app.app_context():
            author = db.session.get(User, worker_id)
            offer = ["individuel", "collectif", "cellulaire"][index % 3]
            code = CODES[(index // 6) % len(CODES)]  # six threads at once on one condition
            data = report_input("haren", (code,), (offer,))
            outcome = services.record_report(db.session, data, author, app.config["SETTINGS"])
            db.session.commit()
            assert outcome.report is not None
            return outcome.report.id

    with ThreadPoolExecutor(max_workers=6) as pool:
        ids = list(pool.map(submit, range(36)))
    db.session.expire_all()
    assert len(set(ids)) == 36 == db.session.scalar(select(func.count(Report.id)))
    open_rows = db.session.scalars(select(Situation).where(Situation.status == "open")).all()
    assert sorted(s.condition.code for s in open_rows) == sorted(CODES)
    assert sum(s.report_count for s in open_rows) == 36
    haren = db.session.scalar(select(Establishment).where(Establishment.slug == "haren"))
    assert haren is not None
    assert haren.level == compute_level(s.offer_type_codes for s in open_rows)


def test_one_submission_id_sent_at_once_by_one_author_and_by_many(app: Flask) -> None:
    """Issue 11, item 3: the id is its author's. One author sending it 10 times at once
    stores one report; 10 authors sending it at once store 10."""
    shared = "0b8f6a2e-4c1d-4e5f-9a7b-3c2d1e0f9a8b"
    same_author = make_user().id
    authors = [make_user(service=f"Service {i}").id for i in range(10)]

    def submit(author_id: int) -> tuple[int, bool]:
        with app.app_context():
            author = db.session.get(User, author_id)
            data = report_input("haren", ("SEC-01",), ("individuel",), submission_id=shared)
            outcome = services.record_report(db.session, data, author, app.config["SETTINGS"])
            db.session.commit()
            assert outcome.report is not None
            return outcome.report.id, outcome.created

    with ThreadPoolExecutor(max_workers=10) as pool:
        repeats = list(pool.map(submit, [same_author] * 10))
        distinct = list(pool.map(submit, authors))
    assert len({report_id for report_id, _ in repeats}) == 1
    assert sorted(created for _, created in repeats) == [False] * 9 + [True]
    assert len({report_id for report_id, _ in distinct}) == 10
    assert all(created for _, created in distinct)
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Report.id))) == 11
