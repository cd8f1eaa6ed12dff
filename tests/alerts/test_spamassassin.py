"""Every email kind, in every email language, passes SpamAssassin and strict parsing.

The messages are the real ones (`delivery.compose`: rendering, `build_message`,
the headers), made from a real scenario with frozen time: a rise, a red, its
reminder, the red lifted, back to green, the weekly digest and the coordinators'
delivery warning. Each is scored by Debian's `spamassassin -t -L` (local rules,
no network): below 1.0. Its headers are parsed with `email.policy.strict`.
"""

from __future__ import annotations

import mailbox
import re
import shutil
import subprocess
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, current_app
from freezegun import freeze_time
from sqlalchemy import select

from alerts import digest, reminders, trouble
from alerts.follow import service as follow
from alerts.kinds import EMAIL_KINDS, compose
from alerts.models import (
    INVITE,
    RESET,
    Notification,
    NotificationState,
)
from barometre import services, signals, two_step, user_sessions
from barometre.extensions import db
from barometre.languages import LANGUAGES as EMAIL_LANGUAGES
from barometre.models import ROLE_COORDINATOR, Establishment, Situation
from barometre.password_links import email_link
from tests.conftest import file_report, make_user

from .conftest import add_contact

KINDS = tuple(EMAIL_KINDS)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
# Emails a person asked for themselves: nothing to unsubscribe from.
TRANSACTIONAL = tuple(kind for kind, row in EMAIL_KINDS.items() if row.topic is None)
MAIL_FROM = "barometre@fidex.be"
BASE_URL = "https://barometre.fidex.be"
START = datetime(2026, 3, 2, 5)  # a Monday, 06:00 in Brussels
THRESHOLD = 1.0
LIST_UNSUBSCRIBE = re.compile(r"^<https?://[^>]+>(, *<mailto:[^>]+>)?$")
SCORE = re.compile(r"^Content analysis details:\s+\((-?\d+(?:\.\d+)?) points", re.MULTILINE)
RULE = re.compile(r"^\s*(-?\d+\.\d+)\s+(\S+)\s+(.*)$", re.MULTILINE)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"alert_group_wait": 0, "base_url": BASE_URL, "mail_from": MAIL_FROM}


@pytest.mark.parametrize("backend", ["sqlite"])
def test_every_email_scores_below_one_and_parses_strictly(app: Flask, tmp_path: Path) -> None:
    messages = [
        (kind, lang, message)
        for kind, row in one_of_each_kind().items()
        for lang in EMAIL_LANGUAGES
        for message in [composed(row, lang)]
    ]
    assert {kind for kind, _, _ in messages} == set(KINDS)
    for kind, lang, message in messages:
        check_headers(message.as_bytes(), lang, f"{kind}/{lang}", kind not in TRANSACTIONAL)
    # Proof that the rules run: the same email without its Date scores MISSING_DATE.
    undated = EmailMessage(policy=policy.default)
    undated.set_content("Bonjour,\nUn courriel sans date.\n")
    undated["Message-ID"] = "<undated@fidex.be>"
    reports = spamassassin([m for _, _, m in messages] + [undated], tmp_path)
    assert score_of(reports[("<undated@fidex.be>", None)]) >= THRESHOLD
    too_high = {}
    for kind, lang, message in messages:
        report = reports[(message["Message-ID"], lang)]
        if score_of(report) >= THRESHOLD:
            too_high[f"{kind}/{lang}"] = (score_of(report), rules_of(report))
    assert too_high == {}, too_high


# --- the scenario -----------------------------------------------------------------------


def settings() -> services.Settings:
    return current_app.config["SETTINGS"]  # type: ignore[no-any-return]


