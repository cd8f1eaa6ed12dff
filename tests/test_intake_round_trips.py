"""Round trips of recording a report (issues 18 and 25): one write path, the same
statements on SQLite and PostgreSQL, one per table, and every column written.

Counted with the `before_cursor_execute` hook of bench.querycount, on both backends.
"""

from __future__ import annotations

from datetime import date, datetime
from itertools import pairwise

import pytest
from flask import Flask
from freezegun import freeze_time
from sqlalchemy import select

from barometre.extensions import db
from barometre.models import Condition, Establishment, Report, ReportCondition, Situation
from barometre.recompute import recompute_all
from barometre.services import record_report
from barometre.states import SituationState
from bench.querycount import count_queries
from tests.conftest import make_user, report_input

BOTH = {"SEC-01": ("individuel", "collectif"), "ACC-01": ("cellulaire",)}


def record(app: Flask, **kwargs: object) -> tuple[Report, list[str]]:
    with count_queries(db.engine) as log:
        outcome = record_report(db.session, report_input(**kwargs), None, app.config["SETTINGS"])
        assert outcome.report is not None
        report_id = outcome.report.id
        db.session.commit()
    return db.session.get_one(Report, report_id), log.statements


def starting(statements: list[str], *prefixes: str) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith(prefixes)]


def shapes(statements: list[str]) -> list[str]:
    """Each statement as its verb and table: `UPDATE establishment`, `INSERT report` …"""
    return [_shape(s) for s in statements]


def _shape(statement: str) -> str:
    words = statement.split()
    if words[0] in ("INSERT", "UPDATE"):  # INSERT INTO table, UPDATE table
        return f"{words[0]} {words[2 if words[0] == 'INSERT' else 1]}"
    depth = 0  # the statement's own FROM, not that of a subquery among its columns
    for word, following in pairwise(words):
        depth += word.count("(") - word.count(")")
        if word == "FROM" and depth == 0:
            return f"{words[0]} {following}"
    raise AssertionError(statement)


