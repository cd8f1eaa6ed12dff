"""Who really receives what (R10): every address, its reasons, and its own choices.

An address receives alerts or the digest for a reason (a contact of an
establishment, a coordinator, a member service's alert address) unless it
opted out through the signed link in its emails (`AddressPreference`). A
follower's reason is its own choice, kept on its row (its links change it). The
console shows the result in one place, and a coordinator may change an
address's choices for it (audit-logged), e.g. when asked by phone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from barometre.addresses import address_key
from barometre.extensions import DbSession
from barometre.models import Contact, User
from barometre.services import audit

from .follow import service as follow
from .follow.models import Follower
from .models import TO_FOLLOWER, AddressPreference
from .recipients import coordinators, member_services, preference, set_preference


@dataclass
class Reason:
    """Why an address gets emails: what its source allows before the address's own choice."""

    kind: str  # "contact", "coordinator", "service" or "follower"
    name: str  # the establishment, the coordinator or the service
    alerts: bool
    digest: bool
    red_only: bool = False
    ident: int | None = None  # the contact's, user's or service's id, to link to


@dataclass
class AddressLine:
    address: str
    reasons: list[Reason] = field(default_factory=list)
    choice: AddressPreference | None = None

    @property
    def chose_alerts(self) -> bool:
        return self.choice is None or self.choice.alerts

    @property
    def chose_digest(self) -> bool:
        return self.choice is None or self.choice.digest

    @property
    def alerts(self) -> bool:
        """Receives alerts: some reason gives them and the address did not refuse them
        (what it follows, it chose itself)."""
        given = self.chose_alerts and any(r.alerts for r in self.reasons if r.kind != TO_FOLLOWER)
        return given or any(r.alerts for r in self.reasons if r.kind == TO_FOLLOWER)

    @property
    def red_only(self) -> bool:
        given = [r for r in self.reasons if r.alerts]
        return bool(given) and all(r.red_only for r in given)

    @property
    def digest(self) -> bool:
        given = self.chose_digest and any(r.digest for r in self.reasons if r.kind != TO_FOLLOWER)
        return given or any(r.digest for r in self.reasons if r.kind == TO_FOLLOWER)


def address_book(session: DbSession) -> list[AddressLine]:
    """Every address the product may write to, in alphabetical order."""
    lines: dict[str, AddressLine] = {}

    def line(address: str) -> AddressLine:
        found = lines.get(address_key(address))
        if found is None:
            found = lines[address_key(address)] = AddressLine(address.strip())
        return found

    contacts = session.scalars(
        select(Contact).options(joinedload(Contact.establishment)).order_by(Contact.id)
    )
    for contact in contacts:
        active = contact.establishment.active
        line(contact.email).reasons.append(
            Reason(
                "contact",
                contact.establishment.name,
                contact.alerts,
                contact.digest and active,
                contact.red_only,
                contact.id,
            )
        )
    for user in coordinators(session):
        line(user.email).reasons.append(
            Reason("coordinator", user.name or user.email, True, True, ident=user.id)
        )
    for service in member_services(session):
        for address in service.alert_addresses:
            line(address).reasons.append(
                Reason("service", service.name, True, True, ident=service.id)
            )
    followers = session.scalars(
        select(Follower).options(joinedload(Follower.establishment)).order_by(Follower.id)
    )
    for row in followers:
        active = row.establishment.active
        line(row.email).reasons.append(
            Reason(
                TO_FOLLOWER,
                row.establishment.name,
                row.alerts,
                row.digest and active,
                row.red_only,
                row.establishment_id,
            )
        )
    for choice in session.scalars(select(AddressPreference)):
        if choice.email in lines:
            lines[choice.email].choice = choice
    return sorted(lines.values(), key=lambda found: address_key(found.address))


def line_of(session: DbSession, address: str) -> AddressLine:
    """What one address receives, as the address book says it (an address the product does
    not write to receives nothing)."""
    key = address_key(address)
    found = (line for line in address_book(session) if address_key(line.address) == key)
    return next(found, None) or AddressLine(address, choice=preference(session, address))


def change_choice(
    session: DbSession, actor: User | None, address: str, alerts: bool, digest: bool
) -> AddressPreference:
    """A coordinator changes, for an address, what it chose through its link (what it
    follows too, as its own link would: stopping everything deletes its follows)."""
    follow.stop(session, address, alerts=not alerts, digest=not digest)
    set_preference(session, address, alerts, digest)
    row = preference(session, address)
    assert row is not None  # noqa: S101 - set_preference just stored it
    audit(session, actor, "address.preferences", row, alerts=alerts, digest=digest)
    return row
