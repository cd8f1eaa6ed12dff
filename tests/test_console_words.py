"""The console in words (issue 26): filters, offer types, the journal's details, the banner."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from alerts import trouble
from alerts.models import Notification
from barometre import clock
from barometre.console.models import Export
from barometre.console.views.journal import AUDIT_LABELS
from barometre.extensions import db
from barometre.models import (
    AuditEntry,
    Condition,
    Contact,
    Establishment,
    MemberService,
    User,
)
from tests.conftest import file_report, login, one_line
from tests.test_console_home import console_pages

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def console(client: FlaskClient, coordinator: User) -> FlaskClient:
    login(client, coordinator)
    return client


def text(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def first_options(page: str) -> dict[str, str]:
    """Each filter select's first option (the one that filters nothing)."""
    found = re.findall(r'<select[^>]*name="(\w+)"[^>]*>\s*<option[^>]*>([^<]*)</option>', page)
    return dict(found)


def test_each_filter_says_what_it_leaves_open(console: FlaskClient) -> None:
    """« Catégorie : Tous » read wrong: each « all » agrees with its noun."""
    for path in ("/coordination/signalements", "/coordination/situations?state="):
        options = first_options(text(console.get(path)))
        options.pop("lang", None)  # the page's language menu
        assert options == {
            "establishment": "Tous les établissements",
            "category": "Toutes les catégories",
            "offer_type": "Tous les types d'offre",
            "service": "Tous les services",
            "state": "Tous les états",
        }


def test_one_offer_type_is_singular_and_lower_case(console: FlaskClient, worker: User) -> None:
    report = file_report(worker, conditions=("ACC-01",), offer_types=("individuel",)).report
    assert report is not None
    page = text(console.get(f"/coordination/signalements/{report.id}"))
    assert "type d'offre\xa0: individuel" in page
    assert "types d'offre\xa0: individuel" not in page and "offre\xa0: Individuel" not in page
    two = file_report(
        worker, conditions=("ACC-01",), offer_types=("individuel", "collectif")
    ).report
    assert two is not None
    page = text(console.get(f"/coordination/signalements/{two.id}"))
    assert "types d'offre\xa0: individuel, collectif" in page


def test_the_journal_says_its_details_in_words(console: FlaskClient) -> None:
    haren = db.session.scalar(select(Establishment).where(Establishment.slug == "haren"))
    service = MemberService(name="Service Haren")
    db.session.add(service)
    db.session.flush()
    assert haren is not None
    db.session.add_all(
        [
            AuditEntry(action="user.update", detail={"role": "worker", "service": service.id}),
            AuditEntry(action="user.invite", detail={"role": "coordinator"}),
            AuditEntry(
                action="export.create",
                detail={"kind": "reports", "format": "csv", "category": "SEC", "state": "open"},
            ),
            AuditEntry(action="report.reject", detail={"establishment": "haren"}),
            AuditEntry(action="address.preferences", detail={"alerts": False, "digest": True}),
            AuditEntry(action="establishment.rename", detail={"slug": "haren", "languages": "nl"}),
            AuditEntry(action="custom.thing", detail={"some_new_key": "x"}),
        ]
    )
    db.session.flush()
    page = text(console.get("/coordination/journal"))
    assert "rôle\xa0: travailleur · service membre\xa0: Service Haren" in page
    assert "rôle\xa0: coordinateur" in page
    assert "export\xa0: signalements, CSV · catégorie\xa0: sécurité · état\xa0: ouverte" in page
    assert f"établissement\xa0: {haren.name}" in page
    assert "alertes\xa0: non · synthèse hebdomadaire\xa0: oui" in page
    assert "langues modifiées\xa0: néerlandais" in page
    assert "some new key\xa0: x" in page  # an unknown key stays readable
    for raw in (
        "role\xa0:",
        "worker",
        "kind\xa0:",
        "format\xa0:",
        "reports ·",
        "alerts\xa0:",
        "slug\xa0:",
    ):
        assert raw not in page, raw


def test_the_journal_says_its_details_in_dutch(console: FlaskClient) -> None:
    db.session.add(
        AuditEntry(action="export.create", detail={"kind": "situations", "format": "xlsx"})
    )
    db.session.add(AuditEntry(action="user.invite", detail={"role": "worker"}))
    db.session.flush()
    page = text(console.get("/coordination/journal", headers={"Accept-Language": "nl"}))
    assert "export: situaties, XLSX" in page
    assert "rol: medewerker" in page


