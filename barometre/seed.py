"""Idempotent seeding: the référentiel, the Brussels establishments, demo data."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from . import clock, referentiel, services
from .auth import hash_password
from .extensions import DbSession
from .models import (
    ROLE_COORDINATOR,
    ROLE_WORKER,
    Category,
    Condition,
    Establishment,
    MemberService,
    OfferType,
    User,
)
from .settings import Settings

DEMO_NAMESPACE = uuid.UUID("6f1d7a52-3c1e-4c55-9a55-0d6c1f7b0e11")
DEMO_PASSWORD = "demo-barometre"  # noqa: S105 - demo accounts, printed by the CLI


def seed_referentiel(session: DbSession) -> None:
    categories = {c.code: c for c in session.scalars(select(Category))}
    for position, cat in enumerate(referentiel.CATEGORIES):
        row = categories.get(cat.code) or Category(code=cat.code)
        row.label_fr, row.label_nl, row.label_en = cat.fr, cat.nl, cat.en
        row.position = position
        session.add(row)
        categories[cat.code] = row
    session.flush()
    conditions = {c.code: c for c in session.scalars(select(Condition))}
    for position, cond in enumerate(referentiel.CONDITIONS):
        row = conditions.get(cond.code) or Condition(code=cond.code)
        row.category_id = categories[cond.category].id
        row.label_fr, row.label_nl, row.label_en = cond.fr, cond.nl, cond.en
        row.examples, row.examples_nl, row.examples_en = (
            cond.examples,
            cond.examples_nl,
            cond.examples_en,
        )
        row.keywords, row.position = cond.keywords, position
        session.add(row)
    offer_types = {o.code: o for o in session.scalars(select(OfferType))}
    for position, offer in enumerate(referentiel.OFFER_TYPES):
        row = offer_types.get(offer.code) or OfferType(code=offer.code)
        row.label_fr, row.label_nl, row.label_en = offer.fr, offer.nl, offer.en
        row.position = position
        session.add(row)
    seed_establishments(session)
    session.flush()


def seed_establishments(session: DbSession) -> None:
    """The Brussels prisons with their names in every language.

    A prison already there keeps the names a coordinator gave it: only a Dutch
    or English name still empty is filled (a database seeded before the names
    existed gets them); a renamed French name is never put back.
    """
    existing = {e.slug: e for e in session.scalars(select(Establishment))}
    for seeded in referentiel.ESTABLISHMENTS:
        row = existing.get(seeded.slug)
        if row is None:
            session.add(
                Establishment(
                    slug=seeded.slug, name=seeded.fr, name_nl=seeded.nl, name_en=seeded.en
                )
            )
            continue
        # Only when empty: an UPDATE bumps the row's revision (the barometer's caches).
        if not row.name_nl:
            row.name_nl = seeded.nl
        if not row.name_en:
            row.name_en = seeded.en


def ensure_service(session: DbSession, name: str, email: str = "") -> MemberService:
    service = session.scalar(select(MemberService).where(MemberService.name == name))
    if service is None:
        service = MemberService(name=name, alert_emails=email)
        session.add(service)
        session.flush()
    return service


def ensure_user(
    session: DbSession, email: str, role: str, password: str, service: MemberService | None = None
) -> User:
    user = session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(email=email, role=role, password_hash=hash_password(password), service=service)
        session.add(user)
        session.flush()
    return user


DEMO_REPORTS = (
    # (establishment, days ago, conditions, offer types)
    ("haren", 3, ["SEC-01"], ["individuel"]),
    ("haren", 2, ["OFF-06"], ["individuel", "collectif"]),
    ("haren", 1, ["SEC-01"], ["collectif"]),
    ("saint-gilles", 6, ["ACC-01", "OFF-06"], ["individuel"]),
    ("saint-gilles", 5, ["SEC-03"], ["individuel"]),
    ("saint-gilles", 4, ["ACC-03"], ["collectif"]),
    ("saint-gilles", 2, ["OFF-08"], ["cellulaire"]),
)


def seed_demo(session: DbSession, settings: Settings) -> list[tuple[str, str]]:
    """Demo services, users and reports; returns the demo logins."""
    services_demo = [
        ensure_service(session, "Service d'aide aux justiciables (démo)", "alertes@sajd.demo"),
        ensure_service(session, "Service culturel en prison (démo)", "alertes@culture.demo"),
    ]
    coordinator = ensure_user(session, "coordination@fidex.demo", ROLE_COORDINATOR, DEMO_PASSWORD)
    worker = ensure_user(
        session, "travailleur@fidex.demo", ROLE_WORKER, DEMO_PASSWORD, services_demo[0]
    )
    today = clock.today()
    for index, (slug, days_ago, conditions, offer_types) in enumerate(DEMO_REPORTS):
        data = services.ReportInput.uniform(
            establishment=slug,
            visit_date=today - timedelta(days=days_ago),
            conditions=conditions,
            offer_types=offer_types,
            minutes_waited=60 if "OFF-06" in conditions else None,
            submission_id=str(uuid.uuid5(DEMO_NAMESPACE, f"demo-{index}")),
        )
        services.record_report(session, data, worker, settings)
    return [(coordinator.email, DEMO_PASSWORD), (worker.email, DEMO_PASSWORD)]
