"""Rollback as a tested procedure (issue 28), with the host's PostgreSQL tools.

A database made by the first release's migration holds rows; scripts/backup.sh dumps
it; the code of today upgrades it (more tables, more constraints, a row of the new
schema); scripts/restore.sh puts the dump back into that upgraded database, and the
first release's schema and rows are found exactly. Into a missing database, the
restore creates it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask_migrate import upgrade

from barometre import create_app
from barometre.extensions import db
from tests.conftest import (
    create_pg_database,
    drop_pg_database,
    make_settings,
    pg_database_url,
    run_script,
)

FIRST_RELEASE = "32f38d19769b"  # barometre/migrations/versions/32f38d19769b_initial_schema.py

# Rows of the first release's schema, written as its code would have: the référentiel,
# a service and two accounts, an establishment raised to orange by a report, its
# situation, level change, alert event and the notification of that alert.
FIRST_RELEASE_ROWS = """
INSERT INTO category (id, code, label_fr, label_nl, label_en, position)
    VALUES (1, 'SEC', 'Sécurité', 'Veiligheid', 'Security', 1);
INSERT INTO condition (id, code, category_id, label_fr, label_nl, label_en, examples,
        keywords, position)
    VALUES (1, 'SEC-01', 1, 'Fouille', 'Fouillering', 'Search', '', '', 1);
INSERT INTO offer_type (id, code, label_fr, label_nl, label_en, position)
    VALUES (1, 'individuel', 'Individuel', 'Individueel', 'Individual', 1);
INSERT INTO member_service (id, name, alert_emails, active)
    VALUES (1, 'Service d''aide', 'alertes@service.example', true);
INSERT INTO user_account (id, email, name, password_hash, role, service_id, language,
        active, session_version, created_at)
    VALUES (1, 'worker@service.example', 'Ana', 'x', 'worker', 1, 'fr', true, 1,
            '2026-11-20 09:00'),
           (2, 'coordination@fidex.example', 'Bo', 'x', 'coordinator', NULL, 'nl', true, 1,
            '2026-11-20 09:00');
INSERT INTO establishment (id, slug, name, active, committee_note, colour, step,
        open_situations, offer_types, red_blocked, level_changed_at, open_facts, revision)
    VALUES (1, 'haren', 'Prison de Haren', true, 'Note du comité', 'orange', 1, 1,
            'individuel', false, '2026-11-21 10:00', '[{"condition": "SEC-01"}]', 2);
INSERT INTO report (id, establishment_id, author_id, service_id, visit_date, submitted_at,
        description, submission_id, review_state, review_reason)
    VALUES (1, 1, 1, 1, '2026-11-21', '2026-11-21 10:00', 'Texte libre à garder',
            '7d5c4b2a-3e1f-4a6b-8c9d-0e1f2a3b4c5d', 'unreviewed', '');
INSERT INTO report_condition (report_id, condition_id) VALUES (1, 1);
INSERT INTO report_offer_type (report_id, offer_type_id) VALUES (1, 1);
INSERT INTO situation (id, establishment_id, condition_id, status, offer_types, opened_at,
        first_visit, last_confirmed, report_count, close_note)
    VALUES (1, 1, 1, 'open', 'individuel', '2026-11-21 10:00', '2026-11-21', '2026-11-21',
            1, '');
INSERT INTO situation_report (situation_id, report_id) VALUES (1, 1);
INSERT INTO level_change (id, establishment_id, at, from_colour, from_step, to_colour,
        to_step, open_situations, offer_types, red_blocked, cause, cause_id,
        new_situation_ids)
    VALUES (1, 1, '2026-11-21 10:00', 'vert', 0, 'orange', 1, 1, 'individuel', false,
            'report', 1, '[1]');
INSERT INTO alert_event (id, establishment_id, kind, created_at, from_colour, from_step,
        to_colour, to_step, open_situations, offer_types, red_blocked, level_change_ids,
        new_situation_ids)
    VALUES (1, 1, 'rise', '2026-11-21 10:00', 'vert', 0, 'orange', 1, 1, 'individuel',
            false, '[1]', '[1]');
INSERT INTO notification (id, kind, event_id, recipient, recipient_kind, language, state,
        attempts, created_at, next_attempt_at, give_up_at, sent_at, last_error)
    VALUES (1, 'alert', 1, 'alertes@service.example', 'service', 'fr', 'sent', 1,
            '2026-11-21 10:00', '2026-11-21 10:00', '2026-11-22 10:00',
            '2026-11-21 10:01', '');
SELECT setval(pg_get_serial_sequence(table_name, 'id'), 5)
    FROM (VALUES ('report'), ('situation'), ('level_change'), ('notification')) AS t(table_name);
