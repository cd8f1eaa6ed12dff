"""Hostile text everywhere text is stored: one rule at the edge, and exports that never break.

- Every free-text field filled through the API and the forms with formulas,
  2 000-character strings, accents and emoji: accepted, and the CSV and XLSX
  exports of reports and situations succeed, are readable (openpyxl) and keep
  formulas neutralised.
- Control characters, right-to-left overrides and the other characters outside
  the rule are refused at every edge: a French 422 per field in the API, a form
  error in the pages, an error message in the CLI.
- A row stored before the rule (inserted directly) with control characters:
  the exports still succeed, the Atom feed and the SVG badge stay valid XML.
"""

from __future__ import annotations

import csv
import html
import io
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import openpyxl
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from barometre import clock
from barometre.console import exports
from barometre.console.filters import Filters
from barometre.console.models import Export
from barometre.extensions import db
from barometre.models import Condition, Establishment, Report, Situation, User
from barometre.text import printable, printable_only, refusal
from tests.conftest import bearer, file_report, login, make_user

FORMULAS = ["=cmd|' /C calc'!A0", "+1", "-1", "@SUM(A1:A2)"]
LONG = ("Très long signalement, accentué\xa0: é à ç œ. " * 60)[:2000]
FRIENDLY = [
    "Prison d'Haren — accès refusé «\xa0sans motif\xa0»\xa0: àéèêëïîôùûüÿçœæ ÀÉÈ",
    "Attente 😀 👍🏽 👨\u200d👩\u200d👧 ✓ € ½ 中文 العربية",
    "ligne 1\r\nligne 2\n\tindentée",
]
HOSTILE = [*FORMULAS, LONG, *FRIENDLY]
# Characters outside the rule, each in a different class.
FORBIDDEN = {
    "form feed (C0)": "ligne 1\x0cligne 2",
    "escape (C0)": "rouge\x1b[31m",
    "delete": "a\x7fb",
    "next line (C1)": "a\x85b",
    "RTL override (Cf)": "txt.\u202eexe",
    "zero width space (Cf)": "a\u200bb",
    "byte order mark (Cf)": "\ufeffdébut",
    "line separator (Zl)": "a\u2028b",
    "private use (Co)": "a\ue000b",
    "unassigned (Cn)": "a\u0378b",
    "non-character": "a\uffffb",
}
SAMPLE_FORBIDDEN = ["ligne 1\x0cligne 2", "txt.\u202eexe", "a\x85b", "\x01"]


