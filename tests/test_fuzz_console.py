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
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from flask import Flask, Request
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.datastructures import ImmutableMultiDict, MultiDict

from alerts.channels.models import Channel
from alerts.follow.models import Follower
from alerts.models import Notification, NotificationState
from barometre import clock, signals
from barometre.extensions import db
from barometre.models import AuditEntry, Condition, Contact, Establishment, User
from barometre.routing import IdConverter
from tests.conftest import file_report, login, make_user
from tests.fuzz import (
    FULL_DEPTH,
    HOSTILE_FRAGMENTS,
    examples,
    hostile_text,
    long_text,
    printable_text,
)

# `make test` runs 10 seeded cases per form on SQLite (tests/fuzz.py); `make fuzz` 3 000.
SQLITE_CASES = int(os.environ.get("FUZZ_CASES", examples(400)))
POSTGRESQL_CASES = examples(60)
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
    channel_id: int


def taken(_app: Flask, task: str, job_id: int) -> bool:
    """Export jobs are recorded, not produced: 1 000 files would only measure the disk."""
    return True


@pytest.fixture
def world(app: Flask) -> Iterator[World]:
    with signals.job_asked.connected_to(taken):
        yield make_world()


def make_world() -> World:
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
        state=NotificationState.FAILED,
        give_up_at=clock.now() + timedelta(days=1),
    )
    # A webhook to a loopback address: without CHANNELS_ALLOW_PRIVATE its test is refused
    # before any request leaves.
    channel = Channel(
        kind="webhook", url=CHANNEL_URL, secret=CHANNEL_SECRET, shown="http://127.0.0.1:9/…"
    )
    db.session.add_all([contact, notification, channel])
    db.session.commit()
    condition = db.session.scalars(select(Condition).order_by(Condition.id)).first()
    assert condition is not None and worker.service_id is not None
    return World(
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
        channel_id=channel.id,
    )


CONTACT = ("email", "name", "language", "alerts", "red_only", "digest")
CHANNEL_URL = "http://127.0.0.1:9/hook"
CHANNEL_SECRET = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3"
WORDING = ("category", "label_fr", "label_nl", "label_en", "examples", "keywords")
EMAILS = ("greffe@example.org", "a@b.example", "x@example.org, y@example.org")

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
    "what-to-do": (
        "/coordination/etablissements/{establishment}/a-faire",
        {
            "fidex_name": ("Aline Verhaegen",),
            "fidex_email": EMAILS,
            "fidex_phone": ("+32 2 512 00 00", "02/123.45.67"),
            "request": ("Rouvrez les parloirs.",),
            "request_nl": ("Heropen de bezoekzalen.", ""),
            "request_en": ("Reopen the visiting rooms.", ""),
        },
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
    # Webhook and chat channels (issue 30); hosts under .test: nothing leaves the machine.
    "channel-add": (
        "/coordination/canaux",
        {
            "owner": ("comite", "etablissement-{establishment}", "service-{service}"),
            "url": (
                CHANNEL_URL,
                "https://hooks.fidex.test/x",
                "json://hooks.fidex.test/x",
                "javascript:alert(1)",
                "http://10.0.0.1/",
            ),
            "kind": ("", "webhook", "chat"),
            "secret": (CHANNEL_SECRET, "whsec_abc", ""),
            "language": ("fr", "nl", "en"),
        },
    ),
    "channel-test": ("/coordination/canaux/{channel}/test", {}),
    "channel-remove": ("/coordination/canaux/{channel}/supprimer", {}),
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
            "visit_date": ("{today}", "2020-01-01"),
            "conditions": ("SEC-01", "ACC-01"),
            "offer_types": ("individuel", "collectif", "cellulaire"),
            "description": ("Rien à signaler",),
            "minutes_waited": ("0", "30", "100000"),
            "activity_cancelled": ("true", "false"),
            "detainees_not_seen": ("0", "5"),
            "submission_id": ("",),
        },
    ),
    # The second step's setup (issue 29): the app's first code, the password asked again.
    "two-step-totp": ("/profil/deuxieme-etape/application", {"code": ("123456", "12 34 56")}),
    "two-step-codes": ("/profil/deuxieme-etape/codes", {"password": ("mot-de-passe-solide",)}),
    "two-step-disable": (
        "/profil/deuxieme-etape/desactiver",
        {"password": ("mot-de-passe-solide",)},
    ),
    "two-step-remove-app": (
        "/profil/deuxieme-etape/application/retirer",
        {"password": ("mot-de-passe-solide",)},
    ),
}
WORKER_FORMS = {"questionnaire", "two-step-totp"}


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
        "channel": str(world.channel_id),
        "today": clock.today().isoformat(),
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
        any_value(("haren", "open", values["today"])),
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


@pytest.mark.committing  # a retried notification is delivered in-process
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