def test_every_audited_action_has_its_words() -> None:
    """No action of the journal is shown as its code (`audit(…, "x.y", …)` in the code)."""
    sources = [
        path
        for package in ("barometre", "intake", "alerts")
        for path in (ROOT / package).rglob("*.py")
    ]
    literal = re.compile(r"""audit\(\s*[\w.]+,\s*[\w.]+,\s*"([a-z_.]+)\"""")
    conditional = re.compile(r'"([a-z_]+\.[a-z_.]+)" if \w+ else "([a-z_]+\.[a-z_.]+)"')
    actions: set[str] = set()
    for path in sources:
        source = path.read_text()
        actions.update(literal.findall(source))
        for pair in conditional.findall(source):
            actions.update(a for a in pair if a.split(".")[0] in {"establishment", "condition"})
    assert {"user.update", "export.create", "establishment.deactivate"} <= actions
    assert not actions - set(AUDIT_LABELS), sorted(actions - set(AUDIT_LABELS))


def test_an_export_says_its_filters_in_words(console: FlaskClient, coordinator: User) -> None:
    row = Export(
        kind="reports",
        format="csv",
        filters={"category": "SEC", "offer_type": "individuel", "date_from": "2026-11-02"},
        created_by_id=coordinator.id,
    )
    db.session.add(row)
    db.session.flush()
    page = text(console.get(f"/coordination/exports/{row.id}"))
    found = re.search(r'<p id="export-filters">(.*?)</p>', page)
    assert found is not None
    assert found.group(1) == (
        "Filtres\xa0: catégorie\xa0: sécurité · type d'offre\xa0: individuel · visite du\xa0: "
        "2 novembre 2026"
    )


def failed_email(recipient: str, error: str, state: str = "failed") -> Notification:
    now = clock.now()
    row = Notification(
        kind="rise",
        recipient=recipient,
        recipient_kind="contact",
        state=state,
        last_error=error,
        give_up_at=now,
        created_at=now,
        next_attempt_at=now,
    )
    db.session.add(row)
    db.session.flush()
    return row


def banner(page: str) -> list[str]:
    found = re.findall(r'<p class="flash flash-error console-trouble"[^>]*>(.*?)</p>', page, re.S)
    return [one_line(re.sub(r"<[^>]+>", "", p)) for p in found]


@pytest.mark.parametrize(
    "error",
    [
        "550 5.1.1 Boîte inconnue",
        "553 mailbox name not allowed",
        "554 5.1.2 no such domain",
        "Adresse refusée\xa0: pas une adresse",
    ],
)
def test_a_refused_address_asks_for_a_correction_not_a_retry(
    console: FlaskClient, error: str
) -> None:
    haren = db.session.scalar(select(Establishment).where(Establishment.slug == "haren"))
    contact = Contact(establishment=haren, email="boite-inconnue@haren.test")
    db.session.add(contact)
    failed = failed_email("Boite-Inconnue@haren.test", error)
    page = text(console.get("/coordination/signalements"))
    assert banner(page) == [
        "1 courriel refusé\xa0: adresse à corriger — corrigez l'adresse là où elle est enregistrée"
        " (un nouvel essai serait refusé de même), puis ignorez l'échec."
    ]
    log = console.get("/coordination/notifications?state=failed").get_data(as_text=True)
    row = log.split(f'id="corriger-{failed.id}"')[1].split("</tr>")[0]
    assert f'href="/coordination/contacts/{contact.id}"' in row
    assert "corrigez-la là où elle est enregistrée plutôt que" in html.unescape(row)
    assert "retry" not in row and "ignorer" in row  # no retry button; dismissing stays


