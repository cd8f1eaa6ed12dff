"""Whatever is sent to the API: never a 500, always a field error, nothing stored.

1 000 generated requests per endpoint on SQLite (fast, in-process), and a
shorter run of the report and establishment endpoints on PostgreSQL, which
refuses what SQLite takes (NUL bytes, lone surrogates).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from barometre import clock
from barometre.extensions import db
from barometre.models import AuditEntry, Condition, Report, Situation, User
from barometre.services import MAX_COUNT, valid_submission_id
from tests.conftest import bearer, file_report
from tests.fuzz import (
    MISSING,
    Field,
    examples,
    hostile_text,
    lone_surrogates,
    long_text,
    printable_text,
    run_fuzz,
    wrong_types,
)

SLUGS = ("haren", "saint-gilles")
OFFER_TYPES = ("individuel", "collectif", "cellulaire")
MAX_AGE = 90
FAST = settings(
    max_examples=examples(1000),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)


def _today() -> date:
    return clock.today()


def iso_days(lo: int, hi: int) -> st.SearchStrategy[str]:
    """ISO dates `lo`..`hi` days from today (negative: in the past)."""
    return st.integers(lo, hi).map(lambda n: (_today() + timedelta(days=n)).isoformat())


def known_date(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 10:
        return False
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return False
    return _today() - timedelta(days=MAX_AGE) <= day <= _today()


def in_range_count(value: Any) -> bool:
    """An integer in range; JSON's 12.0 is the integer 12 (as JSON Schema says)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT


def code_lists(known: tuple[str, ...]) -> tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]:
    """Strategies of valid and of invalid code lists for a referential of `known` codes."""
    valid = st.lists(st.sampled_from(known), min_size=1, max_size=4, unique=True)
    not_text = wrong_types(allow_none=False).filter(lambda v: not isinstance(v, str))
    unknown_code = st.one_of(hostile_text(), st.text(max_size=12)).filter(lambda c: c not in known)
    invalid = st.one_of(
        st.just([]),
        st.builds(lambda good, bad: [*good, bad], st.lists(st.sampled_from(known)), unknown_code),
        st.lists(st.sampled_from(known), min_size=101, max_size=120),
        st.lists(not_text, min_size=1),
        wrong_types().filter(lambda v: not isinstance(v, list)),
        unknown_code,
    )
    return valid, invalid


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(MISSING), st.none(), strategy)


def report_fields(codes: tuple[str, ...]) -> list[Field]:
    conditions_ok, conditions_bad = code_lists(codes)
    offers_ok, offers_bad = code_lists(OFFER_TYPES)
    bad_count = wrong_types(allow_none=False).filter(lambda v: not in_range_count(v))
    return [
        Field(
            "establishment",
            st.sampled_from(SLUGS),
            st.one_of(hostile_text(), st.text(max_size=20), wrong_types()).filter(
                lambda v: v not in SLUGS
            ),
        ),
        Field(
            "visit_date",
            iso_days(-MAX_AGE + 2, 0),
            st.one_of(
                iso_days(2, 4000),
                iso_days(-4000, -MAX_AGE - 2),
                st.sampled_from(["26/11/2026", "20261126", "2026-W48-4", "2026-02-30", "demain"]),
                hostile_text(),
                wrong_types(),
            ).filter(lambda v: not known_date(v)),
        ),
        Field("conditions", conditions_ok, conditions_bad),
        Field("offer_types", offers_ok, offers_bad),
        Field(
            "description",
            optional(printable_text(max_size=300)),
            st.one_of(
                long_text(),
                st.builds(lambda a, b: f"{a}\x00{b}", st.text(max_size=20), st.text(max_size=20)),
                st.builds(lambda a, s: a + s, st.text(max_size=20), lone_surrogates()),
                wrong_types(allow_none=False).filter(lambda v: not isinstance(v, str)),
            ),
            required=False,
        ),
        Field(
            "minutes_waited",
            optional(st.integers(0, MAX_COUNT)),
            bad_count,
            required=False,
        ),
        Field(
            "activity_cancelled",
            optional(st.booleans()),
            wrong_types(allow_none=False).filter(lambda v: not isinstance(v, bool)),
            required=False,
        ),
        Field(
            "detainees_not_seen",
            optional(st.integers(0, MAX_COUNT)),
            bad_count,
            required=False,
        ),
        Field(
            "submission_id",
            optional(st.uuids().map(str)),
            st.one_of(
                st.uuids().map(lambda u: "{" + str(u) + "}"),
                st.uuids().map(lambda u: u.urn),
                st.uuids().map(lambda u: u.hex),
                hostile_text(),
                wrong_types(allow_none=False).filter(lambda v: not isinstance(v, str)),
            ).filter(lambda v: v != "" and not (isinstance(v, str) and valid_submission_id(v))),
            required=False,
        ),
    ]


