"""Every route with every method a link scanner, a prefetcher or a stray client sends:
GET, HEAD, OPTIONS, PUT, PATCH and DELETE change nothing and never answer 5xx, and
HEAD answers what GET answers.

Only POST may change anything (RFC 9110 §9.2.1 safe methods; RFC 8058 for one-click
links). The routes are read from `app.url_map`, so a route added or renamed later is
walked without editing this file; each path variable is filled with real values
(ids of seeded rows, slugs, and every kind of signed token the app makes, so that
the view's own code runs, not only its 404). After each request the rows of every
table are compared with those before it, on SQLite and PostgreSQL.

The sample: in `make test`, every route × method × path value once, as a coordinator
(the most code reached), CSRF off and on in turn; `make fuzz` (FUZZ_CASES set) walks
each of them as every role (anonymous, worker, coordinator) × CSRF off and on.
Every failure is collected and reported at once, each naming its route.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Select, select
from werkzeug.routing import IntegerConverter, PathConverter, Rule

from alerts.channels.models import Channel
from alerts.emails import TOPICS, preferences_token
from alerts.follow.models import Follower, FollowRequest
from alerts.follow.service import follow_token
from alerts.models import Notification, NotificationState
from barometre import clock, password_links
from barometre.console import exports, imports
from barometre.console.models import Export
from barometre.extensions import db
from barometre.models import (
    ROLE_COORDINATOR,
    ROLE_WORKER,
    Contact,
    Establishment,
    User,
)
from barometre.routing import IdConverter
from barometre.signed_links import establishment_token
from barometre.states import JobState
from tests.conftest import bearer, file_report, login, make_user

METHODS = ("GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE")
ROLES = ("anonymous", "worker", "coordinator")
CONTACT_EMAIL = "greffe@example.org"
FOLLOWER_EMAIL = "voisine@example.org"
OUTBOX_FILE = "notification-000001.eml"


@dataclass(frozen=True)
class Case:
    rule: str  # the route's pattern, as the failure names it
    url: str
    method: str
    role: str
    csrf: bool

    def __str__(self) -> str:
        csrf = "CSRF on" if self.csrf else "CSRF off"
        return f"{self.method} {self.rule} ({self.url}) as {self.role}, {csrf}"


@dataclass(frozen=True)
class World:
    users: dict[str, int]  # role -> user id
    values: dict[str, list[Any]]  # path variable name -> real values to try


def seed_world(app: Flask) -> World:
    """One row of each kind a route names by id (id 1 in a fresh database), and the
    signed tokens of every kind, for the contact and the follower's addresses."""
    worker, coordinator = make_user(ROLE_WORKER), make_user(ROLE_COORDINATOR)
    file_report(worker)  # report 1, situation 1, a level change
    haren = db.session.scalars(select(Establishment).filter_by(slug="haren")).one()
    db.session.add_all(
        [
            Contact(establishment_id=haren.id, email=CONTACT_EMAIL),
            Follower(establishment_id=haren.id, email=FOLLOWER_EMAIL, digest=True),
            Notification(
                kind="digest",
                recipient=CONTACT_EMAIL,
                recipient_kind="contact",
                state=NotificationState.FAILED,
                give_up_at=clock.now() + timedelta(days=1),
            ),
            # A webhook channel (issue 30): its removal asks to confirm on a GET.
            Channel(kind="webhook", url="http://127.0.0.1:9/hook", shown="http://127.0.0.1:9/…"),
            Export(
                kind="reports",
                format="csv",
                created_by_id=coordinator.id,
                state=JobState.DONE,
                file_path=str(export_file()),
            ),
        ]
    )
    request = FollowRequest(establishment_id=haren.id, email="nouvelle@example.org", client="x")
    db.session.add(request)
    db.session.commit()
    bearer(worker)  # api token 1
    settings = app.config["SETTINGS"]
    outbox = settings.outbox_path
    outbox.mkdir(parents=True, exist_ok=True)
    (outbox / OUTBOX_FILE).write_bytes(b"To: greffe@example.org\nSubject: Test\n\nBonjour\n")
    tokens = [
        preferences_token(CONTACT_EMAIL, settings),
        preferences_token(FOLLOWER_EMAIL, settings),
        follow_token(request, settings),
        password_links.make_token(worker, password_links.RESET),
        establishment_token(haren.id, settings),
    ]
    return World(
        users={"worker": worker.id, "coordinator": coordinator.id},
        values={
            "slug": ["haren"],
            "token": tokens,
            "topic": list(TOPICS),
            # The history import's CSV templates (read where they are declared, if they are).
            "name": [OUTBOX_FILE, *getattr(imports, "TEMPLATE_NAMES", {}).values(), "x"],
            "filename": ["barometre.css"],
        },
    )


def export_file() -> Path:
    """A finished export's file, where the download looks for it."""
    folder = exports.exports_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "export-1.csv"
    path.write_text("id\n1\n", encoding="utf-8")
    return path


def urls(rule: Rule, world: World) -> Iterator[str]:
    """The route's path with every combination of real values for its variables."""
    names = sorted(rule.arguments)
    choices = [variable_values(rule, name, world) for name in names]
    for combination in itertools.product(*choices):
        built = rule.build(dict(zip(names, combination, strict=True)), append_unknown=False)
        assert built is not None, rule.rule
        yield built[1]


def variable_values(rule: Rule, name: str, world: World) -> Sequence[Any]:
    converter = rule._converters[name]
    if isinstance(converter, IdConverter | IntegerConverter):
        return [1]  # every table's first row exists (seed_world)
    if isinstance(converter, PathConverter):
        return world.values["filename"]
    return world.values.get(name, ["x"])


