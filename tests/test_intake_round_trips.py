"""Round trips of recording a report (issue 18): what the ORM sent as one statement per
table goes as one statement on PostgreSQL, and what it wrote stays exactly the same.

Counted with the `before_cursor_execute` hook of bench.querycount, on both backends:
SQLite takes the ORM's statements one by one, PostgreSQL the merged ones.
"""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from barometre.extensions import db
from barometre.models import SITUATION_OPEN, Report, ReportCondition, Situation
from barometre.services import record_report
from bench.querycount import count_queries
from tests.conftest import report_input

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


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_report_confirming_and_opening_situations_is_stored_whole(
    app: Flask, backend: str
) -> None:
    first, _ = record(app, per_condition={"SEC-01": ("individuel",)})
    report, statements = record(app, per_condition=BOTH)
    situations = {
        s.condition.code: s
        for s in db.session.scalars(select(Situation).where(Situation.status == SITUATION_OPEN))
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
    # The lock, the submission check and the named codes: one read.
    [locked] = starting(statements, "SELECT ESTABLISHMENT")
    assert "JOIN condition" in locked
    assert not starting(statements, "SELECT CONDITION")
    one_by_one = starting(
        statements,
        "INSERT INTO REPORT_CONDITION",
        "INSERT INTO REPORT_OFFER_TYPE",
        "INSERT INTO SITUATION_REPORT",
        "UPDATE SITUATION",
    )
    if backend == "postgresql":
        assert "FOR UPDATE OF establishment" in locked
        assert one_by_one == []  # one WITH statement instead of four
        assert len(starting(statements, "WITH")) == 1
    else:
        assert len(one_by_one) == 4