# On both databases: the establishment locked and read with the repeat check, the named
# codes, the open situations, then the report's rows, one statement a table.
STARTED = [
    "UPDATE establishment",
    "SELECT condition",
    "SELECT situation",
    "INSERT report",
    "INSERT report_condition",
    "INSERT report_offer_type",
]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_report_confirming_and_opening_situations_is_stored_whole(
    app: Flask, backend: str
) -> None:
    first, _ = record(app, per_condition={"SEC-01": ("individuel",)})
    report, statements = record(app, per_condition=BOTH)
    situations = {
        s.condition.code: s
        for s in db.session.scalars(
            select(Situation).where(Situation.status == SituationState.OPEN)
        )
    }
    assert set(situations) == {"SEC-01", "ACC-01"}
    confirmed, opened = situations["SEC-01"], situations["ACC-01"]
    assert (confirmed.report_count, confirmed.offer_types) == (2, "individuel,collectif")
    assert (opened.report_count, opened.offer_types) == (1, "cellulaire")
    assert sorted(r.id for r in confirmed.reports) == [first.id, report.id]
    assert [r.id for r in opened.reports] == [report.id]
    links = {link.condition.code: link.offer_types for link in report.condition_links}
    assert links == {"SEC-01": "individuel,collectif", "ACC-01": "cellulaire"}
    assert {t.code for t in report.offer_types} == {"individuel", "collectif", "cellulaire"}
    assert db.session.query(ReportCondition).count() == 3
    # The situation it opens, the links to both, then (flushed with the level change) the
    # establishment and the situation it confirms.
    assert shapes(statements)[:10] == [
        *STARTED,
        "INSERT situation",
        "INSERT situation_report",
        "UPDATE establishment",
        "INSERT level_change",
    ]
    assert "UPDATE situation" in shapes(statements)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_every_column_of_the_report_and_its_new_situation_is_written(
    app: Flask, backend: str
) -> None:
    """The report and the situation it opens are inserted with their values and the
    models' defaults, the author's and service's ids included, one statement each."""
    worker = make_user()
    worker_id, service_id = worker.id, worker.service_id
    submission = "0f7c2a3e-5b1d-4c9e-8a6f-2d3e4f5a6b7c"
    with freeze_time("2026-05-04 09:30:00"), count_queries(db.engine) as log:
        outcome = record_report(
            db.session,
            report_input(
                per_condition={"ACC-01": ("collectif",)},
                description="  Attente à l'accueil  ",
                minutes_waited=45,
                activity_cancelled=True,
                detainees_not_seen=3,
                submission_id=submission,
            ),
            worker,
            app.config["SETTINGS"],
        )
        assert outcome.report is not None and outcome.report.id is not None
        assert [s.id is not None for s in outcome.new_situations] == [True]
        report_id, situation_id = outcome.report.id, outcome.new_situations[0].id
        establishment_id = outcome.establishment.id
        db.session.commit()
    assert shapes(log.statements)[:8] == [*STARTED, "INSERT situation", "INSERT situation_report"]
    db.session.expunge_all()
    row = db.session.execute(select(Report.__table__).where(Report.id == report_id)).one()
    assert row._asdict() | {"id": 0} == {
        "id": 0,
        "establishment_id": establishment_id,
        "author_id": worker_id,
        "service_id": service_id,
        "visit_date": date(2026, 5, 4),
        "submitted_at": datetime(2026, 5, 4, 9, 30),
        "description": "Attente à l'accueil",
        "description_purged_at": None,
        "minutes_waited": 45,
        "activity_cancelled": True,
        "detainees_not_seen": 3,
        "submission_id": submission,
        "review_state": "unreviewed",
        "review_reason": "",
        "reviewed_by_id": None,
        "reviewed_at": None,
        "import_reference": None,
    }
    situation = db.session.execute(
        select(Situation.__table__).where(Situation.id == situation_id)
    ).one()
    assert situation._asdict() | {"id": 0, "condition_id": 0} == {
        "id": 0,
        "establishment_id": establishment_id,
        "condition_id": 0,
        "status": SituationState.OPEN,
        "offer_types": "collectif",
        "opened_at": datetime(2026, 5, 4, 9, 30),
        "first_visit": date(2026, 5, 4),
        "last_confirmed": date(2026, 5, 4),
        "report_count": 1,
        "closed_at": None,
        "closed_by_id": None,
        "close_note": "",
        "closed_by_import": False,
    }
    stored = db.session.get_one(Report, report_id)
    assert [s.id for s in stored.situations] == [situation_id]
    assert [link.condition.code for link in stored.condition_links] == ["ACC-01"]
    assert stored.author is not None and stored.author.id == worker_id


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_report_that_keeps_the_level_writes_the_establishment_with_the_rest(
    app: Flask, backend: str
) -> None:
    """The level stays orange 2 but the offer types and facts change: the establishment is
    written once, with the situations the report confirms, and the row is what a
    recomputation from scratch gives, its revision bumped once (the lock keeps it)."""
    record(app, per_condition={"SEC-01": ("individuel",), "ACC-01": ("individuel",)})
    haren = db.session.scalars(select(Establishment).where(Establishment.slug == "haren")).one()
    revision = haren.revision
    _report, statements = record(
        app, per_condition={"SEC-01": ("collectif",), "ACC-01": ("cellulaire",)}
    )
    assert shapes(statements) == [
        *STARTED,
        "INSERT situation_report",
        "UPDATE establishment",
        "UPDATE situation",
    ]
    db.session.expunge_all()
    row = db.session.execute(
        select(Establishment.__table__).where(Establishment.slug == "haren")
    ).one()
    assert (row.colour, row.step, row.open_situations) == ("orange", 2, 2)
    assert row.offer_types == "individuel,collectif,cellulaire"
    assert row.revision == revision + 1
    codes = {c.id: c.code for c in db.session.scalars(select(Condition))}
    facts = {codes[condition_id]: types for condition_id, types in row.open_facts}
    assert facts == {"SEC-01": "individuel,collectif", "ACC-01": "individuel,cellulaire"}
    assert recompute_all(db.session, app.config["SETTINGS"]) == []
    db.session.flush()
    again = db.session.execute(
        select(Establishment.__table__).where(Establishment.slug == "haren")
    ).one()
    assert again._asdict() == row._asdict()  # nothing left to correct, nothing written