def page(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def refused_in_page(response: Any) -> bool:
    return response.status_code == 422 and "caractère interdit" in page(response)


# --- the rule itself -----------------------------------------------------------------------


@pytest.mark.parametrize("text", [*HOSTILE, "", " ", "a\xa0b", "l'été\u200cx"])
def test_the_rule_accepts_letters_marks_numbers_punctuation_symbols_spaces(text: str) -> None:
    assert printable(text)
    assert printable_only(text) == text


@pytest.mark.parametrize("name", FORBIDDEN)
def test_the_rule_refuses_every_other_character(app: Flask, name: str) -> None:
    text = FORBIDDEN[name]
    assert not printable(text)
    message = refusal(text)
    assert message and "caractère interdit" in message and "U+" in message
    assert printable(printable_only(text))


def test_one_line_fields_refuse_line_breaks_and_tabs(app: Flask) -> None:
    for text in ("a\nb", "a\r\nb", "a\tb", "a\rb"):
        assert printable(text.replace("\r", "")) or text == "a\rb"
        assert not printable(text, multiline=False)
        assert refusal(text, multiline=False)
    assert not printable("a\rb")  # a lone carriage return is a control character


# --- refused at every edge ----------------------------------------------------------------


@pytest.fixture
def people(app: Flask) -> tuple[User, User]:
    return make_user(), make_user("coordinator")


def api_report(client: FlaskClient, headers: dict[str, str], **fields: Any) -> Any:
    body = {
        "establishment": "haren",
        "visit_date": clock.today().isoformat(),
        "conditions": ["SEC-01"],
        "offer_types": ["individuel"],
        **fields,
    }
    return client.post("/api/v1/reports", json=body, headers=headers)


@pytest.mark.parametrize("bad", SAMPLE_FORBIDDEN)
def test_the_api_refuses_forbidden_characters_with_a_french_422(
    client: FlaskClient, people: tuple[User, User], bad: str
) -> None:
    worker, coordinator = people
    report = file_report(worker).report
    situation = db.session.scalars(select(Situation)).first()
    assert report is not None and situation is not None
    worker_headers, coordinator_headers = bearer(worker), bearer(coordinator)
    answers = {
        "description": api_report(client, worker_headers, description=bad),
        "establishment": api_report(client, worker_headers, establishment="haren" + bad),
        "conditions": api_report(client, worker_headers, conditions=["SEC-01" + bad]),
        "note": client.post(
            f"/api/v1/situations/{situation.id}/resolve",
            json={"note": bad},
            headers=coordinator_headers,
        ),
        "reason": client.post(
            f"/api/v1/reports/{report.id}/reject", json={"reason": bad}, headers=coordinator_headers
        ),
    }
    for field, response in answers.items():
        assert response.status_code == 422, (field, response.status_code)
        messages = response.get_json()["errors"][field]
        assert any("caractère interdit" in m for m in messages), (field, messages)
    assert db.session.scalar(select(Report.review_state)) == "unreviewed"
    assert db.session.scalar(select(Situation.status)) == "open"


@pytest.mark.parametrize("bad", SAMPLE_FORBIDDEN)
def test_the_forms_refuse_forbidden_characters(
    client: FlaskClient, people: tuple[User, User], bad: str
) -> None:
    worker, coordinator = people
    login(client, worker)
    today = clock.today().isoformat()
    questionnaire = {
        "establishment": "haren",
        "visit_date": today,
        "conditions": "SEC-01",
        "offer_types": "individuel",
        "description": bad,
    }
    assert refused_in_page(client.post("/signalement", data=questionnaire))
    assert refused_in_page(client.post("/jetons", data={"name": "jeton" + bad}))
    login(client, coordinator)
    haren = db.session.scalar(select(Establishment).where(Establishment.slug == "haren"))
    assert haren is not None
    report = file_report(worker).report
    situation = db.session.scalars(select(Situation)).first()
    assert report is not None and situation is not None
    condition = db.session.scalars(select(Condition)).first()
    assert condition is not None
    posts = [
        ("/coordination/etablissements", {"name": "Prison" + bad}),
        (f"/coordination/etablissements/{haren.id}", {"name": "Haren" + bad}),
        (f"/coordination/etablissements/{haren.id}/note", {"note": "Note" + bad}),
        (
            f"/coordination/etablissements/{haren.id}/contacts",
            {"new-email": "greffe@example.org", "new-name": "Greffe" + bad, "new-language": "fr"},
        ),
        ("/coordination/services", {"name": "Service" + bad, "alert_emails": ""}),
        ("/coordination/referentiel", {"category": "SEC", "label_fr": "Libellé" + bad}),
        (f"/coordination/referentiel/{condition.id}", {"label_fr": "Libellé" + bad}),
        (
            f"/coordination/referentiel/{condition.id}",
            {"label_fr": "Libellé", "examples": "Exemple" + bad},
        ),
        (f"/coordination/signalements/{report.id}/rejeter", {"reason": bad}),
        (f"/coordination/situations/{situation.id}/resoudre", {"note": bad}),
        (
            "/coordination/utilisateurs/inviter",
            {"email": "nouveau@example.org", "name": "Nom" + bad, "role": "coordinator"},
        ),
    ]
    for url, data in posts:
        response = client.post(url, data=data)
        assert refused_in_page(response), (url, response.status_code)
    assert db.session.scalar(select(Report.review_state)) == "unreviewed"
    assert db.session.scalar(select(Establishment.name).where(Establishment.id == haren.id)) == (
        haren.name
    )


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_cli_refuses_forbidden_characters(app: Flask) -> None:
    runner = app.test_cli_runner()
    commands = [
        ["users", "create", "cli@example.org", "--role", "coordinator", "--name", "Nom\x1b[31m"],
        ["users", "create", "cli@example.org", "--service", "Service\u202e"],
        ["services", "add", "Ser\x0cvice", "--email", "alertes@example.org"],
        ["contacts", "add", "haren", "greffe@example.org", "--name", "Gre\x85ffe"],
    ]
    for args in commands:
        result = runner.invoke(args=args)
        assert result.exit_code != 0, (args, result.output)
        assert "caractère interdit" in result.output, (args, result.output)
    assert db.session.scalar(select(User).where(User.email == "cli@example.org")) is None


# --- hostile but acceptable text, then the exports -----------------------------------------


def signed_out(client: FlaskClient) -> None:
    with client.session_transaction() as session:
        session.clear()


def run_export(actor: User, kind: str, fmt: str) -> Path:
    row = exports.create_export(db.session, actor, kind, fmt, Filters())
    db.session.commit()
    exports.run_export(row.id)
    db.session.expire_all()
    done = db.session.get(Export, row.id)
    assert done is not None and done.state == "done", (kind, fmt, done and done.error)
    return Path(done.file_path or "")


def exported_cells(path: Path) -> list[str]:
    """Every cell of an export as text, read back as a spreadsheet would."""
    if path.suffix == ".csv":
        text = path.read_text("utf-8-sig")
        return [c for row in csv.reader(io.StringIO(text), delimiter=";") for c in row]
    book = openpyxl.load_workbook(path, read_only=True)
    return [
        "" if v is None else str(v)
        for row in book.worksheets[0].iter_rows(values_only=True)
        for v in row
    ]


def lines(text: str) -> str:
    return text.replace("\r\n", "\n")


def check_exports(actor: User, expected: dict[str, list[str]]) -> None:
    for kind in ("reports", "situations"):
        for fmt in ("csv", "xlsx"):
            cells = exported_cells(run_export(actor, kind, fmt))
            assert cells, (kind, fmt)
            for value in expected[kind]:
                shown = "'" + value if value.startswith(tuple("=+-@")) else value
                # A line break comes back as "\n" (CSV read as text, XML normalised).
                assert any(lines(shown) == lines(c) for c in cells), (kind, fmt, value)
            assert not any(c.startswith(tuple("=+-@")) for c in cells if c), (kind, fmt)


def test_exports_of_hostile_data(client: FlaskClient, people: tuple[User, User]) -> None:
    worker, coordinator = people
    login(client, coordinator)
    # Names and wording through the console's forms (names are one line, 200 at most).
    names = [v for v in HOSTILE if "\n" not in v and len(v) <= 200]
    established = []
    for name in names:
        response = client.post("/coordination/etablissements", data={"name": name})
        assert response.status_code == 302, (name, page(response))
        ident = int(response.headers["Location"].rsplit("/", 1)[1])
        established.append(db.session.get(Establishment, ident))
    wording = []
    for label in HOSTILE[:4]:
        response = client.post(
            "/coordination/referentiel",
            data={"category": "SEC", "label_fr": label, "examples": label, "keywords": label},
        )
        assert response.status_code == 302, page(response)
        wording.append(label)
    new_codes = list(
        db.session.scalars(select(Condition.code).where(Condition.label_fr.in_(wording)))
    )
    for row in established[:2]:
        response = client.post(
            f"/coordination/etablissements/{row.id}/note", data={"note": HOSTILE[0]}
        )
        assert response.status_code == 302
        response = client.post(
            f"/coordination/etablissements/{row.id}/contacts",
            data={"new-email": "greffe@example.org", "new-name": "+1 Greffe", "new-language": "fr"},
        )
        assert response.status_code == 302
    assert (
        client.post(
            "/coordination/services", data={"name": "=SUM(1)", "alert_emails": ""}
        ).status_code
        == 302
    )
    member = make_user(service="=SUM(1)")
    assert member.service is not None and member.service.name == "=SUM(1)"

    # Reports through the API (every description; a token, no session) and the questionnaire.
    signed_out(client)
    headers = bearer(worker)
    for n, text in enumerate(HOSTILE):
        row = established[n % len(established)]
        code = new_codes[n % len(new_codes)]
        response = api_report(
            client, headers, establishment=row.slug, conditions=[code], description=text
        )
        assert response.status_code == 201, response.get_json()
    response = api_report(client, bearer(member), establishment=established[0].slug)
    assert response.status_code == 201, response.get_json()
    login(client, worker)
    response = client.post(
        "/signalement",
        data={
            "establishment": "haren",
            "visit_date": clock.today().isoformat(),
            "conditions": new_codes[0],
            "offer_types": "collectif",
            "description": "@questionnaire " + FRIENDLY[1],
        },
    )
    assert response.status_code == 303, page(response)

    # Resolve notes and reject reasons through the API (a token, no session).
    signed_out(client)
    coordinator_headers = bearer(coordinator)
    situations = list(db.session.scalars(select(Situation).order_by(Situation.id)))
    notes = HOSTILE[: min(len(HOSTILE), len(situations) - 1)]
    for situation, note in zip(situations, notes, strict=False):
        response = client.post(
            f"/api/v1/situations/{situation.id}/resolve",
            json={"note": note},
            headers=coordinator_headers,
        )
        assert response.status_code == 200, response.get_json()
    reports = list(db.session.scalars(select(Report).order_by(Report.id)))
    for report, reason in zip(reports, reversed(HOSTILE), strict=False):
        response = client.post(
            f"/api/v1/reports/{report.id}/reject",
            json={"reason": reason},
            headers=coordinator_headers,
        )
        assert response.status_code == 200, response.get_json()

    check_exports(
        coordinator,
        {
            "reports": [*HOSTILE, *names, "@questionnaire " + FRIENDLY[1], "=SUM(1)"],
            "situations": [*notes, *wording, *names],
        },
    )


# --- rows stored before the rule -----------------------------------------------------------

STORED = "Haren\x0c\x01\u202e\x1b"


def test_rows_stored_before_the_rule_still_export_and_keep_feed_and_badge_valid_xml(
    client: FlaskClient, people: tuple[User, User]
) -> None:
    worker, coordinator = people
    outcome = file_report(worker)
    assert outcome.changes, "the report changed the level: the feed has an entry"
    situation = outcome.new_situations[0]
    db.session.execute(
        update(Establishment).where(Establishment.slug == "haren").values(name=STORED)
    )
    db.session.execute(
        update(Report).values(description="ligne 1\x0cligne 2\x01", review_reason="\x02")
    )
    db.session.execute(
        update(Situation).where(Situation.id == situation.id).values(close_note="=1+1\x0b")
    )
    db.session.commit()

    login(client, worker)
    feed = client.get("/feed.atom")
    assert feed.status_code == 200
    root = ElementTree.fromstring(feed.data)  # noqa: S314 - our answer; invalid XML raises
    titles = [e.text or "" for e in root.iter("{http://www.w3.org/2005/Atom}title")]
    assert any(t.startswith("Haren\xa0:") for t in titles), titles
    badge = client.get("/badge/haren.svg")
    assert badge.status_code == 200
    svg = ElementTree.fromstring(badge.data)  # noqa: S314 - our own answer
    assert "Haren" in "".join(svg.itertext())

    for kind in ("reports", "situations"):
        for fmt in ("csv", "xlsx"):
            cells = exported_cells(run_export(coordinator, kind, fmt))
            assert "Haren" in cells, (kind, fmt)
            if kind == "reports":
                assert "ligne 1ligne 2" in cells, (kind, fmt)
            else:
                assert "'=1+1" in cells, (kind, fmt)  # dropping a control uncovers no formula
            assert not any(re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", c) for c in cells)
