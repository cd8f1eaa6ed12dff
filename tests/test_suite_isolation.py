"""The suite's own promise: a rolled-back test leaves nothing behind for the next one."""

from __future__ import annotations

from pathlib import Path

import pytest

from barometre.extensions import db
from barometre.models import MemberService
from tests.conftest import _rolled_back_app


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
