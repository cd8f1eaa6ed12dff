"""Fixtures on real parts: a real PostgreSQL database, SQLite files for the embedded mode.

PostgreSQL is the suite's database: its schema and référentiel are built once a
session (per xdist worker), every test runs in a transaction rolled back at its
end (the app's session joins it with savepoints), on an app built once per set
of settings. A test whose work must be seen by another connection, thread or
process, or that changes the app itself, is marked `committing`: it gets an app
of its own, commits for real and the tables are emptied after it. A test that is
not marked yet opens a second connection or uses the session from another thread
fails and says so.

SQLite runs the embedded mode's own tests (modules parametrize `backend` with
`SQLITE` or `BOTH`): each gets a copy of a database file built once a session.
PostgreSQL is required: a missing server fails the run, it is never skipped.
Passwords are hashed with argon2 at a cheap cost, except in tests marked
`argon2_full_cost`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from argon2 import PasswordHasher
from flask import Flask, current_app
from flask.testing import FlaskClient
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from barometre import auth, clock, create_app, user_sessions
from barometre.auth import create_token, hash_password
from barometre.extensions import db
from barometre.models import ROLE_COORDINATOR, ROLE_WORKER, MemberService, User
from barometre.seed import seed_referentiel
from barometre.services import ImpactedCondition, ReportInput, record_report
from barometre.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PASSWORD = "mot-de-passe-solide"
BREAKABLE_SPACES = re.compile(r"[^\S\xa0]+")


def one_line(text: str) -> str:
    """`text` on one line: each run of spaces and line breaks one space, French
    typography's no-break spaces (before « : ; ? ! », inside « ») kept."""
    return BREAKABLE_SPACES.sub(" ", text).strip()


# `pytestmark = SQLITE` (the embedded mode only) or `BOTH` (its rules on either database).
SQLITE = pytest.mark.parametrize("backend", ["sqlite"])
BOTH = pytest.mark.parametrize("backend", ["sqlite", "postgresql"])

CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
# Markers under which a test commits for real (they start threads, processes or servers).
COMMITTING_MARKERS = ("committing", "integration", "browser")


def pytest_configure(config: pytest.Config) -> None:
    auth.hasher = CHEAP_HASHER
    db.session.session_factory.class_ = JoiningSession


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first (marked `slow`), then those that wait (on a browser, a
    worker process, a commit): xdist deals the first quarter of the tests in turn, one
    each, so the long ones start at once on every process and none is left to run last,
    alone, while the others are done. (Handing out every test one at a time,
    `--maxschedchunk 1`, cost more CPU for no shorter run: 540 s against 528 s.)"""
    order = {"slow": 0, "browser": 1, "integration": 1, "committing": 2}
    items.sort(
        key=lambda item: min(
            (order[m.name] for m in item.iter_markers() if m.name in order), default=3
        )
    )


@pytest.fixture(autouse=True)
def _password_cost(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("argon2_full_cost"):
        auth.hasher = PasswordHasher()
        yield
        auth.hasher = CHEAP_HASHER
    else:
        yield


# --- PostgreSQL databases --------------------------------------------------------


def pg_database_url(kind: str) -> str:
    """The address of a database of this test process's own (xdist worker and pid in
    its name), not created."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/barometre_{kind}_{worker}_{os.getpid()}"


def create_pg_database(kind: str) -> str:
    url = pg_database_url(kind)
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url


def drop_pg_database(url: str) -> None:
    """Drop the database and the copies scripts/restore.sh made beside it
    (NAME_restore_<time>, NAME_before_restore_<time>)."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        copies = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s OR datname LIKE %s",
            (f"{name}\\_restore\\_%", f"{name}\\_before\\_restore\\_%"),
        ).fetchall()
        for (copy,) in copies:
            conn.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_script(script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """One of scripts/ run for real, with these environment variables added."""
    return subprocess.run(
        [str(ROOT / "scripts" / script), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The suite's database: schema and référentiel built once, kept between tests."""
    global RESTART_SEQUENCES, EMPTY_SEQUENCES
    url = create_pg_database("test")
    with _seeded(tmp_path_factory.mktemp("pg-schema"), url) as conn:
        RESTART_SEQUENCES, EMPTY_SEQUENCES = _restart_sequences(conn)
    yield url
    drop_pg_database(url)