def json_errors(response: Any) -> dict[str, list[str]]:
    if response.status_code not in (400, 422):
        return {}
    return dict(response.get_json().get("errors", {}))


def count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def condition_codes() -> tuple[str, ...]:
    return tuple(db.session.scalars(select(Condition.code).order_by(Condition.code)))


def fuzz_reports(client: FlaskClient, worker: User, max_examples: int) -> None:
    headers = bearer(worker)
    run_fuzz(
        report_fields(condition_codes()),
        submit=lambda body: client.post("/api/v1/reports", json=body, headers=headers),
        field_errors=json_errors,
        stored=lambda: (count(Report), count(Situation)),
        max_examples=max_examples,
        extra_keys=st.text(max_size=70),
    )


@pytest.mark.parametrize("backend", ["sqlite"])
def test_post_report_refuses_every_bad_field(client: FlaskClient, worker: User) -> None:
    fuzz_reports(client, worker, max_examples=1000)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_post_report_refuses_bad_fields_on_postgresql(client: FlaskClient, worker: User) -> None:
    fuzz_reports(client, worker, max_examples=200)


def json_values() -> st.SearchStrategy[Any]:
    return st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text()),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=12,
    )


@pytest.mark.parametrize("backend", ["sqlite"])
def test_post_report_survives_any_body(client: FlaskClient, worker: User) -> None:
    """Arbitrary JSON, raw bytes, deep nesting: a 4xx with an error, nothing stored."""
    headers = {**bearer(worker), "Content-Type": "application/json"}
    nesting = st.integers(1, 100_000).map(lambda n: "[" * n + "]" * n)
    escaped_surrogates = lone_surrogates().map(lambda s: json.dumps({"establishment": s}))
    raw = st.one_of(
        json_values().map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=200),
        nesting.map(str.encode),
        escaped_surrogates.map(str.encode),
        lone_surrogates().map(lambda s: s.encode("utf-8", "surrogatepass")),
    )

    @FAST
    @given(data=raw)
    def check(data: bytes) -> None:
        response = client.post("/api/v1/reports", data=data, headers=headers)
        assert response.status_code in (400, 413, 422), response.status_code
        assert response.get_json()["errors"] if response.status_code == 422 else True
        assert count(Report) == 0

    check()


def note_field(name: str) -> Field:
    return Field(
        name,
        printable_text(1, 200).filter(lambda t: t.strip() != ""),
        st.one_of(
            st.just(""),
            st.sampled_from([" ", "\r\n", "\t \n"]),
            long_text(),
            st.builds(lambda a, b: f"{a}\x00{b}", st.text(max_size=20), st.text(max_size=20)),
            st.builds(lambda a, s: "ok" + a + s, st.text(max_size=20), lone_surrogates()),
            wrong_types().filter(lambda v: not isinstance(v, str)),
        ),
    )


@pytest.mark.parametrize("backend", ["sqlite"])
def test_resolve_refuses_every_bad_note(
    client: FlaskClient, worker: User, coordinator: User
) -> None:
    situation = file_report(worker).new_situations[0]
    url = f"/api/v1/situations/{situation.id}/resolve"
    headers = bearer(coordinator)
    run_fuzz(
        [note_field("note")],
        submit=lambda body: client.post(url, json=body, headers=headers),
        field_errors=json_errors,
        stored=lambda: (
            db.session.scalar(select(Situation.status).where(Situation.id == situation.id)),
            count(AuditEntry),
        ),
    )


