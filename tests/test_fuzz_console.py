"""Mutated requests on every console form, every id in a path and every list's query string:
never a 5xx, and a refused form says why.

The field-by-field checks (a French error on each bad field, nothing stored) are in
test_fuzz_forms.py and test_fuzz_api.py; here any mix of absent, plausible and
hostile values is sent, including numbers far out of range, as the adversarial
pass did. 400 seeded cases per form, for the paths and for the query strings
on SQLite (test client, no server; `make fuzz`: 3 000); a smaller sample on PostgreSQL,
which refuses what SQLite takes (numbers past 32 bits, NUL bytes). Seeded
(`derandomize`): a failure reproduces by running the test again.
"""

from __future__ import annotations

import functools
import html
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from alerts.models import FAILED, Notification
from barometre import clock
from barometre.console import jobs
from barometre.extensions import db
from barometre.models import Condition, Contact, Establishment, User
from barometre.routing import IdConverter
from tests.conftest import file_report, login, make_user
from tests.fuzz import HOSTILE_FRAGMENTS, hostile_text, long_text, printable_text

# `make test` runs 400 seeded cases per form on SQLite; `make fuzz` runs 3 000.
SQLITE_CASES = int(os.environ.get("FUZZ_CASES", "400"))
POSTGRESQL_CASES = 60
ALLOWED = {200, 201, 302, 303, 400, 404, 405, 409, 422}
ERROR_MARK = re.compile(r'class="(error|field-errors|error-summary)"')


def cases(n: int) -> Any:
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )


def utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@functools.cache
def numbers() -> st.SearchStrategy[str]:
    """Integers as text: small, at the 32- and 64-bit edges, huge, negative, odd digits."""
    edges = [0, 1, 2**31 - 1, 2**31, 2**32, 2**63 - 1, 2**63, 2**64, 10**20, 10**30]
    return st.one_of(
        st.integers(-(2**70), 2**70).map(str),
        st.sampled_from(edges).map(str),
        st.sampled_from(edges).map(lambda n: f"-{n}"),
        st.sampled_from(["", " 1", "1.0", "1e9", "0x10", "١٢", "²", "00000000001", "9" * 5000]),
    )