def one_of_each_kind() -> dict[str, Notification]:
    """Live the product for a week and a bit; one notification of every kind, to a contact
    (signed links) where it goes to contacts, else to a coordinator."""
    with freeze_time(START):
        add_contact("direction@prison-haren.be", language="fr")
        make_user(ROLE_COORDINATOR, email="coordination@fidex.be")
        worker = make_user()
        file_report(worker, conditions=("ACC-01",))  # a rise
        five = ("ACC-02", "ACC-03", "SEC-01", "SEC-02")
        file_report(worker, conditions=five, offer_types=("individuel", "collectif"))  # red
    with freeze_time(START + timedelta(days=7)):
        reminders.sweep(db.session, settings())
        db.session.commit()
        open_ids = db.session.scalars(
            select(Situation.id).where(Situation.status == "open").order_by(Situation.id)
        ).all()
        resolve(open_ids[:2])  # out of red, still orange: lifted
        resolve(open_ids[2:])  # back to green
        digest.plan(db.session, settings())
        db.session.commit()
        failed = db.session.scalars(select(Notification).order_by(Notification.id)).first()
        assert failed is not None
        failed.state, failed.last_error = NotificationState.FAILED, "550 5.1.1 Adresse inconnue"
        db.session.commit()
        trouble.warn_coordinators(db.session, settings())
        db.session.commit()
        invited = make_user(email="nouvelle@fidex.be")
        email_link(db.session, invited, INVITE)
        email_link(db.session, worker, RESET)
        two_step.reset(db.session, None, worker)  # the notice that a second step was reset
        # A sign-in from a second device: the account holder's warning.
        user_sessions.start(db.session, worker, FIREFOX, "192.0.2.1")
        chrome = user_sessions.start(db.session, worker, CHROME, "203.0.113.9")
        assert chrome.new_device
        signals.signed_in_from_new_device.send(db.session, user=worker, user_session=chrome.row)
        haren = db.session.scalars(select(Establishment).where(Establishment.slug == "haren")).one()
        choice = follow.Choice(alerts=True, red_only=False, digest=True)
        follow.request_follow(db.session, haren, "voisine@example.be", "fr", choice, "client")
        db.session.commit()
    rows = db.session.scalars(select(Notification).order_by(Notification.id)).all()
    found: dict[str, Notification] = {}
    for row in rows:
        best = found.get(row.kind)
        if best is None or (best.recipient_kind != "contact" and row.recipient_kind == "contact"):
            found[row.kind] = row
    return found


def resolve(ids: list[int]) -> None:
    coordinator = make_user(ROLE_COORDINATOR)
    for situation_id in ids:
        services.resolve_situation(db.session, situation_id, coordinator, "Réglé", settings())
    db.session.commit()


def composed(row: Notification, lang: str) -> EmailMessage:
    """The message the product sends for this row, written in `lang`."""
    language = row.language
    try:
        row.language = lang
        with freeze_time(START + timedelta(days=7, minutes=1)):
            return compose(db.session, row, settings())
    finally:
        row.language = language


# --- checks -----------------------------------------------------------------------------


def check_headers(raw: bytes, lang: str, what: str, unsubscribe: bool = True) -> None:
    parsed = message_from_bytes(raw, policy=policy.strict)
    assert isinstance(parsed, EmailMessage), what
    if not unsubscribe:
        assert parsed["List-Unsubscribe"] is None, what
    else:
        assert LIST_UNSUBSCRIBE.match(str(parsed["List-Unsubscribe"])), what
        assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click", what
    assert str(parsed["Message-ID"]).endswith("@fidex.be>"), what
    assert parsed["Content-Language"] == lang, what
    assert parsed["Date"] is not None and parsed["Date"].datetime is not None, what
    assert parsed["MIME-Version"] == "1.0", what
    assert parsed["From"] == MAIL_FROM, what
    assert parsed["Subject"], what
    header = raw.split(b"\r\n\r\n" if b"\r\n\r\n" in raw else b"\n\n", 1)[0]
    assert not any(
        b"=?" in line for line in header.splitlines() if line.startswith(b"List-Unsubscribe:")
    ), what


def spamassassin(messages: list[EmailMessage], folder: Path) -> dict[tuple[str, str | None], str]:
    """Score every message in one `spamassassin` run (its start-up costs a second or more);
    each report by (Message-ID, Content-Language): the run does not keep their order."""
    command = shutil.which("spamassassin")
    assert command, "spamassassin is missing: run scripts/ensure-services.sh"
    given = mailbox.mbox(folder / "given.mbox")
    for message in messages:
        given.add(message)
    given.flush()
    scored = folder / "scored.mbox"
    with (folder / "given.mbox").open("rb") as source, scored.open("wb") as target:
        subprocess.run(
            [command, "--mbox", "-t", "-L"], stdin=source, stdout=target, timeout=300, check=True
        )
    reports = {}
    for key, message in mailbox.mbox(scored).items():
        raw = mailbox.mbox(scored).get_bytes(key).decode("utf-8", "replace")
        reports[(str(message["Message-ID"]), message["Content-Language"])] = raw
    assert len(reports) == len(messages), sorted(reports)
    return reports


def score_of(report: str) -> float:
    found = SCORE.search(report)
    assert found, report[-2000:]
    return float(found.group(1))


def rules_of(report: str) -> list[str]:
    details = report.rsplit("Content analysis details:", 1)[-1]
    return [f"{m.group(1)} {m.group(2)}" for m in RULE.finditer(details)]