def test_the_banner_counts_in_the_singular_and_the_plural(console: FlaskClient) -> None:
    failed_email("a@haren.test", "Abandon après 24 h\xa0: 421 try later")
    page = text(console.get("/coordination/signalements"))
    assert banner(page) == [
        "1 courriel en échec (non remis) — relancez-le ou ignorez-le depuis le journal des"
        " notifications."
    ]
    failed_email("b@haren.test", "451 4.3.0 try later")
    failed_email("c@haren.test", "Envoi interrompu", state="uncertain")
    page = text(console.get("/coordination/signalements"))
    assert banner(page) == [
        "2 courriels en échec (non remis) — relancez-les ou ignorez-les depuis le journal des"
        " notifications.",
        "1 courriel incertain (peut-être non remis) — relancez-le ou ignorez-le depuis le"
        " journal des notifications.",
    ]
    log = console.get("/coordination/notifications?state=failed").get_data(as_text=True)
    assert "corriger-" not in log and log.count("/retry") == 2


def test_only_an_address_failure_is_refused() -> None:
    assert trouble.address_refused("550 5.1.1 User unknown")
    assert trouble.address_refused("551 User not local")
    assert trouble.address_refused("554 5.1.2 Bad destination system address")
    assert trouble.address_refused("Adresse refusée\xa0: caractères interdits")
    assert not trouble.address_refused("535 5.7.8 Authentication failed")
    assert not trouble.address_refused("554 5.7.1 Message refused as spam")
    assert not trouble.address_refused("Abandon après 24 h\xa0: 550 5.1.1 User unknown")
    assert not trouble.address_refused("421 4.7.0 Try again later")


def test_an_address_choice_reads_naturally(console: FlaskClient) -> None:
    """« Choix de alertes@… » did not elide: « Ce que reçoit … », « Choix enregistrés pour … »."""
    haren = db.session.scalar(select(Establishment).where(Establishment.slug == "haren"))
    db.session.add(Contact(establishment=haren, email="alertes@haren.test"))
    db.session.flush()
    book = text(console.get("/coordination/adresses"))
    assert "<legend>Ce que reçoit alertes@haren.test</legend>" in book
    assert "Choix de alertes" not in book
    response = console.post(
        "/coordination/adresses",
        data={"email": "alertes@haren.test", "alerts": "1", "digest": ""},
        follow_redirects=True,
    )
    page = text(response)
    assert "Choix enregistrés pour alertes@haren.test." in page
    assert "Choix de alertes" not in page


# Other helpers of issue 26 reword the emails and the public pages: their files are theirs.
ELSEWHERE = ("templates/emails/", "templates/barometre/")
ELSEWHERE_FILES = {"alerts/emails.py", "alerts/events.py", "alerts/digest.py"}


def french_messages() -> list[tuple[str, str]]:
    """(file, msgid) of every French source string, extracted as `make translations` does."""
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
    found = []
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        for text in message if isinstance(message, tuple) else (message,):
            found.append((filename, text))
    return found


def test_french_says_courriel() -> None:
    """French prose says « courriel », its address « adresse électronique » (docs/glossary.md)."""
    english = re.compile(r"\be-?mails?\b", re.IGNORECASE)
    placeholder = re.compile(r"%\(\w+\)[sd]")
    wrong = [
        (filename, text)
        for filename, text in french_messages()
        if not filename.startswith(ELSEWHERE)
        and filename not in ELSEWHERE_FILES
        and english.search(placeholder.sub("", text))
    ]
    assert not wrong, wrong
    glossary = (ROOT / "docs" / "glossary.md").read_text()
    assert "| courriel | e-mail | email |" in glossary


def test_no_capital_after_a_colon_on_the_console(app: Flask, console: FlaskClient) -> None:
    """« Type : Individuel », « Catégorie : Sécurité »: lower-case after a colon in French."""
    report = file_report(conditions=("SEC-01",), offer_types=("individuel",)).report
    assert report is not None
    condition = db.session.scalar(select(Condition).where(Condition.code == "SEC-01"))
    assert condition is not None
    pages = [
        *sorted(console_pages(app)),
        f"/coordination/signalements/{report.id}",
        f"/coordination/referentiel/{condition.id}",
    ]
    capital = re.compile(r"\S+ : (?![A-Z]{2,}\b)[A-ZÉÈÀ]\w*")
    found = []
    for path in pages:
        body = console.get(path, follow_redirects=True).get_data(as_text=True)
        words = html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<script.*?</script>", "", body)))
        found += [(path, hit) for hit in capital.findall(" ".join(words.split()))]
    assert not found, found
    page = text(console.get(f"/coordination/referentiel/{condition.id}"))
    assert "Catégorie\xa0: sécurité (le code" in page