@functools.cache
def any_value(known: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    """What a form field may receive from a hostile client."""
    choices = [
        hostile_text().filter(utf8),
        printable_text(max_size=80),
        long_text(100, 3000),
        numbers(),
        st.sampled_from(["", " ", "y", "on", "1", "true", "None", *HOSTILE_FRAGMENTS]).filter(utf8),
    ]
    if known:
        choices.append(st.sampled_from(known))
    return st.one_of(*choices)


ABSENT = object()


def field_values(known: tuple[str, ...]) -> st.SearchStrategy[Any]:
    """Left out, a known value, anything, or several values for one name."""
    anything = any_value(known)
    choices = [st.just(ABSENT), anything, anything, st.lists(anything, min_size=2, max_size=3)]
    return st.one_of(*choices, *([st.sampled_from(known)] if known else []))


def form_bodies(fields: dict[str, tuple[str, ...]]) -> st.SearchStrategy[dict[str, Any]]:
    """Some of the form's fields, sometimes with an unknown key (strategies built once)."""
    extra = st.one_of(st.none(), st.tuples(st.text(max_size=12).filter(utf8), any_value()))

    def assemble(values: dict[str, Any], unknown: tuple[str, str] | None) -> dict[str, Any]:
        body = {name: value for name, value in values.items() if value is not ABSENT}
        if unknown is not None:
            body.setdefault(*unknown)
        return body

    per_field = {name: field_values(known) for name, known in fields.items()}
    return st.builds(assemble, st.fixed_dictionaries(per_field), extra)


def check_answer(response: Any, where: object) -> None:
    assert response.status_code < 500, (response.status_code, where)
    assert response.status_code in ALLOWED, (response.status_code, where)
    if response.status_code == 422:
        page = html.unescape(response.get_data(as_text=True))
        assert ERROR_MARK.search(page), where


# --- the objects the forms act on ---------------------------------------------------------


@dataclass
class World:
    coordinator: User
    worker: User
    report_id: int
    situation_id: int
    establishment_id: int
    contact_id: int
    service_id: int
    condition_id: int
    notification_id: int
    user_id: int


@pytest.fixture
def world(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    # Export jobs are recorded, not produced: 1 000 files would only measure the disk.
    monkeypatch.setattr(jobs, "JOB_DISPATCHERS", [lambda _kind, _job_id: True])
    worker, coordinator = make_user(), make_user("coordinator")
    outcome = file_report(worker)
    assert outcome.report is not None
    establishment = db.session.scalar(select(Establishment).where(Establishment.slug == "haren"))
    assert establishment is not None
    contact = Contact(establishment_id=establishment.id, email="greffe@example.org")
    notification = Notification(
        kind="digest",
        recipient="greffe@example.org",
        recipient_kind="contact",
        state=FAILED,
        give_up_at=clock.now() + timedelta(days=1),
    )
    db.session.add_all([contact, notification])
    db.session.commit()
    condition = db.session.scalars(select(Condition).order_by(Condition.id)).first()
    assert condition is not None and worker.service_id is not None
    yield World(
        coordinator=coordinator,
        worker=worker,
        report_id=outcome.report.id,
        situation_id=outcome.new_situations[0].id,
        establishment_id=establishment.id,
        contact_id=contact.id,
        service_id=worker.service_id,
        condition_id=condition.id,
        notification_id=notification.id,
        user_id=worker.id,
    )


CONTACT = ("email", "name", "language", "alerts", "red_only", "digest")
WORDING = ("category", "label_fr", "label_nl", "label_en", "examples", "keywords")
EMAILS = ("greffe@example.org", "a@b.example", "x@example.org, y@example.org")
TODAY = clock.today().isoformat()

# url template, fields -> known values. {report} etc. are the world's ids.
FORMS: dict[str, tuple[str, dict[str, tuple[str, ...]]]] = {
    "validate": ("/coordination/signalements/{report}/valider", {}),
    "reject": ("/coordination/signalements/{report}/rejeter", {"reason": ("Doublon",)}),
    "resolve": ("/coordination/situations/{situation}/resoudre", {"note": ("Réglé",)}),
    "establishment-add": ("/coordination/etablissements", {"name": ("Prison de Test",)}),
    "establishment-rename": ("/coordination/etablissements/{establishment}", {"name": ("Haren",)}),
    "establishment-activation": (
        "/coordination/etablissements/{establishment}/activation",
        {"active": ("0", "1")},
    ),
    "committee-note": (
        "/coordination/etablissements/{establishment}/note",
        {"note": ("Vert, avec une alerte",), "remove": ("1",)},
    ),
    "contact-add": (
        "/coordination/etablissements/{establishment}/contacts",
        {
            "new-email": EMAILS,
            "new-name": ("Greffe",),
            "new-language": ("fr", "nl"),
            "new-alerts": ("y",),
            "new-red_only": ("y",),
            "new-digest": ("y",),
        },
    ),
    "contact-edit": (
        "/coordination/contacts/{contact}",
        {name: (EMAILS if name == "email" else ("fr", "nl", "y")) for name in CONTACT},
    ),
    "contact-remove": ("/coordination/contacts/{contact}/supprimer", {}),
    "service-add": (
        "/coordination/services",
        {"name": ("Service Test",), "alert_emails": EMAILS},
    ),
    "service-edit": (
        "/coordination/services/{service}",
        {"name": ("Service A",), "alert_emails": EMAILS, "active": ("y",)},
    ),
    "user-edit": (
        "/coordination/utilisateurs/{user}",
        {"role": ("worker", "coordinator"), "service": ("{service}", ""), "active": ("y",)},
    ),
    "condition-add": (
        "/coordination/referentiel",
        {name: ("SEC", "ACC", "Libellé") for name in WORDING},
    ),
    "condition-edit": (
        "/coordination/referentiel/{condition}",
        {name: ("SEC", "Libellé") for name in WORDING},
    ),
    "condition-retire": ("/coordination/referentiel/{condition}/retrait", {}),
    "export": (
        "/coordination/exports",
        {"kind": ("reports", "situations"), "format": ("csv", "xlsx")},
    ),
    "invite": (
        "/coordination/utilisateurs/inviter",
        {
            "email": EMAILS,
            "name": ("Camille",),
            "role": ("worker", "coordinator"),
            "service": ("{service}",),
            "language": ("fr", "nl", "en"),
        },
    ),
    "notification-retry": ("/coordination/notifications/{notification}/retry", {}),
    "notification-dismiss": ("/coordination/notifications/{notification}/ignorer", {}),
    "address-choice": (
        "/coordination/adresses",
        {
            "email": EMAILS,
            "alerts": ("1", "0"),
            "digest": ("1", ""),
            "next": ("/coordination/contacts/{contact}", "https://ailleurs.test/", "//x"),
        },
    ),
    "questionnaire": (
        "/signalement",
        {
            "establishment": ("haren", "saint-gilles"),
            "visit_date": (TODAY, "2020-01-01"),
            "conditions": ("SEC-01", "ACC-01"),
            "offer_types": ("individuel", "collectif", "cellulaire"),
            "description": ("Rien à signaler",),
            "minutes_waited": ("0", "30", "100000"),
            "activity_cancelled": ("true", "false"),
            "detainees_not_seen": ("0", "5"),
            "submission_id": ("",),
        },
    ),
}
WORKER_FORMS = {"questionnaire"}


def ids(world: World) -> dict[str, str]:
    return {
        "report": str(world.report_id),
        "situation": str(world.situation_id),
        "establishment": str(world.establishment_id),
        "contact": str(world.contact_id),
        "service": str(world.service_id),
        "user": str(world.user_id),
        "condition": str(world.condition_id),
        "notification": str(world.notification_id),
    }


def filled(
    fields: dict[str, tuple[str, ...]], values: dict[str, str]
) -> dict[str, tuple[str, ...]]:
    return {name: tuple(v.format(**values) for v in known) for name, known in fields.items()}


def fuzz_form(client: FlaskClient, world: World, form: str, n: int) -> None:
    template, fields = FORMS[form]
    values = ids(world)
    url = template.format(**values)
    login(client, world.worker if form in WORKER_FORMS else world.coordinator)
    query = st.dictionaries(
        st.sampled_from(["state", "service", "page", "establishment", "date_from"]),
        any_value(("haren", "open", TODAY)),
        max_size=2,
    )

    @cases(n)
    @given(body=form_bodies(filled(fields, values)), args=query)
    def check(body: dict[str, Any], args: dict[str, str]) -> None:
        response = client.post(url, data=body, query_string=args)
        check_answer(response, (form, body, args))

    check()


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_form_survives_mutated_posts(client: FlaskClient, world: World, form: str) -> None:
    fuzz_form(client, world, form, SQLITE_CASES)


@pytest.mark.parametrize("backend", ["postgresql"])
@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_form_survives_mutated_posts_on_postgresql(
    client: FlaskClient, world: World, form: str
) -> None:
    fuzz_form(client, world, form, POSTGRESQL_CASES)


# --- ids in paths -------------------------------------------------------------------------


def id_routes(app: Flask) -> list[tuple[str, str]]:
    """(rule, method) of every route with an id in its path."""
    return sorted(
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if any(isinstance(c, IdConverter) for c in rule._converters.values())
        for method in rule.methods - {"HEAD", "OPTIONS"}
    )


def path_ids(existing: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.one_of(
        numbers(),
        st.sampled_from(existing),
        hostile_text().filter(utf8),
        st.integers(0, 50).map(lambda n: "0" * n + "1"),
    )


def fuzz_paths(app: Flask, client: FlaskClient, world: World, n: int) -> None:
    routes = id_routes(app)
    assert len(routes) >= 20
    existing = tuple(ids(world).values())
    login(client, world.coordinator)

    @cases(n)
    @given(route=st.sampled_from(routes), segment=path_ids(existing), worker=st.booleans())
    def check(route: tuple[str, str], segment: str, worker: bool) -> None:
        rule, method = route
        if worker:
            login(client, world.worker)
        url = re.sub(r"<id:[^>]+>", quote(segment, safe=""), rule)
        response = client.open(url, method=method, data={"reason": "x", "note": "y"})
        if worker:
            login(client, world.coordinator)
        # 308: an encoded "/" made "//", which Werkzeug merges by redirecting; 401: API routes
        assert response.status_code < 500, (method, url, response.status_code)
        assert response.status_code in ALLOWED | {308, 401, 403}, (method, url)

    check()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_ids_in_paths_survive_mutation(app: Flask, client: FlaskClient, world: World) -> None:
    fuzz_paths(app, client, world, SQLITE_CASES)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_ids_in_paths_survive_mutation_on_postgresql(
    app: Flask, client: FlaskClient, world: World
) -> None:
    fuzz_paths(app, client, world, 4 * POSTGRESQL_CASES)


# --- query strings of the lists -----------------------------------------------------------

LISTS = [
    "/coordination/signalements",
    "/coordination/situations",
    "/coordination/journal",
    "/coordination/utilisateurs",
    "/coordination/notifications",
    "/coordination/adresses",
    "/coordination/exports",
    "/coordination/etablissements",
    "/coordination/services",
    "/coordination/referentiel",
    "/mes-signalements",
    "/jetons",
    "/",
    "/feed.atom",
]
FILTERS = ("page", "establishment", "date_from", "date_to", "category", "offer_type")
KNOWN = ("haren", "SEC", "individuel", "open", "rejected", "unreviewed", TODAY, "2")


def queries(service: str) -> st.SearchStrategy[dict[str, Any]]:
    keys = st.one_of(
        st.sampled_from([*FILTERS, "service", "state"]), st.text(max_size=10).filter(utf8)
    )
    values = st.one_of(any_value((*KNOWN, service)), st.lists(any_value(KNOWN), max_size=3))
    return st.dictionaries(keys, values, max_size=6)


def fuzz_queries(client: FlaskClient, world: World, n: int) -> None:
    login(client, world.coordinator)

    @cases(n)
    @given(url=st.sampled_from(LISTS), args=queries(str(world.service_id)))
    def check(url: str, args: dict[str, Any]) -> None:
        response = client.get(url, query_string=args)
        assert response.status_code < 500, (url, args, response.status_code)
        assert response.status_code in {200, 302}, (url, args, response.status_code)

    check()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_list_queries_survive_mutation(client: FlaskClient, world: World) -> None:
    fuzz_queries(client, world, SQLITE_CASES)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_list_queries_survive_mutation_on_postgresql(client: FlaskClient, world: World) -> None:
    fuzz_queries(client, world, 4 * POSTGRESQL_CASES)