# One statement that puts every sequence back where the référentiel left it: sequences
# ignore rollbacks, and a test's ids must not depend on the tests before it. And one that
# puts them back at their start, for the référentiel seeded again into emptied tables.
RESTART_SEQUENCES = EMPTY_SEQUENCES = ""


def _restart_sequences(conn: Connection) -> tuple[str, str]:
    rows = conn.execute(
        text("SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'")
    ).all()
    calls = [
        f"setval('public.\"{name}\"', {value or 1}, {'true' if value else 'false'})"
        for name, value in rows
    ]
    starts = [f"setval('public.\"{name}\"', 1, false)" for name, _ in rows]
    return "SELECT " + ", ".join(calls), "SELECT " + ", ".join(starts)


@pytest.fixture(scope="session")
def pg_empty_url() -> Iterator[str]:
    """A database of its own for tests that drop and rebuild the schema (migrations)."""
    url = create_pg_database("scratch")
    yield url
    drop_pg_database(url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with the schema and référentiel, copied for each test."""
    folder = tmp_path_factory.mktemp("sqlite-schema")
    with _seeded(folder) as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return folder / "instance" / "barometre.db"


@contextmanager
def _seeded(folder: Path, url: str = "") -> Iterator[Connection]:
    """Build the schema and commit the référentiel; a connection to that database."""
    application = create_app(make_settings(folder, url))
    with application.app_context():
        db.create_all()
        seed_referentiel(db.session)
        db.session.commit()
        db.session.remove()
        with db.engine.connect() as conn:
            yield conn
        db.engine.dispose()


@pytest.fixture
def backend() -> str:
    """The database of a test: PostgreSQL unless its module parametrizes `backend`."""
    return "postgresql"


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


def committing(request: pytest.FixtureRequest) -> bool:
    return any(request.node.get_closest_marker(name) for name in COMMITTING_MARKERS)


@pytest.fixture
def app(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, settings_overrides: dict[str, Any]
) -> Iterator[Flask]:
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        yield from _sqlite_app(template, tmp_path, settings_overrides)
    elif committing(request):
        yield from _committing_app(request.getfixturevalue("pg_url"), tmp_path, settings_overrides)
    else:
        yield from _rolled_back_app(request, request.getfixturevalue("pg_url"), settings_overrides)


def _test_app(tmp_path: Path, url: str, overrides: dict[str, Any]) -> Flask:
    application = create_app(make_settings(tmp_path, url, **overrides))
    application.config["WTF_CSRF_ENABLED"] = False
    return application


def _sqlite_app(template: Path, tmp_path: Path, overrides: dict[str, Any]) -> Iterator[Flask]:
    (tmp_path / "instance").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, tmp_path / "instance" / "barometre.db")
    application = _test_app(tmp_path, "", overrides)
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


def _committing_app(url: str, tmp_path: Path, overrides: dict[str, Any]) -> Iterator[Flask]:
    application = _test_app(tmp_path, url, overrides)
    with application.app_context():
        try:
            yield application
        finally:
            db.session.remove()
            reset_tables()
            db.engine.dispose()
            # A committing test may end the database's other connections (test_db_pool):
            # the shared apps open fresh ones.
            for shared in _APPS.values():
                with shared.app_context():
                    db.engine.dispose()


def reset_tables(attempts: int = 5) -> None:
    """Empty every table and seed the référentiel again, as the session built them.

    A worker process of an integration test may still be finishing a transaction on
    these tables: PostgreSQL then breaks the deadlock by aborting one side; when it is
    ours, try again (the worker's side has gone on). DELETE, not TRUNCATE: on tables this
    small it is eight times faster (TRUNCATE makes new files for every table)."""
    for attempt in range(attempts):
        try:
            with db.engine.begin() as conn:
                for table in reversed(db.metadata.sorted_tables):
                    conn.execute(table.delete())
                conn.exec_driver_sql(EMPTY_SEQUENCES)
            break
        except OperationalError as error:
            if getattr(error.orig, "sqlstate", None) != "40P01" or attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    seed_referentiel(db.session)
    db.session.commit()
    db.session.remove()


# --- one transaction a test, rolled back ---------------------------------------------

_APPS: OrderedDict[str, Flask] = OrderedDict()
APPS_KEPT = 4


def _shared_app(url: str, overrides: dict[str, Any], factory: pytest.TempPathFactory) -> Flask:
    """One app per set of settings, built once (a few kept, least recently used out)."""
    key = repr(sorted(overrides.items()))
    if key in _APPS:
        _APPS.move_to_end(key)
    else:
        _APPS[key] = _test_app(factory.mktemp("app"), url, overrides)
        while len(_APPS) > APPS_KEPT:
            _, old = _APPS.popitem(last=False)
            with old.app_context():
                db.engine.dispose()
    return _APPS[key]


class Guard:
    """What a rolled-back test must not do: the rollback would hide its effect."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.thread = threading.get_ident()
        self.seen: list[str] = []
        event.listen(engine, "checkout", self.on_checkout)

    def on_checkout(self, *_: Any) -> None:
        self.refuse("opened a second database connection")

    def on_session(self) -> None:
        if threading.get_ident() != self.thread:
            self.refuse("used the database from another thread")

    def refuse(self, what: str) -> None:
        # Raised, not only noted: the second connection would wait for the test's locks.
        self.seen.append(what)
        raise NotRolledBack(f"this test {what}: mark it `committing`")

    def stop(self) -> None:
        event.remove(self.engine, "checkout", self.on_checkout)


GUARD: Guard | None = None


class NotRolledBack(RuntimeError):
    """A rolled-back test did what only a committing test may do."""


class JoiningSession(FlaskSession):
    """Flask-SQLAlchemy's session, joining the test's connection when one is configured
    (Flask-SQLAlchemy picks an engine by bind key and ignores a session's own bind)."""

    def __init__(self, db: Any, **kwargs: Any) -> None:
        super().__init__(db, **kwargs)
        if GUARD is not None and self.bind is not None:
            GUARD.on_session()

    def get_bind(
        self, mapper: Any = None, clause: Any = None, bind: Any = None, **kwargs: Any
    ) -> Any:
        if bind is None and isinstance(self.bind, Connection):
            return self.bind
        return super().get_bind(mapper, clause=clause, bind=bind, **kwargs)


def _rolled_back_app(
    request: pytest.FixtureRequest, url: str, overrides: dict[str, Any]
) -> Iterator[Flask]:
    global GUARD
    application = _shared_app(url, overrides, request.getfixturevalue("tmp_path_factory"))
    factory = db.session.session_factory
    config, extensions = dict(application.config), set(application.extensions)
    with application.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        factory.configure(bind=connection, join_transaction_mode="create_savepoint")
        GUARD = Guard(db.engine)
        try:
            yield application
        finally:
            GUARD.stop()
            seen, GUARD = GUARD.seen, None
            db.session.remove()
            factory.configure(bind=None, join_transaction_mode="conditional_savepoint")
            outer.rollback()
            connection.exec_driver_sql(RESTART_SEQUENCES)
            connection.commit()
            connection.close()
            # What a test changed or added on the shared app (its caches are keyed on
            # rows that were rolled back) does not outlive it.
            application.config.clear()
            application.config.update(config)
            for key in set(application.extensions) - extensions:
                del application.extensions[key]
            forget_files(Path(application.config["SETTINGS"].instance_path))
    if seen:
        pytest.fail(
            f"this test {seen[0]}: mark it `committing` (its work must be committed to be seen)",
            pytrace=False,
        )


def forget_files(instance: Path) -> None:
    """What a rolled-back test wrote in the shared app's instance folder (outbox, exports,
    an import's upload folder) goes with its rows; the instance's own folders stay."""
    for path in instance.glob("*/*"):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    for path in instance.glob("*"):
        if not path.is_dir():
            path.unlink()


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


def login(client: FlaskClient, user: User, secret: str | None = None) -> str:
    """Sign a test client in as `user`: a session row (committed) and a real Flask-Login
    session cookie carrying its random value, which it returns. `secret`: the value of a
    session started before, signed in again without a new row."""
    if secret is None:
        secret = user_sessions.start(db.session, user, "Werkzeug test client", "127.0.0.1").secret
        db.session.commit()
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
        session[user_sessions.SESSION_KEY] = secret
    return secret
