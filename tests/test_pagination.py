"""Every list of the console, filled past two pages and walked to the end, as a coordinator.

The lists page by 50: 120 rows make three pages. Each page is followed through
its "next" link (so the links the pager builds are the ones tested), and odd
page numbers (0, negative, text, 10**20) answer a page, never an error.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from alerts.follow.models import Follower
from alerts.models import Notification
from barometre import clock
from barometre.console.views import PER_PAGE
from barometre.extensions import db
from barometre.models import (
    AuditEntry,
    Condition,
    Establishment,
    Report,
    Situation,
    User,
)
from tests.conftest import file_report, login, make_user

ROWS = 2 * PER_PAGE + 20
NEXT = re.compile(r'<nav class="pager".*?</nav>', re.S)
HREF = re.compile(r'<a href="([^"]+)">([^<]*)</a>')
EMAIL = re.compile(r"<tr><td>([^<@]+@[^<]+)</td>")
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def fill_reports_and_situations() -> None:
    """ROWS reports, each opening its own situation (a new establishment × condition)."""
    worker = make_user()
    for n in range(3):
        db.session.add(Establishment(slug=f"prison-{n}", name=f"Prison {n}"))
    db.session.commit()
    slugs = list(db.session.scalars(select(Establishment.slug).order_by(Establishment.slug)))
    codes = list(db.session.scalars(select(Condition.code).where(Condition.retired_at.is_(None))))
    pairs = [(slug, code) for code in codes for slug in slugs][:ROWS]
    assert len(pairs) == ROWS, "the référentiel has enough pairs"
    for slug, code in pairs:
        file_report(worker, establishment=slug, conditions=(code,), offer_types=("individuel",))


def fill_journal_users_and_notifications() -> None:
    coordinator = make_user("coordinator")
    for n in range(ROWS):
        db.session.add(AuditEntry(actor_id=coordinator.id, action="user.update", detail={"n": n}))
        db.session.add(
            User(email=f"compte-{n:03d}@example.org", role="coordinator", password_hash="")
        )
        db.session.add(
            Notification(
                kind="digest",
                recipient=f"contact-{n:03d}@example.org",
                recipient_kind="contact",
                give_up_at=clock.now() + timedelta(days=1),
            )
        )
    db.session.commit()


def count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def page_text(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def walk(console: FlaskClient, url: str) -> list[str]:
    """Follow the "next" links from `url`; every page answers 200. The pages' numbers."""
    seen = []
    while url:
        response = console.get(url)
        assert response.status_code == 200, (url, response.status_code)
        text = page_text(response)
        numbers = re.search(r"Page (\d+) sur (\d+)", text)
        assert numbers, url
        seen.append(numbers.group(1) + "/" + numbers.group(2))
        pager = NEXT.search(text)
        assert pager, url
        links = {label.strip(): href for href, label in HREF.findall(pager.group(0))}
        url = links.get("Suivante →", "")
        if seen[-1] != "1/3":
            assert "← Précédente" in links, url
    return seen


LISTS = [
    "/coordination/signalements",
    "/coordination/signalements?state=unreviewed&offer_type=individuel",
    "/coordination/situations?state=open",
    "/coordination/situations?state=open&offer_type=individuel",
    "/coordination/journal",
    "/coordination/utilisateurs",
]


def test_every_paginated_list_walks_past_two_pages(client: FlaskClient) -> None:
    fill_reports_and_situations()
    fill_journal_users_and_notifications()
    assert count(Report) == ROWS and count(Situation) == ROWS
    login(client, make_user("coordinator"))
    for url in LISTS:
        assert walk(client, url) == ["1/3", "2/3", "3/3"], url
    # The situations list without a state goes to the open ones first.
    assert client.get("/coordination/situations?page=2").status_code == 302
    # The notification log is not paged: its most recent rows, one page.
    response = client.get("/coordination/notifications")
    assert response.status_code == 200
    assert f"contact-{ROWS - 1:03d}@example.org" in page_text(response)


@pytest.mark.parametrize(
    ("number", "shown"),
    [
        ("2", "2/3"),
        ("0", "1/3"),
        ("-4", "1/3"),
        ("deux", "1/3"),
        ("3", "3/3"),
        ("4", "3/3"),
        (str(10**20), "3/3"),
        ("9" * 5000, "1/3"),
    ],
)
def test_any_page_number_shows_a_page(client: FlaskClient, number: str, shown: str) -> None:
    fill_journal_users_and_notifications()
    login(client, make_user("coordinator"))
    for url in ("/coordination/journal", "/coordination/utilisateurs"):
        response = client.get(url, query_string={"page": number})
        assert response.status_code == 200, (url, number, response.status_code)
        found = re.search(r"Page (\d+) sur (\d+)", page_text(response))
        assert found and f"{found.group(1)}/{found.group(2)}" == shown, (url, number)


def test_no_template_rebinds_the_translation_function() -> None:
    """`{% set _ = … %}` replaced `_` inside the pager macro: every list past 50 rows failed."""
    offenders = [
        str(path.relative_to(TEMPLATES))
        for path in TEMPLATES.rglob("*")
        if path.is_file() and re.search(r"\{%-?\s*set\s+_\s*=", path.read_text("utf-8"))
    ]
    assert offenders == []


def test_a_pager_keeps_every_parameter_as_it_came(client: FlaskClient) -> None:
    """Names that mean something to url_for are data in a query string (issue 24)."""
    fill_journal_users_and_notifications()
    login(client, make_user("coordinator"))
    given = "endpoint=x&_scheme=javascript&_external=1"
    response = client.get(f"/coordination/journal?{given}&x=a&x=b")
    assert response.status_code == 200
    links = dict((label.strip(), href) for href, label in HREF.findall(page_text(response)))
    assert links["Suivante →"] == f"/coordination/journal?{given}&x=a&x=b&page=2"
    opened = client.get(f"/coordination/situations?{given}&page=2")
    assert opened.status_code == 302
    assert opened.headers["Location"] == f"/coordination/situations?{given}&page=2&state=open"


@pytest.mark.parametrize(
    "chosen", [str(2**31), str(2**63), str(2**64), "-1", "0", "1e9", "abc", "", "\u0661", " 1"]
)
def test_the_followers_list_ignores_an_establishment_it_does_not_offer(
    client: FlaskClient, chosen: str
) -> None:
    haren, other = db.session.scalars(select(Establishment).order_by(Establishment.id)).all()[:2]
    db.session.add_all(
        [
            Follower(establishment_id=haren.id, email="un@example.org"),
            Follower(establishment_id=other.id, email="deux@example.org"),
        ]
    )
    db.session.commit()
    login(client, make_user("coordinator"))
    response = client.get("/coordination/abonnes", query_string={"etablissement": chosen})
    assert response.status_code == 200
    assert {"un@example.org", "deux@example.org"} <= set(EMAIL.findall(page_text(response)))
    narrowed = client.get("/coordination/abonnes", query_string={"etablissement": haren.id})
    assert set(EMAIL.findall(page_text(narrowed))) == {"un@example.org"}