"""


def schema(url: str) -> str:
    """Tables, columns, constraints, indexes, sequences: pg_dump's text of the schema."""
    done = subprocess.run(
        ["pg_dump", "--schema-only", "--no-owner", f"--dbname={url}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    # Without the random key of psql's \restrict guard (pg_dump since 15.14 / 17.6).
    return "".join(
        line for line in done.stdout.splitlines(keepends=True) if not line.startswith("\\")
    )


def contents(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sequences' positions too."""
    with psycopg.connect(url) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        found = {
            table: sorted(conn.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)
            for table in tables
        }
        found["sequences"] = conn.execute(
            "SELECT sequencename, last_value FROM pg_sequences ORDER BY 1"
        ).fetchall()
    return found


def migrate(url: str, folder: Path, revision: str = "head") -> None:
    """The migrations of today's code, as `flask --app barometre db upgrade` runs them."""
    application = create_app(make_settings(folder, url))
    with application.app_context():
        upgrade(revision=revision)
        db.session.remove()
        db.engine.dispose()


def database_exists(url: str) -> bool:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres") as conn:
        return (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            is not None
        )


@pytest.fixture
def first_release(tmp_path: Path) -> Iterator[str]:
    """A database as the first release left it: its migration, its rows."""
    url = create_pg_database("rollback")
    migrate(url, tmp_path, FIRST_RELEASE)
    with psycopg.connect(url) as conn:
        conn.execute(FIRST_RELEASE_ROWS)
    yield url
    drop_pg_database(url)


@pytest.fixture
def first_release_dump(first_release: str, tmp_path: Path) -> Path:
    backup = run_script("backup.sh", str(tmp_path / "backups"), BACKUP_DATABASE_URL=first_release)
    assert backup.returncode == 0, backup.stderr
    return Path(backup.stdout.strip().splitlines()[-1])


def test_rollback_restores_the_first_releases_schema_and_rows_into_the_upgraded_database(
    first_release: str, first_release_dump: Path, tmp_path: Path
) -> None:
    before_schema, before_rows = schema(first_release), contents(first_release)
    assert before_rows["alembic_version"] == [(FIRST_RELEASE,)]
    assert len(before_rows["notification"]) == 1 and len(before_rows["report"]) == 1

    migrate(first_release, tmp_path)  # the upgrade: every migration since
    with psycopg.connect(first_release) as conn:
        conn.execute(
            "INSERT INTO follower (establishment_id, email, language, alerts, red_only, digest,"
            " confirmed_at) VALUES (1, 'suiveur@example.org', 'fr', true, false, true, now())"
        )
        conn.execute("UPDATE notification SET user_id = 2")
        conn.execute("UPDATE establishment SET colour = 'rouge', step = 2")
    upgraded = schema(first_release)
    assert upgraded != before_schema and "fk_notification_user_id_user_account" in upgraded

    restore = run_script("restore.sh", str(first_release_dump), RESTORE_DATABASE_URL=first_release)
    assert restore.returncode == 0, restore.stderr

    assert schema(first_release) == before_schema
    assert contents(first_release) == before_rows
    # The upgraded database is kept beside it, named in the script's last words.
    kept = restore.stderr.split("is kept as ")[1].split()[0]
    with psycopg.connect(first_release.rsplit("/", 1)[0] + f"/{kept}") as conn:
        assert conn.execute("SELECT email FROM follower").fetchall() == [("suiveur@example.org",)]

    # And the release of today upgrades the restored database again.
    migrate(first_release, tmp_path)


def test_a_restore_into_a_missing_database_creates_it(
    first_release: str, first_release_dump: Path
) -> None:
    missing = pg_database_url("missing")
    drop_pg_database(missing)
    assert not database_exists(missing)
    try:
        restore = run_script("restore.sh", str(first_release_dump), RESTORE_DATABASE_URL=missing)
        assert restore.returncode == 0, restore.stderr
        assert "does not exist: it will be created" in restore.stderr
        assert schema(missing) == schema(first_release)
        assert contents(missing) == contents(first_release)
    finally:
        drop_pg_database(missing)


def test_a_restore_that_fails_half_way_leaves_the_upgraded_database_as_it_was(
    first_release: str, tmp_path: Path
) -> None:
    """pg_restore stops on the dump's last step (a grant to a role gone since): the
    database it was restoring is dropped, the upgraded one is untouched."""
    role = first_release.rsplit("/", 1)[1] + "_gone"
    with psycopg.connect(first_release, autocommit=True) as conn:
        conn.execute(f'DROP ROLE IF EXISTS "{role}"')
        conn.execute(f'CREATE ROLE "{role}"')
        conn.execute(f'GRANT SELECT ON report TO "{role}"')
    backup = run_script("backup.sh", str(tmp_path / "backups"), BACKUP_DATABASE_URL=first_release)
    assert backup.returncode == 0, backup.stderr
    with psycopg.connect(first_release, autocommit=True) as conn:
        conn.execute(f'REVOKE ALL ON report FROM "{role}"')
        conn.execute(f'DROP ROLE "{role}"')
    migrate(first_release, tmp_path)
    upgraded_schema, upgraded_rows = schema(first_release), contents(first_release)

    dump = backup.stdout.strip().splitlines()[-1]
    restore = run_script("restore.sh", dump, RESTORE_DATABASE_URL=first_release)
    assert restore.returncode != 0
    assert f'role "{role}" does not exist' in restore.stderr
    assert "FAILED:" in restore.stderr and "left as it was" in restore.stderr
    assert schema(first_release) == upgraded_schema
    assert contents(first_release) == upgraded_rows
    name = first_release.rsplit("/", 1)[1]
    with psycopg.connect(first_release) as conn:
        left = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (f"{name}\\_%",)
        ).fetchall()
    assert left == []