def walk(app: Flask, world: World) -> list[tuple[str, str]]:
    """(rule, url) of every route, each url once (rules sharing a path differ by method)."""
    seen: dict[str, str] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for url in urls(rule, world):
            seen.setdefault(url, rule.rule)
    return [(rule, url) for url, rule in seen.items()]


def all_cases(app: Flask, world: World, full: bool, methods: Sequence[str]) -> list[Case]:
    """Full: every role × CSRF off/on. Otherwise a coordinator (who reaches the most
    code), CSRF off and on for every other url (its methods alike, so that HEAD is
    compared with the GET just before it)."""
    targets = walk(app, world)
    if not full:
        return [
            Case(rule, url, method, "coordinator", csrf=index % 2 == 1)
            for index, (rule, url) in enumerate(targets)
            for method in methods
        ]
    return [
        Case(rule, url, method, role, csrf)
        for role in ROLES
        for csrf in (False, True)
        for rule, url in targets
        for method in methods
    ]


# What any request may write: when a session was last seen (once a minute at most,
# `barometre.user_sessions.SEEN_PRECISION`), not a change a method makes.
NOT_COMPARED = {"user_session": {"last_seen_at"}}


def snapshot() -> dict[str, list[str]]:
    """Every row of every table, read on a connection of its own (read after each of some
    700 requests: the statements are built once, `snapshot_statements`)."""
    db.session.remove()
    with db.engine.connect() as connection:
        return {
            name: sorted(repr(tuple(row)) for row in connection.execute(statement))
            for name, statement in snapshot_statements().items()
        }


@cache
def snapshot_statements() -> dict[str, Select[Any]]:
    """One SELECT a table, of every column but those `NOT_COMPARED`."""
    return {
        table.name: table.select().with_only_columns(
            *(c for c in table.c if c.name not in NOT_COMPARED.get(table.name, ()))
        )
        for table in db.metadata.sorted_tables
    }


def changes(before: dict[str, list[str]], after: dict[str, list[str]]) -> str:
    lines = []
    for table, rows in after.items():
        gone = sorted(set(before[table]) - set(rows))
        added = sorted(set(rows) - set(before[table]))
        if gone or added:
            lines.append(f"{table}: -{gone[:2]} +{added[:2]}")
    return "; ".join(lines)


def user(uid: int) -> User:
    found = db.session.get(User, uid)
    assert found is not None
    return found


class Clients:
    """A client per role, signed in again before each request (a request may sign out)."""

    def __init__(self, app: Flask, world: World) -> None:
        self.app = app
        self.world = world
        self.client = app.test_client()
        self.tokens = {role: bearer(user(uid)) for role, uid in world.users.items()}
        # One session per role, signed in again before each request: no new row each time.
        self.sessions = {
            role: login(app.test_client(), user(uid)) for role, uid in world.users.items()
        }

    def send(self, case: Case) -> Any:
        self.app.config["WTF_CSRF_ENABLED"] = case.csrf
        client: FlaskClient = self.app.test_client()
        headers: dict[str, str] = {}
        uid = self.world.users.get(case.role)
        if uid is not None:
            login(client, user(uid), self.sessions[case.role])
            headers = self.tokens[case.role] if case.url.startswith("/api/") else {}
        db.session.remove()
        return client.open(case.url, method=case.method, headers=headers)


def run(app: Flask, full: bool, methods: Sequence[str]) -> tuple[list[str], Counter[str]]:
    """The failures, and how each (method, role) was answered (to show the code ran)."""
    world = seed_world(app)
    clients = Clients(app, world)
    failures: list[str] = []
    answers: Counter[str] = Counter()
    got: dict[tuple[str, str, bool], int] = {}  # the GET's status of each (url, role, csrf)
    cases = all_cases(app, world, full, methods)
    assert len({c.rule for c in cases}) > 70  # the walk covered the app
    before = snapshot()
    for case in cases:
        response = clients.send(case)
        answers[f"{case.method} {case.role} {response.status_code}"] += 1
        if response.status_code >= 500:
            failures.append(f"{case}: {response.status_code}")
        key = (case.url, case.role, case.csrf)
        if case.method == "GET":
            got[key] = response.status_code
        elif case.method == "HEAD" and got.get(key, response.status_code) != response.status_code:
            # RFC 9110 §9.3.2: HEAD is GET without the body, never the write branch.
            failures.append(f"{case}: {response.status_code}, while GET answered {got[key]}")
        after = snapshot()  # nothing else writes between two requests
        if changed := changes(before, after):
            failures.append(f"{case}: {response.status_code}, state changed: {changed}")
        before = after
    app.config["WTF_CSRF_ENABLED"] = False
    return failures, answers


FULL = "FUZZ_CASES" in os.environ  # `make fuzz`
# The methods a route does not offer are answered by the routing (405, or OPTIONS), the
# same on both databases: `make test` sends them on SQLite only, `make fuzz` on both.
ROUTED_ONLY = ("OPTIONS", "PUT", "PATCH", "DELETE")


@pytest.mark.slow
@pytest.mark.committing  # the snapshot reads the tables on a connection of its own
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_no_method_but_post_changes_anything(app: Flask, backend: str) -> None:
    methods = METHODS if FULL or backend == "sqlite" else tuple(set(METHODS) - set(ROUTED_ONLY))
    failures, answers = run(app, FULL, sorted(methods, key=METHODS.index))
    print(sorted(answers.items()))  # the census, shown with -s
    assert not failures, "\n".join(failures)
