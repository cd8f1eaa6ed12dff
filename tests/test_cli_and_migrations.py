"""The CLI of SPEC §5 and the migrations, run for real on both backends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select, text

from barometre import create_app
from barometre.extensions import db
from barometre.models import Condition, Establishment, Report, User
from tests.conftest import make_settings


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """The embedded mode runs these too."""
    return str(request.param)


@pytest.fixture
def fresh_app(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """An app whose database is empty: schema comes from the migrations only."""
    url = request.getfixturevalue("pg_empty_url") if backend == "postgresql" else ""
    app = create_app(make_settings(tmp_path, url))
    with app.app_context():
        if backend == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        yield app
        db.session.remove()
        if backend == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        db.engine.dispose()


def test_migrations_build_the_models_schema(fresh_app: Flask) -> None:
    upgrade()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []


def test_seed_is_idempotent_and_demo_gives_levels(fresh_app: Flask) -> None:
    upgrade()
    runner = fresh_app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["seed", "--demo"])
        assert result.exit_code == 0, result.output
    assert db.session.query(Condition).count() == 27
    assert db.session.query(Report).count() == 7
    levels = {e.slug: e.level.colour for e in db.session.scalars(select(Establishment))}
    assert levels == {"haren": "orange", "saint-gilles": "rouge"}


def test_users_tokens_and_recompute(fresh_app: Flask) -> None:
    upgrade()
    runner = fresh_app.test_cli_runner()
    runner.invoke(args=["seed"])
    result = runner.invoke(
        args=[
            "users",
            "create",
            "Ana@Example.org",
            "--role",
            "worker",
            "--service",
            "Nouveau",
            "--password-stdin",
        ],
        input="un-mot-de-passe-long\n",
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "ana@example.org"))
    assert user is not None and user.service is not None and user.service.name == "Nouveau"
    assert user.password_hash.startswith("$argon2")
    again = runner.invoke(args=["users", "create", "ana@example.org", "--role", "coordinator"])
    assert again.exit_code != 0 and "existe déjà" in again.output
    token = (
        runner.invoke(args=["tokens", "create", "ana@example.org"]).output.strip().splitlines()[-1]
    )
    assert token.startswith("bar_")
    response = fresh_app.test_client().get(
        "/api/v1/establishments", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    result = runner.invoke(args=["levels", "recompute"])
    assert result.exit_code == 0 and "recalculés" in result.output


@pytest.mark.parametrize("backend", ["sqlite"])
def test_flask_app_command_line_works(tmp_path: Path, backend: str) -> None:
    env = {"INSTANCE_PATH": str(tmp_path), "PATH": str(Path(sys.executable).parent)}
    flask = [sys.executable, "-m", "flask", "--app", "barometre"]
    for args in (["db", "upgrade"], ["seed", "--demo"], ["levels", "recompute"]):
        done = subprocess.run([*flask, *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "barometre.db").exists()


def test_submission_ids_become_per_author_and_lower_case(fresh_app: Flask) -> None:
    """Issue 11, item 3: the migration lowers stored ids and lets two authors share one."""
    upgrade(revision="dd75c34af1e9")
    upper = "7D5C4B2A-3E1F-4A6B-8C9D-0E1F2A3B4C5D"
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO establishment (id, slug, name, active, committee_note, colour, step,"
                " open_situations, offer_types, red_blocked, open_facts, revision)"
                " VALUES (1, 'haren', 'Haren', true, '', 'vert', 0, 0, '', false, '[]', 1)"
            )
        )
        for user_id in (1, 2):
            conn.execute(
                text(
                    "INSERT INTO user_account (id, email, name, password_hash, role, language,"
                    " active, session_version, created_at) VALUES (:id, :email, '', '', 'worker',"
                    " 'fr', true, 1, '2026-11-01')"
                ),
                {"id": user_id, "email": f"u{user_id}@example.org"},
            )
        conn.execute(
            text(
                "INSERT INTO report (establishment_id, author_id, visit_date, submitted_at,"
                " description, submission_id, review_state, review_reason)"
                " VALUES (1, 1, '2026-11-01', '2026-11-01', '', :sid, 'unreviewed', '')"
            ),
            {"sid": upper},
        )
    upgrade()
    with db.engine.begin() as conn:
        assert conn.scalar(text("SELECT submission_id FROM report")) == upper.lower()
        conn.execute(
            text(
                "INSERT INTO report (establishment_id, author_id, visit_date, submitted_at,"
                " description, submission_id, review_state, review_reason)"
                " VALUES (1, 2, '2026-11-01', '2026-11-01', '', :sid, 'unreviewed', '')"
            ),
            {"sid": upper.lower()},
        )
        assert conn.scalar(text("SELECT count(*) FROM report")) == 2


def test_the_fidex_contact_and_the_request_come_empty_and_go_back(fresh_app: Flask) -> None:
    """Issue 26: an establishment of before names no contact and asks nothing of its own
    (the settings and the default request speak); downgrading drops only those columns."""
    upgrade(revision="c9d4e6a2f175")
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO establishment (id, slug, name, active, committee_note, colour, step,"
                " open_situations, offer_types, red_blocked, open_facts, revision)"
                " VALUES (1, 'haren', 'Haren', true, 'Note', 'vert', 0, 0, '', false, '[]', 1)"
            )
        )
    upgrade()
    new = (
        "fidex_contact_name",
        "fidex_contact_email",
        "fidex_contact_phone",
        "committee_request",
        "committee_request_nl",
        "committee_request_en",
    )
    with db.engine.begin() as conn:
        row = conn.execute(text(f"SELECT {', '.join(new)} FROM establishment")).one()
        assert tuple(row) == ("",) * len(new)
        conn.execute(text("UPDATE establishment SET committee_request = 'Rouvrez les parloirs.'"))
    downgrade(revision="c9d4e6a2f175")
    columns = {c["name"] for c in inspect(db.engine).get_columns("establishment")}
    assert not columns & set(new)
    with db.engine.begin() as conn:
        assert conn.scalar(text("SELECT committee_note FROM establishment")) == "Note"
    upgrade()
