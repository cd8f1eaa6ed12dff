"""Fixtures of the alert tests: SMTP server, recipients, worker processes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from alerts.models import Notification
from barometre.extensions import db
from barometre.models import (
    ROLE_COORDINATOR,
    ROLE_WORKER,
    Contact,
    Establishment,
    MemberService,
    User,
)
from tests.conftest import make_settings

from .support import SmtpServer

SECRET = make_settings(Path("/nonexistent")).secret_key


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp(smtp_server: SmtpServer) -> SmtpServer:
    smtp_server.collector.reset()
    return smtp_server


def establishment(slug: str = "haren") -> Establishment:
    found = db.session.scalar(select(Establishment).where(Establishment.slug == slug))
    assert found is not None
    return found


def add_contact(email: str, slug: str = "haren", **fields: Any) -> Contact:
    contact = Contact(establishment=establishment(slug), email=email, **fields)
    db.session.add(contact)
    db.session.commit()
    return contact


def notifications(**where: Any) -> list[Notification]:
    """Fresh rows (other processes write them): no identity-map caching."""
    db.session.rollback()
    db.session.expire_all()
    query = select(Notification).filter_by(**where).order_by(Notification.id)
    return list(db.session.scalars(query))


def states() -> list[str]:
    return [n.state for n in notifications()]


def user(email: str, role: str, service: MemberService | None = None, lang: str = "fr") -> User:
    """A user without a password: argon2 hashing is slow and these never sign in by form."""
    found = User(email=email, role=role, service=service, language=lang, name="Camille Exemple")
    db.session.add(found)
    db.session.commit()
    return found


@pytest.fixture
def people(app: Flask) -> dict[str, Any]:
    """A worker (whose service has an alert address), coordinators and contacts."""
    tag = uuid.uuid4().hex[:6]
    service = MemberService(name=f"Service {tag}", alert_emails=f"alertes@service-{tag}.test")
    db.session.add(service)
    worker = user(f"worker-{tag}@example.org", ROLE_WORKER, service)
    return {
        "worker": worker,
        "service": service,
        "service_address": service.alert_addresses[0],
        "coordinator": user(f"coord-{tag}@fidex.test", ROLE_COORDINATOR),
        "coordinator_nl": user(f"coord-nl-{tag}@fidex.test", ROLE_COORDINATOR, lang="nl"),
        "fr": add_contact(f"direction-{tag}@haren.test", language="fr").email,
        "nl": add_contact(f"directie-{tag}@haren.test", language="nl").email,
        "red_only": add_contact(f"rouge-{tag}@haren.test", red_only=True).email,
        "no_alerts": add_contact(f"synthese-{tag}@haren.test", alerts=False).email,
        "other_prison": add_contact(f"sg-{tag}@saint-gilles.test", slug="saint-gilles").email,
    }


def rise_recipients(people: dict[str, Any]) -> dict[str, str]:
    """Who gets a rise (not red) at Haren, and in which language."""
    return {
        people["service_address"]: "fr",
        people["coordinator"].email: "fr",
        people["coordinator_nl"].email: "nl",
        people["fr"]: "fr",
        people["nl"]: "nl",
    }


def coordinators(people: dict[str, Any]) -> list[User]:
    return [people["coordinator"], people["coordinator_nl"]]