@pytest.mark.parametrize("backend", ["sqlite"])
def test_reject_refuses_every_bad_reason(
    client: FlaskClient, worker: User, coordinator: User
) -> None:
    report = file_report(worker).report
    url = f"/api/v1/reports/{report.id}/reject"
    headers = bearer(coordinator)
    run_fuzz(
        [note_field("reason")],
        submit=lambda body: client.post(url, json=body, headers=headers),
        field_errors=json_errors,
        stored=lambda: (
            db.session.scalar(select(Report.review_state).where(Report.id == report.id)),
            count(AuditEntry),
        ),
    )


def utf8(text: str) -> bool:
    """A path is sent as UTF-8: lone surrogates cannot even be written in a URL."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def path_segments() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(min_value=0, max_value=2**80).map(str),
        hostile_text().filter(utf8),
        st.text(max_size=30),
    )


def fuzz_committee_paths(
    client: FlaskClient, worker: User, coordinator: User, max_examples: int
) -> None:
    """Unknown, huge or garbled ids: 404, and nothing changes."""
    outcome = file_report(worker)
    existing = {str(outcome.report.id), str(outcome.new_situations[0].id)}
    headers = bearer(coordinator)

    @settings(
        max_examples=examples(max_examples),
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(
        segment=path_segments().filter(lambda s: s.lstrip("0") not in existing),
        kind=st.sampled_from(["situations", "reports"]),
    )
    def check(segment: str, kind: str) -> None:
        action = "resolve" if kind == "situations" else "reject"
        url = f"/api/v1/{kind}/{quote(segment, safe='')}/{action}"
        body = {"note": "Réglé"} if kind == "situations" else {"reason": "Doublon"}
        response = client.post(url, json=body, headers=headers)
        assert response.status_code in (308, 404, 405), (url, response.status_code)
        if response.status_code != 308:  # see test_establishment_path_survives_anything
            assert response.get_json()["error"]

    check()
    assert count(AuditEntry) == 0


@pytest.mark.parametrize("backend", ["sqlite"])
def test_committee_paths_survive_any_id(
    client: FlaskClient, worker: User, coordinator: User
) -> None:
    fuzz_committee_paths(client, worker, coordinator, 1000)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_committee_paths_survive_any_id_on_postgresql(
    client: FlaskClient, worker: User, coordinator: User
) -> None:
    fuzz_committee_paths(client, worker, coordinator, 300)


def fuzz_establishment_paths(client: FlaskClient, headers: dict[str, str], n: int) -> None:
    @settings(
        max_examples=examples(n),
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(segment=path_segments())
    def check(segment: str) -> None:
        response = client.get(f"/api/v1/establishments/{quote(segment, safe='')}", headers=headers)
        # 308: an encoded "/" made "//", which Werkzeug merges by redirecting
        assert response.status_code in (200, 308, 404), (segment, response.status_code)
        if response.status_code == 200:
            assert response.get_json()["slug"] in SLUGS

    check()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_establishment_path_survives_anything(client: FlaskClient, worker: User) -> None:
    fuzz_establishment_paths(client, bearer(worker), 1000)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_establishment_path_survives_anything_on_postgresql(
    client: FlaskClient, worker: User
) -> None:
    fuzz_establishment_paths(client, bearer(worker), 200)


def header_values() -> st.SearchStrategy[str]:
    """What a header can carry: latin-1 text, no line break (the client refuses those)."""
    latin = st.text(st.characters(max_codepoint=255, exclude_characters="\r\n\x00"), max_size=80)
    return st.one_of(latin, st.just("Bearer "), latin.map(lambda t: "Bearer " + t))


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(
    "url", ["/api/v1/referentiel", "/api/v1/establishments", "/api/v1/openapi.json"]
)
def test_read_endpoints_survive_any_headers_and_query(client: FlaskClient, url: str) -> None:
    """Random tokens, languages, cookies and query strings on every GET of the API."""

    @FAST
    @given(
        authorization=st.one_of(st.none(), header_values()),
        language=header_values(),
        cookie=header_values(),
        query=st.dictionaries(st.text(max_size=10), st.text(max_size=30), max_size=3),
    )
    def check(authorization: str | None, language: str, cookie: str, query: dict[str, str]) -> None:
        headers = {"Accept-Language": language, "Cookie": cookie}
        if authorization is not None:
            headers["Authorization"] = authorization
        response = client.get(url, headers=headers, query_string=query)
        assert response.status_code in (200, 401), (url, headers, response.status_code)
        if response.status_code == 401:
            assert response.get_json()["error"]

    check()