@pytest.mark.committing  # a retried notification is delivered in-process
@pytest.mark.parametrize("backend", ["postgresql"])
def test_ids_in_paths_survive_mutation_on_postgresql(
    app: Flask, client: FlaskClient, world: World
) -> None:
    fuzz_paths(app, client, world, 4 * POSTGRESQL_CASES)


# --- query strings of every list ---------------------------------------------------------
#
# The pages and their parameters are found, not listed: every GET route whose path
# holds ids at most (filled with the world's), and every name its view asks the query
# string for (`AskedArgs` notes them) or its page offers (GET forms, links to itself).
# A new list, or a new filter on one, is fuzzed without a change here.

# Each name gets each of these, beside `page=2` (issue 24: `?etablissement=2**63` was a 500).
GARBAGE: tuple[Any, ...] = (
    str(2**31 - 1),
    str(2**31),
    str(2**32),
    str(2**63 - 1),
    str(2**63),
    str(2**64),
    str(10**30),
    "-1",
    "-" + str(2**63),
    "0",
    "1e9",
    "1.5",
    "0x10",
    " 1",
    "1_000",
    "\u0661\u0662",  # Arabic-Indic digits, which int() takes
    "abc",
    "",
    "\x00",
    "\x01\x1f\x7f",
    "\r\nBcc: x@example.org",
    "9" * 2000,
    "é" * 2000,
    ["1", str(2**63)],  # the name repeated
    ["abc", "", "0"],
)
# Names that mean something to url_for when a page echoes its query string into links.
URL_FOR_NAMES = ("endpoint", "_external", "_scheme", "_anchor", "_method", "values")
URL_FOR_VALUES = ("1", "javascript")
# The segment before an id in a path, and the world's object of that kind.
ID_KINDS = {
    "canaux": "channel",
    "contacts": "contact",
    "etablissements": "establishment",
    "referentiel": "condition",
    "services": "service",
    "signalements": "report",
    "signalement": "report",
    "situations": "situation",
    "utilisateurs": "user",
}


class AskedArgs(ImmutableMultiDict):  # type: ignore[type-arg]
    """A query string that notes the name of every parameter a view asks it for."""

    asked: ClassVar[set[str]] = set()

    def __contains__(self, key: object) -> bool:
        AskedArgs.asked.add(str(key))
        return super().__contains__(key)

    def __getitem__(self, key: str) -> Any:
        AskedArgs.asked.add(key)
        return super().__getitem__(key)

    def getlist(self, key: str, type: Any = None) -> Any:
        AskedArgs.asked.add(key)
        return super().getlist(key, type)


class AskedRequest(Request):
    parameter_storage_class = AskedArgs


class OfferedNames(HTMLParser):
    """The names a page offers for its own query string: GET forms and links to itself."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path, self.names, self.in_get_form = path, set[str](), False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self.in_get_form = (found.get("method") or "get").lower() == "get"
        elif tag in ("input", "select", "textarea") and self.in_get_form and found.get("name"):
            self.names.add(str(found["name"]))
        elif tag == "a" and found.get("href"):
            link = urlsplit(html.unescape(str(found["href"])))
            if link.path in ("", self.path):
                self.names.update(parse_qs(link.query, keep_blank_values=True))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.in_get_form = False


def list_pages(app: Flask, world: World) -> list[str]:
    """Every GET page whose path holds nothing but ids and a slug, with the world's in it."""
    values = ids(world)
    pages = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.rule.startswith("/static"):
            continue
        converters = rule._converters.items()
        if not all(isinstance(c, IdConverter) or n == "slug" for n, c in converters):
            continue
        path = rule.rule.replace("<slug>", "haren")
        for segment, name in re.findall(r"([^/]+)/<id:([^>]+)>", rule.rule):
            path = path.replace(f"<id:{name}>", values.get(ID_KINDS.get(segment, ""), "1"))
        pages.append(path)
    return sorted(pages)


def parameters(app: Flask, client: FlaskClient, world: World) -> dict[str, tuple[str, ...]]:
    """Each page and the query parameters its view reads or its HTML offers."""
    found: dict[str, tuple[str, ...]] = {}
    with asking(app):
        for page in list_pages(app, world):
            AskedArgs.asked = set()
            response = client.get(page, follow_redirects=True)
            offered = OfferedNames(page)
            if response.mimetype == "text/html":
                offered.feed(response.get_data(as_text=True))
            found[page] = tuple(sorted(AskedArgs.asked | offered.names))
    return found


@contextmanager
def asking(app: Flask) -> Iterator[None]:
    """Requests whose query string notes what the view asks it for."""
    before, app.request_class = app.request_class, AskedRequest
    try:
        yield
    finally:
        app.request_class = before


