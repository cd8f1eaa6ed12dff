"""Who receives what (R10): member services, coordinators, establishment contacts.

Each address appears once per email (the first source wins: a contact's own
language beats the default), and an address that opted out through its signed
link is left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from barometre import clock
from barometre.addresses import clean_address
from barometre.extensions import DbSession
from barometre.languages import supported
from barometre.models import ROLE_COORDINATOR, Contact, Establishment, MemberService, User

from .models import (
    GREEN_AGAIN,
    RED,
    TO_CONTACT,
    TO_COORDINATOR,
    TO_SERVICE,
    AddressPreference,
    Notification,
)


@dataclass(frozen=True)
class Recipient:
    address: str
    language: str
    kind: str
    # Digest only: the establishments it covers; None means all of them.
    establishment_ids: frozenset[int] | None = None


def email_language(language: str | None) -> str:
    """Emails exist in every language of the product; anything else gets French."""
    return supported(language)


def key(address: str) -> str:
    return address.strip().lower()


class _Collector:
    """Addresses in the order found, once each."""

    def __init__(self, excluded: set[str]) -> None:
        self.excluded = excluded
        self.found: dict[str, Recipient] = {}

    def add(self, address: str, language: str | None, kind: str) -> None:
        address = address.strip()
        if not address or key(address) in self.excluded or key(address) in self.found:
            return
        self.found[key(address)] = Recipient(address, email_language(language), kind)


def opted_out(session: DbSession, what: str) -> set[str]:
    column = AddressPreference.alerts if what == "alerts" else AddressPreference.digest
    rows = session.scalars(select(AddressPreference.email).where(column.is_(False)))
    return {key(email) for email in rows}


def coordinators(session: DbSession) -> list[User]:
    query = (
        select(User).where(User.role == ROLE_COORDINATOR, User.active.is_(True)).order_by(User.id)
    )
    return list(session.scalars(query))


def member_services(session: DbSession) -> list[MemberService]:
    query = select(MemberService).where(MemberService.active.is_(True)).order_by(MemberService.id)
    return list(session.scalars(query))


def _wants_alert(contact: Contact, kind: str, was_red: bool) -> bool:
    if not contact.red_only:
        return True
    # Red-only contacts hear about red, and about the end of a red they were told of.
    return kind == RED or (kind == GREEN_AGAIN and was_red)


def alert_recipients(
    session: DbSession, establishment_id: int, kind: str, was_red: bool = False
) -> list[Recipient]:
    """Recipients of an alert event of `kind` at one establishment (R10)."""
    collector = _Collector(opted_out(session, "alerts"))
    contacts = session.scalars(
        select(Contact)
        .where(Contact.establishment_id == establishment_id, Contact.alerts.is_(True))
        .order_by(Contact.id)
    )
    for contact in contacts:
        if _wants_alert(contact, kind, was_red):
            collector.add(contact.email, contact.language, TO_CONTACT)
    for user in coordinators(session):
        collector.add(user.email, user.language, TO_COORDINATOR)
    for service in member_services(session):
        for address in service.alert_addresses:
            collector.add(address, "fr", TO_SERVICE)
    return list(collector.found.values())


def event_recipients(session: DbSession, event_id: int) -> list[Recipient]:
    """Who an event was addressed to, in the same language, less those who opted out since."""
    excluded = opted_out(session, "alerts")
    query = (
        select(Notification.recipient, Notification.language, Notification.recipient_kind)
        .where(Notification.event_id == event_id)
        .order_by(Notification.id)
    )
    return [
        Recipient(address, language, kind)
        for address, language, kind in session.execute(query)
        if key(address) not in excluded
    ]


def digest_recipients(session: DbSession) -> list[Recipient]:
    """Contacts get their establishments' digest; coordinators and services get all (R9)."""
    excluded = opted_out(session, "digest")
    everything = _Collector(excluded)
    for user in coordinators(session):
        everything.add(user.email, user.language, TO_COORDINATOR)
    for service in member_services(session):
        for address in service.alert_addresses:
            everything.add(address, "fr", TO_SERVICE)
    scoped: dict[str, Recipient] = {}
    contacts = session.scalars(
        select(Contact)
        .join(Contact.establishment)
        .where(Contact.digest.is_(True), Establishment.active.is_(True))
        .order_by(Contact.id)
    )
    for contact in contacts:
        k = key(contact.email)
        if k in excluded:
            continue
        if k in everything.found:
            # Also a coordinator or a service: already gets every establishment.
            continue
        known = scoped.get(k)
        ids = (known.establishment_ids or frozenset()) if known else frozenset()
        scoped[k] = Recipient(
            known.address if known else contact.email.strip(),
            known.language if known else email_language(contact.language),
            TO_CONTACT,
            ids | {contact.establishment_id},
        )
    return [*scoped.values(), *everything.found.values()]


def invalid(addresses: Iterable[str]) -> list[str]:
    return [a for a in addresses if clean_address(a) is None]


def preference(session: DbSession, address: str) -> AddressPreference | None:
    return session.scalar(select(AddressPreference).where(AddressPreference.email == key(address)))


def set_preference(session: DbSession, address: str, alerts: bool, digest: bool) -> None:
    """What an address chose on its preferences page (no login: the link is signed)."""
    row = preference(session, address)
    if row is None:
        row = AddressPreference(email=key(address))
        session.add(row)
    row.alerts, row.digest = alerts, digest
    row.updated_at = clock.now()
    session.flush()
