"""`insert_unless_taken`: one statement on every database, nothing written when the key is
taken, and the transaction goes on (a digest run, a day's warning, a reminder)."""

from __future__ import annotations

from datetime import datetime

import pytest
from flask import Flask
from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from alerts.models import DigestRun
from barometre.extensions import db
from barometre.unique import SkipTaken, insert_unless_taken


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """The embedded mode runs these too."""
    return str(request.param)


KEY = (DigestRun.iso_week, DigestRun.recipient)
AT = datetime(2026, 3, 2, 7)


def test_the_statement_is_written_alike_on_both_databases() -> None:
    columns = [DigestRun.__table__.c.iso_week, DigestRun.__table__.c.recipient]
    statement = insert(DigestRun).values(iso_week="2026-W10").ext(SkipTaken(columns))
    for dialect in (postgresql.dialect(), sqlite.dialect()):
        written = str(statement.returning(DigestRun.id).compile(dialect=dialect))
        assert ") ON CONFLICT (iso_week, recipient) DO NOTHING RETURNING " in written, written


def run(recipient: str, week: str = "2026-W10") -> int | None:
    values = {"iso_week": week, "recipient": recipient, "created_at": AT}
    return insert_unless_taken(db.session, DigestRun, KEY, **values)


def test_a_taken_key_writes_nothing_and_the_transaction_goes_on(app: Flask) -> None:
    first, again, other = run("a@b.test"), run("a@b.test"), run("c@d.test")
    assert isinstance(first, int) and isinstance(other, int) and first != other
    assert again is None
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(DigestRun)) == 2
    kept = db.session.get(DigestRun, first)
    assert kept is not None and kept.recipient == "a@b.test"


def test_nothing_is_kept_when_the_transaction_rolls_back(app: Flask) -> None:
    assert run("a@b.test") is not None
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(DigestRun)) == 0
