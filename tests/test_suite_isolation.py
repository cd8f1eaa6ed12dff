"""The suite's own promise: a test leaves nothing behind for the next one."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from barometre.extensions import db
from barometre.models import Condition, Establishment, MemberService
from tests.conftest import _committing_app, _rolled_back_app


def test_what_a_rolled_back_test_wrote_does_not_outlive_it(
    request: pytest.FixtureRequest, pg_url: str
) -> None:
    """Its rows and its files (exports and an import's upload folder left in the shared app's
    instance folder once made the retention test count ten files instead of two)."""
    first = _rolled_back_app(request, pg_url, {})
    app = next(first)
    instance = Path(app.config["SETTINGS"].instance_path)
    leftover = instance / "exports" / "reports-1-leftover.csv"
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_text("N°;Description\n", encoding="utf-8")
    upload = instance / "imports" / "17" / "reports.csv"  # an import job's folder
    upload.parent.mkdir(parents=True)
    upload.write_text("N°;Description\n", encoding="utf-8")
    db.session.add(MemberService(name="Service laissé"))
    db.session.commit()
    with pytest.raises(StopIteration):
        next(first)

    second = _rolled_back_app(request, pg_url, {})
    assert next(second) is app  # the same shared app, built once
    assert not leftover.exists() and leftover.parent.is_dir()
    assert not upload.parent.exists() and upload.parent.parent.is_dir()
    assert db.session.query(MemberService).filter_by(name="Service laissé").count() == 0
    with pytest.raises(StopIteration):
        next(second)


def referentiel() -> list[tuple[str, int, str]]:
    rows = [("establishment", e.id, e.slug) for e in db.session.scalars(select(Establishment))]
    rows += [("condition", c.id, c.code) for c in db.session.scalars(select(Condition))]
    return sorted(rows)


def test_what_a_committing_test_committed_goes_and_the_referentiel_keeps_its_ids(
    request: pytest.FixtureRequest, pg_url: str, tmp_path: Path
) -> None:
    first = _committing_app(pg_url, tmp_path / "first", {})
    next(first)
    before = referentiel()
    assert before
    db.session.add(MemberService(name="Service engagé"))
    db.session.add(Establishment(name="Prison ajoutée", slug="prison-ajoutee"))
    db.session.commit()
    with pytest.raises(StopIteration):
        next(first)

    second = _committing_app(pg_url, tmp_path / "second", {})
    next(second)
    assert db.session.query(MemberService).filter_by(name="Service engagé").count() == 0
    assert referentiel() == before  # seeded again with the same ids: no id depends on order
    added = Establishment(name="Prison ajoutée", slug="prison-ajoutee")
    db.session.add(added)
    db.session.commit()
    assert added.id == max(i for kind, i, _ in before if kind == "establishment") + 1
    with pytest.raises(StopIteration):
        next(second)
