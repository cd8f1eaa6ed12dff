"""The committee's history in at any time (issue 27): an archive imported after live
reports began changes nothing at or after each establishment's first live record.

Live: Haren and Saint-Gilles report from 1 December 2026 (emails go out). Then the
committee imports its 2025 archive (tests/data, the files of test_history_import):
the levels, situations, level changes, reports and emails of the live period are the
same, row for row, before and after; the archive is there before them, its situations
still open on 1 December ending there (« fin de l'historique importé »).
"""

from __future__ import annotations

import csv
import html
import io
import itertools
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import select

from alerts.models import AlertEvent, AlertGroup, Notification
from barometre import clock
from barometre.console import exports
from barometre.console.models import Export
from barometre.extensions import db
from barometre.models import (
    Contact,
    Establishment,
    LevelChange,
    MemberService,
    Report,
    Situation,
    User,
)
from barometre.recompute import CAUSE_HISTORY_END
from barometre.states import SituationState
from tests.conftest import BOTH, file_report, login
from tests.test_history_import import REPORTS, full_import, run

LIVE = ["Establishment", "Situation", "LevelChange", "Report", "Notification", "AlertEvent"]
LEVEL_COLUMNS = (
    "colour",
    "step",
    "open_situations",
    "offer_types",
    "red_blocked",
    "open_facts",
    "level_changed_at",
)
FIRST_LIVE = date(2026, 12, 1)
pytestmark = pytest.mark.committing  # the live reports' emails are written after commit


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"alert_group_wait": 0}  # the live emails go at once (to the outbox)


@pytest.fixture
def live(app: Flask, worker: User) -> Iterator[None]:
    """A month of live reports: Haren from 1 December, Saint-Gilles from 3 December."""
    db.session.add(MemberService(name="Service d'aide aux justiciables"))
    for slug in ("haren", "saint-gilles"):
        found = db.session.scalar(select(Establishment).where(Establishment.slug == slug))
        db.session.add(Contact(establishment=found, email=f"direction@{slug}.test"))
    db.session.commit()
    with freeze_time("2026-12-01 10:00:00"):
        file_report(worker, conditions=("SEC-01", "ACC-01"), offer_types=("individuel",))
    with freeze_time("2026-12-03 10:00:00"):
        file_report(worker, establishment="saint-gilles", conditions=("OFF-02",))
        file_report(worker, conditions=("SEC-01",), offer_types=("collectif",))
    with freeze_time("2026-12-06 10:00:00"):
        yield


def rows(model: Any) -> dict[int, tuple[Any, ...]]:
    columns = model.__table__.columns
    if model is Establishment:
        columns = [c for c in columns if c.name in ("id", *LEVEL_COLUMNS)]
    query = select(*columns)
    return {row[0]: tuple(row) for row in db.session.execute(query)}


def live_state() -> dict[str, dict[int, tuple[Any, ...]]]:
    db.session.expire_all()
    models = (Establishment, Situation, LevelChange, Report, Notification, AlertEvent, AlertGroup)
    return {model.__name__: rows(model) for model in models}


@BOTH
def test_an_archive_after_live_reports_changes_nothing_from_the_first_live_record(
    live: None,
) -> None:
    before = live_state()
    assert before["Notification"], "the live reports sent emails"
    result = full_import()
    assert result.exit_code == 0, result.output
    after = live_state()
    for name, kept in before.items():
        assert {i: after[name][i] for i in kept} == kept, name
    # Nothing new at or after the first live record: no email, no alert, no change.
    for name in ("Notification", "AlertEvent", "AlertGroup"):
        assert after[name].keys() == before[name].keys(), name
    start = clock.local_moment(FIRST_LIVE, 0)
    new_changes = db.session.scalars(
        select(LevelChange).where(LevelChange.id.not_in(before["LevelChange"]))
    ).all()
    assert new_changes and all(c.at <= start for c in new_changes)
    assert {c.cause for c in new_changes} <= {"import", CAUSE_HISTORY_END}


def recent_archive(folder: Any) -> str:
    """Haren in November 2026: two situations still open on 1 December, one resolved."""
    header = REPORTS.read_text(encoding="utf-8-sig").splitlines()[0]
    lines = [
        header,
        "N-1;haren;20/11/2026;SEC-02;collectif;;;;;",
        "N-2;haren;25/11/2026;ACC-02;individuel+collectif;;;;;",
        "N-3;haren;26/11/2026;OFF-01;cellulaire;;;;;",
    ]
    path = folder / "november.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    return str(path)


