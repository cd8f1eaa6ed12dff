"""Whatever is typed into a web form: never a 500, a French error next to each bad field,
nothing stored, and no line break ever reaches an email header.

Generated form posts (the Flask test client, CSRF off as in the `app` fixture) on
SQLite: 1 000 per form for the questionnaire and for every form whose values
end up in an email header or address (invitation, password reset, contacts,
member services), a few hundred for the console's reject and resolve notes.
The API has its own run in test_fuzz_api.py.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from email_validator import EmailNotValidError, validate_email
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from alerts.account import wait_background
from barometre import clock
from barometre.extensions import db
from barometre.models import (
    AuditEntry,
    Condition,
    Contact,
    Establishment,
    MemberService,
    PasskeyCredential,
    RecoveryCode,
    Report,
    Situation,
    User,
    UserSession,
)
from barometre.services import MAX_COUNT, valid_submission_id
from intake.models import ResetRequest, SecondStepFailure
from tests.conftest import PASSWORD, file_report, login, make_user
from tests.fuzz import (
    HOSTILE_FRAGMENTS,
    LINE_BREAKS,
    MISSING,
    Field,
    examples,
    hostile_text,
    long_text,
    printable_text,
    run_fuzz,
)

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

OFFER_TYPES = ("individuel", "collectif", "cellulaire")
MAX_AGE = 90
ENGLISH_DEFAULTS = ("Not a valid", "This field is required", "Invalid email", "Field must be")
INJECTIONS = [
    *LINE_BREAKS,
    "\r\nBcc: victime@example.org",
    "\nCc: victime@example.org",
    "\r\n\r\nCorps injecté",
    "\rTo: victime@example.org",
    "%0d%0aBcc:victime@example.org",
    "\x00",
    "\u0085",
    "\u2029",
]


# --- generic helpers ------------------------------------------------------------------------


def utf8(value: Any) -> bool:
    """A form post is UTF-8: lone surrogates cannot even be sent."""
    values = value if isinstance(value, list) else [value]
    try:
        for item in values:
            str(item).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def form_text(max_size: int = 60) -> st.SearchStrategy[str]:
    return st.text(max_size=max_size).filter(utf8)


def hostile() -> st.SearchStrategy[str]:
    return hostile_text().filter(utf8)


def count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def outbox_files(app: Flask) -> list[Path]:
    wait_background(app)  # a reset email leaves from a thread of its own
    folder: Path = app.config["SETTINGS"].outbox_path
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def check_outbox_headers(app: Flask, allowed_to: set[str]) -> int:
    """Every email written is addressed to a known address and carries no injected header."""
    files = outbox_files(app)
    for path in files:
        raw = path.read_bytes()
        message = message_from_bytes(raw, policy=policy.default)
        names = {name.lower() for name in message}
        assert not names & {"bcc", "cc", "reply-to"}, (path, names)
        assert str(message["To"]) in allowed_to, (path, message["To"])
        head = raw.split(b"\n\n", 1)[0]
        assert b"victime" not in head and b"Corps inject" not in head, head
    return len(files)


def page_of(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


INTAKE_ERRORS = re.compile(r'<ul class="field-errors" id="([^"]+)-errors">(.*?)</ul>', re.S)
SUMMARY = re.compile(r'<div class="error-summary" role="alert">(.*?)</div>', re.S)
SUMMARY_FIELD = re.compile(r'<li><a href="#([^"]+)">[^<]*</a>\xa0: (.*?)</li>', re.S)
SUMMARY_GENERAL = re.compile(r"<li>(?!<a )(.*?)</li>", re.S)
CONSOLE_ERROR = re.compile(r'<p class="error" id="([^"]+)-error">(.*?)</p>', re.S)


def intake_errors(response: Any) -> dict[str, list[str]]:
    """Field errors of an intake page: each field's list, and the summary at the top.

    The questionnaire shows a tampered submission id (a hidden field) in the
    summary only, as a general message.
    """
    page = page_of(response)
    errors: dict[str, list[str]] = {}
    for field, block in INTAKE_ERRORS.findall(page):
        errors.setdefault(field, []).extend(re.findall(r"<li>(.*?)</li>", block, re.S))
    summary = SUMMARY.search(page)
    if summary:
        for field, message in SUMMARY_FIELD.findall(summary.group(1)):
            errors.setdefault(field, []).append(message)
        for message in SUMMARY_GENERAL.findall(summary.group(1)):
            if "Identifiant de soumission" in message:
                errors.setdefault("submission_id", []).append(message)
    return french(errors)


def console_errors(response: Any) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for field, message in CONSOLE_ERROR.findall(page_of(response)):
        errors.setdefault(field, []).append(message)
    return french(errors)


def french(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    for field, messages in errors.items():
        for message in messages:
            assert not message.startswith(ENGLISH_DEFAULTS), (field, message)
    return errors


def one_field_at_a_time(
    fields: Sequence[Field],
    base: dict[str, str],
    submit: Callable[[dict[str, Any]], Any],
    stored: Callable[[], object],
    max_examples: int,
) -> None:
    """The console checks a form, then the service checks field by field: the first
    bad field is named. So each field is fuzzed alone, the others valid."""
    for field in fields:
        rest = {k: v for k, v in base.items() if k != field.name}
        run_fuzz(
            [field],
            submit=lambda body, rest=rest: submit({**rest, **body}),
            field_errors=console_errors,
            stored=stored,
            max_examples=max_examples // len(fields),
        )


def fuzz_settings(n: int) -> Any:
    return settings(
        max_examples=examples(n),
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )


# --- email addresses ------------------------------------------------------------------------


def acceptable_email(value: Any) -> bool:
    """What may pass as one address once trimmed: no line break, no separator, valid."""
    if isinstance(value, str):
        value = value.strip()
    if not isinstance(value, str) or any(c in value for c in "\r\n\x00,;"):
        return False
    if len(value) > 254:
        return False
    try:
        validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        return False
    return True


def good_emails() -> st.SearchStrategy[str]:
    local = st.text("abcdefghijklmnopqrstuvwxyz0123456789.-_", min_size=1, max_size=12).filter(
        lambda s: not s.startswith(".") and not s.endswith(".") and ".." not in s
    )
    return st.builds(
        lambda name, domain: f"{name}@{domain}",
        local,
        st.sampled_from(["example.org", "exemple.be", "fidex.example"]),
    )


def bad_emails() -> st.SearchStrategy[str]:
    """Header injections around a real address, and every other hostile value."""
    injected = st.builds(
        lambda address, fragment, where, tail: (
            address + fragment + tail if where else tail + fragment + address
        ),
        good_emails(),
        st.sampled_from(INJECTIONS),
        st.booleans(),
        st.sampled_from(["", "victime@example.org", "Bcc: victime@example.org", "x"]),
    )
    other = st.one_of(
        st.just(""),
        st.sampled_from(
            [
                "victime@example.org, autre@example.org",
                "victime@example.org; autre@example.org",
                "Victime <victime@example.org>",
                '"a\r\nb"@example.org',
                "a@b@example.org",
                "@example.org",
                "personne",
                "a@",
            ]
        ),
        good_emails().map(lambda a: "x" * 250 + a),
        hostile(),
        form_text(),
    )
    return st.one_of(injected, other).filter(lambda v: not acceptable_email(v))


def bad_one_line(max_size: int) -> st.SearchStrategy[str]:
    """A name: too long, a NUL byte, or a line break (names are one line)."""
    return st.one_of(
        long_text(max_size + 1, max_size + 3000),
        st.builds(
            lambda a, f, b: "x" + a + f + b + "x",
            form_text(20),
            st.sampled_from(["\x00", "\r\n", "\n", "\r", "\r\nBcc: victime@example.org"]),
            form_text(20),
        ),
    ).filter(utf8)


def good_name() -> st.SearchStrategy[str]:
    return printable_text(max_size=60, multiline=False)


# --- the questionnaire ----------------------------------------------------------------------


def known_date(value: Any) -> bool:
    try:
        day = date.fromisoformat(str(value).strip())
    except ValueError:
        return False
    return clock.today() - timedelta(days=MAX_AGE) <= day <= clock.today()


def iso_days(lo: int, hi: int) -> st.SearchStrategy[str]:
    return st.integers(lo, hi).map(lambda n: (clock.today() + timedelta(days=n)).isoformat())


def codes(known: Sequence[str]) -> tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]:
    valid = st.lists(st.sampled_from(list(known)), min_size=1, max_size=4, unique=True)
    unknown = st.one_of(hostile(), form_text(12)).filter(lambda c: c not in known)
    invalid = st.one_of(
        st.just([]),
        st.builds(lambda good, bad: [*good, bad], st.lists(st.sampled_from(list(known))), unknown),
        st.lists(st.sampled_from(list(known)), min_size=101, max_size=120),
        unknown,
    )
    return valid, invalid


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(MISSING), st.just(""), strategy)


def count_fields() -> tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]:
    valid = optional(st.integers(0, MAX_COUNT).map(str))
    invalid = st.one_of(
        st.integers(MAX_COUNT + 1, 10**30).map(str),
        st.integers(-(10**6), -1).map(str),
        st.sampled_from(["1.5", "1e3", "0x10", "١٢", "²", "beaucoup", "--1", "+-2"]),
        hostile(),
        form_text(15),
    ).filter(lambda v: not (v.strip().isascii() and v.strip().isdigit() and int(v) <= MAX_COUNT))
    invalid = invalid.filter(lambda v: v.strip() != "")
    return valid, invalid


def questionnaire_fields(slugs: Sequence[str], conditions: Sequence[str]) -> list[Field]:
    conditions_ok, conditions_bad = codes(conditions)
    offers_ok, offers_bad = codes(OFFER_TYPES)
    count_ok, count_bad = count_fields()
    return [
        Field(
            "establishment",
            st.sampled_from(list(slugs)),
            st.one_of(hostile(), form_text(20), st.just("")).filter(lambda v: v not in slugs),
        ),
        Field(
            "visit_date",
            iso_days(-MAX_AGE + 2, 0),
            st.one_of(
                iso_days(2, 4000),
                iso_days(-4000, -MAX_AGE - 2),
                st.sampled_from(["26/11/2026", "2026-02-30", "demain", "", "2026-13-01"]),
                hostile(),
            ).filter(lambda v: not known_date(v)),
        ),
        Field("conditions", conditions_ok, conditions_bad),
        Field("offer_types", offers_ok, offers_bad),
        Field(
            "description",
            optional(printable_text(max_size=300)),
            st.one_of(
                long_text(),
                st.builds(lambda a, b: f"{a}\x00{b}", form_text(20), form_text(20)),
            ).filter(utf8),
            required=False,
        ),
        Field("minutes_waited", count_ok, count_bad, required=False),
        Field(
            "activity_cancelled",
            optional(st.sampled_from(["true", "false"])),
            st.one_of(hostile(), form_text(10), st.sampled_from(["oui", "True", "1"])).filter(
                lambda v: v not in ("", "None", "true", "false")
            ),
            required=False,
        ),
        Field("detainees_not_seen", count_ok, count_bad, required=False),
        Field(
            "submission_id",
            optional(st.uuids().map(str)),
            st.one_of(
                st.uuids().map(lambda u: "{" + str(u) + "}"),
                st.uuids().map(lambda u: u.urn),
                st.uuids().map(lambda u: str(u) + "\x00"),
                hostile(),
            ).filter(lambda v: v not in ("", "None") and not valid_submission_id(v)),
            required=False,
        ),
    ]


def test_questionnaire_refuses_every_bad_field(app: Flask, client: FlaskClient) -> None:
    login(client, make_user())
    slugs = tuple(db.session.scalars(select(Establishment.slug)))
    known = tuple(db.session.scalars(select(Condition.code).where(Condition.retired_at.is_(None))))
    run_fuzz(
        questionnaire_fields(slugs, known),
        submit=lambda body: client.post("/signalement", data=body),
        field_errors=intake_errors,
        stored=lambda: (count(Report), count(Situation), count(AuditEntry)),
    )


# --- invitation and password reset: values that become email headers ------------------------


def test_invitation_refuses_every_bad_field(app: Flask, client: FlaskClient) -> None:
    login(client, make_user("coordinator"))
    service_id = str(make_user().service_id)
    existing = make_user(email="deja@example.org")
    run_fuzz(
        [
            Field(
                "email",
                good_emails().filter(lambda a: a != existing.email),
                st.one_of(bad_emails(), st.just(existing.email), st.just("DEJA@example.org")),
            ),
            Field("name", optional(good_name()), bad_one_line(200), required=False),
            Field(
                "role",
                st.just("worker"),
                st.one_of(hostile(), form_text(12)).filter(lambda v: v not in ("worker", "")),
            ),
            Field(
                "service",
                st.just(service_id),
                st.one_of(
                    st.integers(10_000, 10**30).map(str),
                    st.sampled_from(["abc", "1.0", "-1", "0"]),
                    hostile(),
                ).filter(lambda v: v != service_id),
                required=False,  # left out: judged only with a valid role
            ),
            Field(
                "language",
                st.sampled_from(["fr", "nl", "en"]),
                st.one_of(hostile(), form_text(5)).filter(lambda v: v not in ("fr", "nl", "en")),
                required=False,  # left out: French
            ),
        ],
        submit=lambda body: client.post("/coordination/utilisateurs/inviter", data=body),
        field_errors=intake_errors,
        stored=lambda: (count(User), count(AuditEntry), len(outbox_files(app))),
    )
    assert check_outbox_headers(app, set()) == 0


def ask_reset(client: FlaskClient, body: Any) -> Any:
    """A reset request as if the last quarter hour had none: the throttle (tested on its own
    in tests/alerts/test_account_emails.py) stays out of the way of hundreds of examples."""
    db.session.execute(delete(ResetRequest))
    db.session.commit()
    return client.post("/mot-de-passe/oubli", data=body)


def test_password_reset_request_refuses_every_bad_address(app: Flask, client: FlaskClient) -> None:
    make_user(email="victime@example.org")
    run_fuzz(
        [Field("email", good_emails(), bad_emails())],
        submit=lambda body: ask_reset(client, body),
        field_errors=intake_errors,
        stored=lambda: (count(User), len(outbox_files(app))),
    )
    assert check_outbox_headers(app, set()) == 0


def test_password_reset_sends_only_to_the_stored_address(app: Flask, client: FlaskClient) -> None:
    """An existing address wrapped in injections: refused, or one clean email to that address."""
    user = make_user(email="camille@example.org")
    sent = 0

    @fuzz_settings(300)
    @given(
        before=st.sampled_from(["", " ", "\t", *INJECTIONS]),
        after=st.sampled_from(["", " ", *INJECTIONS]),
        tail=st.sampled_from(["", "Bcc: victime@example.org", "victime@example.org"]),
        upper=st.booleans(),
    )
    def check(before: str, after: str, tail: str, upper: bool) -> None:
        nonlocal sent
        address = user.email.upper() if upper else user.email
        response = ask_reset(client, {"email": before + address + after + tail})
        assert response.status_code in (303, 422), response.status_code
        if response.status_code == 422:
            assert intake_errors(response)["email"]
        else:
            sent += 1
        assert check_outbox_headers(app, {user.email}) == sent

    check()


# --- the console: contacts and member services ----------------------------------------------


def test_new_contact_refuses_every_bad_field(app: Flask, client: FlaskClient) -> None:
    login(client, make_user("coordinator"))
    establishment = db.session.scalars(select(Establishment)).first()
    assert establishment is not None
    url = f"/coordination/etablissements/{establishment.id}/contacts"
    taken = "greffe@example.org"
    assert client.post(url, data={"new-email": taken, "new-language": "fr"}).status_code == 302
    one_field_at_a_time(
        [
            Field(
                "new-email",
                good_emails().filter(lambda a: a != taken),
                st.one_of(bad_emails(), st.sampled_from([taken, taken.upper(), f" {taken} "])),
            ),
            Field("new-name", optional(good_name()), bad_one_line(200), required=False),
            Field(
                "new-language",
                st.sampled_from(["fr", "nl"]),
                st.one_of(hostile(), form_text(5)).filter(lambda v: v not in ("fr", "nl")),
            ),
        ],
        base={"new-email": "accueil@example.org", "new-name": "Accueil", "new-language": "nl"},
        submit=lambda body: client.post(url, data=body),
        stored=lambda: (count(Contact), count(AuditEntry)),
        max_examples=1000,
    )


def email_parts(value: str) -> list[str]:
    return [p.strip() for p in re.split(r"[,;\s]+", value) if p.strip()]


def acceptable_list(value: str) -> bool:
    parts = email_parts(value)
    return len(value) <= 5000 and len(parts) <= 20 and all(acceptable_email(p) for p in parts)


def bad_email_lists() -> st.SearchStrategy[str]:
    """Valid addresses around one hostile part (a header, a NUL, a lone word), or too many."""
    separator = st.sampled_from([", ", ";", "\r\n", "\n", " "])
    return st.one_of(
        st.builds(
            lambda good, sep, bad: sep.join([*good, bad]),
            st.lists(good_emails(), max_size=3),
            separator,
            bad_emails(),
        ),
        st.lists(good_emails(), min_size=21, max_size=30).map(", ".join),
        long_text(5001, 9000),
    ).filter(lambda v: utf8(v) and not acceptable_list(v))


def service_fields(taken: str, *, editing: bool) -> list[Field]:
    return [
        Field(
            "name",
            good_name().filter(lambda n: n.strip() not in ("", taken)),
            st.one_of(bad_one_line(200), st.sampled_from(["", "   ", taken])),
            required=not editing,  # left out of an edit: the name is kept
        ),
        Field(
            "alert_emails",
            st.lists(good_emails(), max_size=4).map(", ".join),
            bad_email_lists(),
            required=False,  # no alert address is allowed
        ),
    ]


def test_new_member_service_refuses_every_bad_field(app: Flask, client: FlaskClient) -> None:
    login(client, make_user("coordinator"))
    taken = "Service A"
    make_user(service=taken)
    one_field_at_a_time(
        service_fields(taken, editing=False),
        base={"name": "Service C", "alert_emails": "alertes@example.org"},
        submit=lambda body: client.post("/coordination/services", data=body),
        stored=lambda: (count(MemberService), count(AuditEntry)),
        max_examples=1000,
    )


def test_member_service_edit_refuses_every_bad_field(app: Flask, client: FlaskClient) -> None:
    login(client, make_user("coordinator"))
    make_user(service="Service B")
    service = make_user(service="Service A").service
    assert service is not None
    before = (service.name, service.alert_emails, service.active)
    one_field_at_a_time(
        service_fields("Service B", editing=True),
        base={"name": "Service C", "alert_emails": "alertes@example.org", "active": "y"},
        submit=lambda body: client.post(f"/coordination/services/{service.id}", data=body),
        stored=lambda: (count(AuditEntry), service_row(service.id)),
        max_examples=500,
    )
    assert service_row(service.id) == before


def service_row(ident: int) -> tuple[str, str, bool]:
    row = db.session.execute(
        select(MemberService.name, MemberService.alert_emails, MemberService.active).where(
            MemberService.id == ident
        )
    ).one()
    return (row.name, row.alert_emails, row.active)


# --- the console: reject and resolve notes --------------------------------------------------


def note_field(name: str) -> Field:
    return Field(
        name,
        printable_text(1, 200).filter(lambda t: bool(t.strip())),
        st.one_of(
            st.sampled_from(["", " ", "\r\n", "\t \n"]),
            long_text(),
            st.builds(lambda a, b: f"{a}\x00{b}", form_text(20), form_text(20)),
        ).filter(utf8),
    )


def fuzz_note(
    client: FlaskClient, url: str, name: str, state: Callable[[], object], n: int = 200
) -> None:
    before = state()
    run_fuzz(
        [note_field(name)],
        submit=lambda body: client.post(url, data=body),
        field_errors=console_errors,
        stored=lambda: (state(), count(AuditEntry)),
        max_examples=n,
    )
    assert state() == before


def test_reject_refuses_every_bad_reason(app: Flask, client: FlaskClient) -> None:
    login(client, make_user("coordinator"))
    report = file_report(make_user()).report
    fuzz_note(
        client,
        f"/coordination/signalements/{report.id}/rejeter",
        "reason",
        lambda: db.session.scalar(select(Report.review_state).where(Report.id == report.id)),
    )


def test_resolve_refuses_every_bad_note(app: Flask, client: FlaskClient) -> None:
    login(client, make_user("coordinator"))
    situation = file_report(make_user()).new_situations[0]
    fuzz_note(
        client,
        f"/coordination/situations/{situation.id}/resoudre",
        "note",
        lambda: db.session.scalar(select(Situation.status).where(Situation.id == situation.id)),
    )


# --- the second step (issue 29) ----------------------------------------------------------------

SECOND_STEP_TEXT = st.one_of(
    form_text(80),
    hostile(),
    st.from_regex(r"[0-9 ]{0,10}", fullmatch=True),
    st.from_regex(r"[a-zA-Z2-9 -]{14,24}", fullmatch=True),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | form_text(40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(form_text(12), inner, max_size=4),
    max_leaves=12,
)


def with_totp(user: User) -> None:
    user.totp_secret, user.totp_confirmed_at = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", clock.now()
    db.session.commit()


def test_the_second_step_form_takes_anything_without_a_5xx(app: Flask) -> None:
    """Typed codes (wrong, hostile, recovery-shaped): refused with a French message, 429
    once throttled, never a 5xx, never signed in."""
    user = make_user(email="deux@example.org")
    with_totp(user)

    @fuzz_settings(300)
    @given(code=SECOND_STEP_TEXT, address=st.sampled_from(["192.0.2.1", "192.0.2.2"]))
    def check(code: str, address: str) -> None:
        db.session.execute(delete(SecondStepFailure))
        db.session.commit()
        client = app.test_client()
        password = client.post("/connexion", data={"email": user.email, "password": PASSWORD})
        assert password.status_code == 303
        response = client.post(
            "/connexion/deuxieme-etape", data={"code": code}, environ_base={"REMOTE_ADDR": address}
        )
        assert response.status_code in (422, 429), (response.status_code, code)
        page = page_of(response)
        assert "Code incorrect" in page or intake_errors(response).get("code"), code
        assert client.get("/profil").status_code != 200

    check()


def test_the_setup_forms_take_anything_without_a_5xx(app: Flask, client: FlaskClient) -> None:
    """The first code of the app, the password asked again, the passkey ceremonies' JSON:
    refused (4xx), never a 5xx, nothing stored."""
    user = make_user(email="setup@example.org")
    login(client, user)
    client.get("/profil/deuxieme-etape")

    def stored() -> tuple[int, int, str]:
        db.session.expire_all()
        fresh = db.session.get(User, user.id)
        assert fresh is not None
        return count(RecoveryCode), count(PasskeyCredential), fresh.totp_secret

    before = stored()

    @fuzz_settings(200)
    @given(code=SECOND_STEP_TEXT, password=form_text(60), body=JSON_VALUES)
    def check(code: str, password: str, body: Any) -> None:
        totp = client.post("/profil/deuxieme-etape/application", data={"code": code})
        assert totp.status_code == 422, (totp.status_code, code)
        assert intake_errors(totp)["code"]
        for path in ("/profil/deuxieme-etape/codes", "/profil/deuxieme-etape/desactiver"):
            answer = client.post(path, data={"password": password})
            assert answer.status_code in (303, 422), (path, answer.status_code)
        client.post("/profil/deuxieme-etape/cles/options")
        passkey = client.post(
            "/profil/deuxieme-etape/cles", json={"credential": body, "name": code}
        )
        assert 400 <= passkey.status_code < 500, passkey.status_code
        raw = client.post(
            "/profil/deuxieme-etape/cles", data=str(body), content_type="application/json"
        )
        assert 400 <= raw.status_code < 500, raw.status_code
        assert stored() == before

    check()


def test_the_passkey_sign_in_takes_any_json_without_a_5xx(app: Flask) -> None:
    user = make_user(email="cle@example.org")
    db.session.add(
        PasskeyCredential(user_id=user.id, credential_id="AAAA", public_key=b"\x00", name="x")
    )
    db.session.commit()

    @fuzz_settings(200)
    @given(body=JSON_VALUES, raw_id=st.sampled_from(["AAAA", "BBBB", "", "!!"]))
    def check(body: Any, raw_id: str) -> None:
        db.session.execute(delete(SecondStepFailure))
        db.session.commit()
        client = app.test_client()
        client.post("/connexion", data={"email": user.email, "password": PASSWORD})
        assert client.post("/connexion/deuxieme-etape/cle/options").status_code == 200
        shaped = {"id": raw_id, "rawId": raw_id, "type": "public-key", "response": body}
        for sent in (body, shaped):
            response = client.post("/connexion/deuxieme-etape/cle", json=sent)
            assert 400 <= response.status_code < 500, response.status_code
        assert client.get("/profil").status_code != 200

    check()


def test_the_session_forms_take_anything_without_a_5xx(app: Flask) -> None:
    """The sessions page's and the console's « Terminer » forms: any id (out of range,
    someone else's), any extra field; never a 5xx, and a person's own forms never end
    another account's session."""
    worker = make_user(email="sessions-fuzz@example.org")
    other = make_user(email="autre-fuzz@example.org")
    coordinator = make_user(email="coord-fuzz@example.org", role="coordinator")
    client = app.test_client()
    login(client, worker)
    console = app.test_client()
    login(console, coordinator)
    login(app.test_client(), other)
    theirs = select(UserSession).filter_by(user_id=other.id, ended_at=None)

    @fuzz_settings(400)
    @given(
        ident=st.one_of(st.integers(-(2**70), 2**70), st.sampled_from([0, 1, 2, 3, 2**31, 2**63])),
        extra=st.one_of(printable_text(max_size=2000), st.sampled_from(HOSTILE_FRAGMENTS)),
    )
    def check(ident: int, extra: str) -> None:
        for url in (
            f"/profil/sessions/{ident}/terminer",
            "/profil/sessions/terminer-les-autres",
        ):
            response = client.post(url, data={"x": extra})
            assert response.status_code < 500, (url, response.status_code)
        if ident != other.id:  # the coordinator's form ends that account's sessions: its job
            response = console.post(
                f"/coordination/utilisateurs/{ident}/sessions/terminer", data={"x": extra}
            )
            assert response.status_code < 500, response.status_code
        assert db.session.scalars(theirs).first() is not None

    check()
