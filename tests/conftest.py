"""Fixtures on real parts: SQLite files and a real PostgreSQL database.

Every test that uses `app` runs on both backends unless its module narrows
`backend`. PostgreSQL is required: a missing server fails the run, it is never
skipped (`make test` starts it).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from flask import Flask, current_app
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from barometre import clock, create_app
from barometre.auth import create_token, hash_password
from barometre.extensions import db
from barometre.models import ROLE_COORDINATOR, ROLE_WORKER, MemberService, User
from barometre.seed import seed_referentiel
from barometre.services import ImpactedCondition, ReportInput, record_report
from barometre.settings import Settings

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PASSWORD = "mot-de-passe-solide"


def _pg_database_url() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"barometre_test_{worker}_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    url = _pg_database_url()
    yield url
    _drop_pg_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_settings(tmp_path: Any, database_url: str = "", **overrides: Any) -> Settings:
    return Settings(
        testing=True,
        secret_key="test-secret-key-" + "x" * 32,
        instance_path=str(tmp_path / "instance"),
        database_url=database_url,
        **overrides,
    )


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a module or test to change settings of `app`."""
    return {}


@pytest.fixture
def app(
    backend: str, tmp_path: Any, request: pytest.FixtureRequest, settings_overrides: dict[str, Any]
) -> Iterator[Flask]:
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else ""
    application = create_app(make_settings(tmp_path, url, **settings_overrides))
    application.config["WTF_CSRF_ENABLED"] = False
    with application.app_context():
        db.create_all()
        seed_referentiel(db.session)
        db.session.commit()
        yield application
        db.session.remove()
        if backend == "postgresql":
            empty_tables()
        db.engine.dispose()


def empty_tables(attempts: int = 5) -> None:
    """Empty every table for the next test. A worker process of an integration test may
    still be finishing a transaction on these tables: PostgreSQL then breaks the deadlock
    by aborting one side; when it is ours, try again (the worker's side has gone on)."""
    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    for attempt in range(attempts):
        try:
            with db.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            return
        except OperationalError as error:
            if getattr(error.orig, "sqlstate", None) != "40P01" or attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def make_user(
    role: str = ROLE_WORKER, email: str | None = None, service: str = "Service A"
) -> User:
    member = db.session.query(MemberService).filter_by(name=service).one_or_none()
    if member is None:
        member = MemberService(name=service, alert_emails=f"alertes@{uuid.uuid4().hex[:6]}.test")
        db.session.add(member)
    user = User(
        email=email or f"{role}-{uuid.uuid4().hex[:8]}@example.org",
        role=role,
        service=member if role == ROLE_WORKER else None,
        password_hash=hash_password(PASSWORD),
        name="Camille Exemple",
    )
    db.session.add(user)
    db.session.commit()
    return user


@pytest.fixture
def worker(app: Flask) -> User:
    return make_user(ROLE_WORKER)


@pytest.fixture
def coordinator(app: Flask) -> User:
    return make_user(ROLE_COORDINATOR)


def bearer(user: User) -> dict[str, str]:
    token = create_token(db.session, user, "test")
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def report_input(
    establishment: str = "haren",
    conditions: tuple[str, ...] = ("SEC-01",),
    offer_types: tuple[str, ...] = ("individuel",),
    days_ago: int = 0,
    per_condition: dict[str, tuple[str, ...]] | None = None,
    **extra: Any,
) -> ReportInput:
    """The old shape (codes + offer types for all), or `per_condition` {code: types}."""
    if per_condition is not None:
        return ReportInput(
            establishment=establishment,
            visit_date=clock.today() - timedelta(days=days_ago),
            conditions=[ImpactedCondition(c, list(t)) for c, t in per_condition.items()],
            **extra,
        )
    return ReportInput.uniform(
        establishment=establishment,
        visit_date=clock.today() - timedelta(days=days_ago),
        conditions=list(conditions),
        offer_types=list(offer_types),
        **extra,
    )


def file_report(author: User | None = None, **kwargs: Any) -> Any:
    outcome = record_report(
        db.session, report_input(**kwargs), author, current_app.config["SETTINGS"]
    )
    db.session.commit()
    return outcome


def login(client: FlaskClient, user: User) -> None:
    """Sign a test client in as `user` (a real Flask-Login session cookie)."""
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