@BOTH
def test_archive_situations_open_at_the_first_live_record_end_there(
    live: None, tmp_path: Any
) -> None:
    before = live_state()
    result = run(recent_archive(tmp_path))
    assert result.exit_code == 0, result.output
    after = live_state()
    for name, kept in before.items():
        assert {i: after[name][i] for i in kept} == kept, name
    archive = db.session.scalars(
        select(Situation).where(Situation.id.not_in(before["Situation"]))
    ).all()
    assert len(archive) == 3
    assert {s.status for s in archive} == {SituationState.HISTORY_END}
    start = clock.local_moment(FIRST_LIVE, 0)
    assert all(s.closed_at == start for s in archive)
    [join] = db.session.scalars(
        select(LevelChange).where(LevelChange.cause == CAUSE_HISTORY_END)
    ).all()
    assert join.at == start and (join.to_colour, join.to_step) == ("vert", 0)
    assert (join.from_colour, join.from_step) == ("orange", 3)
    assert sorted(join.closed_situation_ids or []) == sorted(s.id for s in archive)


def test_the_archive_joins_the_live_level_at_the_first_live_record(live: None) -> None:
    assert full_import().exit_code == 0
    for slug in ("haren", "saint-gilles"):
        establishment = db.session.scalar(select(Establishment).where(Establishment.slug == slug))
        assert establishment is not None
        changes = db.session.scalars(
            select(LevelChange)
            .where(LevelChange.establishment_id == establishment.id)
            .order_by(LevelChange.at, LevelChange.id)
        ).all()
        # Each change starts where the one before ended: the archive, the join, the live.
        for previous, change in itertools.pairwise(changes):
            assert (change.from_colour, change.from_step) == (
                previous.to_colour,
                previous.to_step,
            ), (slug, change.cause, change.at)
        assert (changes[-1].to_colour, changes[-1].to_step) == (
            establishment.colour,
            establishment.step,
        )


def test_an_archive_reaching_the_first_live_record_is_refused(live: None, tmp_path: Any) -> None:
    text = REPORTS.read_text(encoding="utf-8-sig")
    late = tmp_path / "late.csv"
    late.write_bytes(
        (text.splitlines()[0] + "\r\nX-1;haren;01/12/2026;SEC-02;individuel;;;;;\r\n").encode()
    )
    before = live_state()
    result = run(str(late))
    assert result.exit_code != 0
    assert "ne précède pas le premier enregistrement en direct" in result.output
    assert live_state() == before


def test_an_establishment_with_archive_and_live_records_takes_no_more_archive(
    live: None, tmp_path: Any
) -> None:
    assert full_import().exit_code == 0
    text = REPORTS.read_text(encoding="utf-8-sig")
    more = tmp_path / "more.csv"
    more.write_bytes(
        (text.splitlines()[0] + "\r\nX-2;haren;01/06/2026;SEC-02;individuel;;;;;\r\n").encode()
    )
    result = run(str(more))
    assert result.exit_code != 0
    assert "rejoint déjà ses enregistrements en direct" in result.output
    assert full_import().exit_code == 0  # the same files again: known, nothing new


def test_the_page_shows_the_archive_and_where_it_ends(
    live: None, client: FlaskClient, coordinator: User, tmp_path: Any
) -> None:
    assert run(recent_archive(tmp_path)).exit_code == 0
    login(client, coordinator)
    page = html.unescape(client.get("/etablissements/haren").get_data(as_text=True))
    assert "Fin de l'historique importé" in page
    assert "Import de l'historique du comité" in page


def test_the_console_home_says_to_import_the_history_first_until_a_live_report(
    client: FlaskClient, coordinator: User, worker: User
) -> None:
    login(client, coordinator)
    page = html.unescape(client.get("/coordination/").get_data(as_text=True))
    assert "importez d'abord son historique" in page
    assert 'href="/coordination/import"' in page
    file_report(worker)
    page = html.unescape(client.get("/coordination/").get_data(as_text=True))
    assert "importez d'abord son historique" not in page


def test_the_reports_export_marks_the_imported_history(
    live: None, tmp_path: Any, coordinator: User
) -> None:
    assert run(recent_archive(tmp_path)).exit_code == 0
    export = Export(kind="reports", format="csv", created_by_id=coordinator.id)
    db.session.add(export)
    db.session.commit()
    exports.run_export(export.id)
    db.session.refresh(export)
    assert export.state == "done"
    text = Path(export.file_path).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    column = rows[0].index("Référence d'import")
    assert sorted(r[column] for r in rows[1:]) == ["", "", "", "N-1", "N-2", "N-3"]
