"""scripts/backup.sh and scripts/restore.sh, for real: the host's pg_dump and pg_restore.

A populated database (levels raised and lowered, their history, the alert
notifications) is dumped by the backup script, restored by the restore script into
a fresh empty database, and read back: the same rows, table by table.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask, current_app
from flask.testing import FlaskClient

from barometre.extensions import db
from barometre.services import record_report
from tests.conftest import bearer, create_pg_database, drop_pg_database, report_input, run_script

from .conftest import notifications

# What a restore must give back: levels, their history and the notifications.
TABLES = ["establishment", "situation", "level_change", "report", "alert_event", "notification"]


@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"alert_group_wait": 0}  # notifications at once, not after the group wait


@pytest.fixture
def empty_database() -> Iterator[str]:
    url = create_pg_database("restore")
    yield url
    drop_pg_database(url)


def rows(url: str, table: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return list(conn.execute(f'SELECT * FROM "{table}" ORDER BY id'))


@pytest.mark.committing
def test_a_backup_restored_into_an_empty_database_gives_back_levels_history_and_notifications(
    app: Flask,
    client: FlaskClient,
    people: dict[str, Any],
    pg_url: str,
    empty_database: str,
    tmp_path: Path,
) -> None:
    settings = current_app.config["SETTINGS"]
    headers = bearer(people["worker"])
    for codes in (["SEC-01"], ["ACC-01", "ACC-02"]):
        body = {
            "establishment": "haren",
            "visit_date": report_input().visit_date.isoformat(),
            "conditions": codes,
            "offer_types": ["individuel"],
            "description": "Texte libre à garder",
        }
        assert client.post("/api/v1/reports", json=body, headers=headers).status_code == 201
    record_report(db.session, report_input("saint-gilles"), people["worker"], settings)
    db.session.commit()
    db.session.remove()
    before = {table: rows(pg_url, table) for table in TABLES}
    assert len(before["level_change"]) >= 3 and len(before["notification"]) >= 5
    assert len(notifications()) == len(before["notification"])  # something to lose
    assert any(row for row in before["establishment"])

    backup = run_script("backup.sh", str(tmp_path / "backups"), BACKUP_DATABASE_URL=pg_url)
    assert backup.returncode == 0, backup.stderr
    dump = Path(backup.stdout.strip().splitlines()[-1])
    assert dump.exists() and dump.stat().st_size > 0
    assert oct(dump.stat().st_mode)[-3:] == "600"  # report text: readable by its owner only

    with psycopg.connect(empty_database) as conn:
        assert list(conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")) == [
            (0,)
        ]
    restore = run_script("restore.sh", str(dump), RESTORE_DATABASE_URL=empty_database)
    assert restore.returncode == 0, restore.stderr

    after = {table: rows(empty_database, table) for table in TABLES}
    assert after == before
    # The sequences came back too: the next row does not collide with a restored one.
    with psycopg.connect(empty_database) as conn:
        next_id = conn.execute("SELECT nextval('level_change_id_seq')").fetchone()
    assert next_id is not None and next_id[0] > max(row[0] for row in before["level_change"])


def test_restore_refuses_a_missing_dump(tmp_path: Path, empty_database: str) -> None:
    result = run_script(
        "restore.sh", str(tmp_path / "nothing.dump"), RESTORE_DATABASE_URL=empty_database
    )
    assert result.returncode != 0 and "missing or empty" in result.stderr


def test_a_failed_restore_leaves_the_database_as_it_was(
    tmp_path: Path, empty_database: str
) -> None:
    with psycopg.connect(empty_database) as conn:
        conn.execute("CREATE TABLE kept (id integer PRIMARY KEY)")
        conn.execute("INSERT INTO kept VALUES (1)")
    broken = tmp_path / "broken.dump"
    broken.write_bytes(b"PGDMP not really a dump")
    result = run_script("restore.sh", str(broken), RESTORE_DATABASE_URL=empty_database)
    assert result.returncode != 0
    with psycopg.connect(empty_database) as conn:
        assert list(conn.execute("SELECT id FROM kept")) == [(1,)]