def check_query_answer(response: Any, where: object) -> None:
    """No 5xx; a redirect, a page, or a 4xx that says why in French."""
    status = response.status_code
    assert status < 500, (status, where)
    assert status in {200, 302, 303, 400, 401, 403, 404, 422}, (status, where)
    if status >= 400 and response.is_json:  # the API (/api/v1/report): a French `error`
        assert (response.get_json() or {}).get("error"), (status, where)
    elif status >= 400:
        page = html.unescape(response.get_data(as_text=True))
        assert "Code d'erreur" in page or ERROR_MARK.search(page), (status, where)


def with_more_rows(world: World) -> None:
    """Enough followers and journal rows for a second page: pagers echo the query string."""
    db.session.add_all(
        Follower(establishment_id=world.establishment_id, email=f"abonne-{n}@example.org")
        for n in range(60)
    )
    db.session.add_all(
        AuditEntry(actor_id=world.coordinator.id, action="user.update") for _ in range(60)
    )
    db.session.commit()


def test_every_list_and_its_parameters_are_found(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The discovery finds what the lists read (a guard on the harness itself)."""
    login(client, world.coordinator)
    found = parameters(app, client, world)
    assert "etablissement" in found["/coordination/abonnes"]
    assert {"page", "establishment", "service", "state", "date_from", "offer_type"} <= set(
        found["/coordination/signalements"]
    )
    assert set(found["/coordination/signalements"]) <= set(found["/coordination/situations"])
    assert (
        "page" in found["/coordination/journal"] and "page" in found["/coordination/utilisateurs"]
    )
    assert "state" in found["/coordination/notifications"]
    assert "periode" in found["/etablissements/haren"]


def every_parameter_gets_garbage(app: Flask, client: FlaskClient, world: World) -> int:
    with_more_rows(world)
    login(client, world.coordinator)
    sent = 0
    for p, (page, names) in enumerate(parameters(app, client, world).items()):
        # `make fuzz`: every parameter gets every value; `make test`: one in three, the
        # three thirds turning from one parameter to the next, and each of url_for's names
        # one of its two values, turning from one name and one page to the next.
        cases = [
            (name, value)
            for n, name in enumerate(names)
            for value in (GARBAGE if FULL_DEPTH else GARBAGE[n % 3 :: 3])
        ]
        cases += [
            (name, value)
            for n, name in enumerate(URL_FOR_NAMES)
            for value in (URL_FOR_VALUES if FULL_DEPTH else URL_FOR_VALUES[(n + p) % 2 :: 2])
        ]
        for name, value in cases:
            args = MultiDict([(name, v) for v in ([value] if isinstance(value, str) else value)])
            args.add("page", "2")  # pagers echo the query string
            check_query_answer(client.get(page, query_string=args), (page, name, value[:40]))
        for name in names:
            # Bytes that are not UTF-8, as a client may send them.
            check_query_answer(client.get(f"{page}?{quote(name)}=%FF%FE%00"), (page, name))
        sent += len(cases) + len(names)
    return sent


@pytest.mark.slow
def test_every_list_parameter_survives_big_numbers_and_garbage(
    app: Flask, client: FlaskClient, world: World
) -> None:
    assert every_parameter_gets_garbage(app, client, world) > (500 if FULL_DEPTH else 150)


def queries(names: tuple[str, ...], service: str) -> st.SearchStrategy[dict[str, Any]]:
    keys = st.one_of(
        st.sampled_from((*names, *URL_FOR_NAMES)) if names else st.sampled_from(URL_FOR_NAMES),
        st.text(max_size=10).filter(utf8),
    )
    known = (*KNOWN, clock.today().isoformat(), service, str(2**63))
    values = st.one_of(any_value(known), st.lists(any_value(known), max_size=3))
    return st.dictionaries(keys, values, max_size=6)


KNOWN = ("haren", "SEC", "individuel", "open", "rejected", "unreviewed", "2")


def fuzz_queries(app: Flask, client: FlaskClient, world: World, n: int) -> None:
    with_more_rows(world)
    login(client, world.coordinator)
    found = parameters(app, client, world)
    service = str(world.service_id)
    pages = st.sampled_from(sorted(found)).flatmap(
        lambda page: st.tuples(st.just(page), queries(found[page], service))
    )

    @cases(n)
    @given(case=pages)
    def check(case: tuple[str, dict[str, Any]]) -> None:
        page, args = case
        check_query_answer(client.get(page, query_string=args), case)

    check()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_list_queries_survive_mutation(app: Flask, client: FlaskClient, world: World) -> None:
    fuzz_queries(app, client, world, SQLITE_CASES)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_list_queries_survive_mutation_on_postgresql(
    app: Flask, client: FlaskClient, world: World
) -> None:
    fuzz_queries(app, client, world, SQLITE_CASES * 3 // 5)
