"""Who receives what (R10): member services, coordinators, establishment contacts, the
addresses that follow an establishment (issue 19), and their webhook and chat channels
(issue 30).

Each address appears once per email (the first source wins: a contact's own
language beats the default), and an address that opted out through its signed
link is left out. A follower's own choices (kept on its row, which its
unsubscribe links change) decide for it: following is a later, explicit opt-in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, or_, select

from barometre import clock
from barometre.addresses import address_key, clean_address
from barometre.extensions import DbSession
from barometre.languages import supported
from barometre.models import (
    ROLE_COORDINATOR,
    Contact,
    Establishment,
    MemberService,
    User,
)

from .channels.models import Channel
from .follow.models import Follower
from .models import (
    GREEN_AGAIN,
    RED,
    TO_COMMITTEE,
    TO_CONTACT,
    TO_COORDINATOR,
    TO_FOLLOWER,
    TO_SERVICE,
    AddressPreference,
    AlertEvent,
    Notification,
)


@dataclass(frozen=True)
class Recipient:
    address: str
    language: str
    kind: str
    # Digest only: the establishments it covers; None means all of them.
    establishment_ids: frozenset[int] | None = None
    # A webhook or chat channel (issue 30): `address` is then the channel's name.
    channel_id: int | None = None


def email_language(language: str | None) -> str:
    """Emails exist in every language of the product; anything else gets French."""
    return supported(language)


class _Collector:
    """Addresses in the order found, once each."""

    def __init__(self, excluded: set[str]) -> None:
        self.excluded = excluded
        self.found: dict[str, Recipient] = {}

    def add(self, address: str, language: str | None, kind: str, chosen: bool = False) -> None:
        """`chosen`: the address asked for it itself (a follower): its opt-out does not apply."""
        address = address.strip()
        if not address or address_key(address) in self.found:
            return
        if address_key(address) in self.excluded and not chosen:
            return
        self.found[address_key(address)] = Recipient(address, email_language(language), kind)


def opted_out(session: DbSession, what: str) -> set[str]:
    column = AddressPreference.alerts if what == "alerts" else AddressPreference.digest
    rows = session.scalars(select(AddressPreference.email).where(column.is_(False)))
    return {address_key(email) for email in rows}


def coordinators(session: DbSession) -> list[User]:
    query = (
        select(User).where(User.role == ROLE_COORDINATOR, User.active.is_(True)).order_by(User.id)
    )
    return list(session.scalars(query))


def member_services(session: DbSession) -> list[MemberService]:
    query = select(MemberService).where(MemberService.active.is_(True)).order_by(MemberService.id)
    return list(session.scalars(query))


def _wants_alert(contact: Contact | Follower, kind: str, was_red: bool) -> bool:
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
    for follower in followers(session, establishment_id, alerts=True):
        if _wants_alert(follower, kind, was_red):
            collector.add(follower.email, follower.language, TO_FOLLOWER, chosen=True)
    return [*collector.found.values(), *channel_recipients(session, establishment_id)]


def live_channels(session: DbSession) -> list[Channel]:
    """Channels not removed, of active services and establishments, oldest first."""
    query = (
        select(Channel)
        .outerjoin(Channel.establishment)
        .outerjoin(Channel.service)
        .where(
            Channel.removed_at.is_(None),
            or_(Channel.establishment_id.is_(None), Establishment.active.is_(True)),
            or_(Channel.service_id.is_(None), MemberService.active.is_(True)),
        )
        .order_by(Channel.id)
    )
    return list(session.scalars(query))


def channel_recipient(channel: Channel) -> Recipient:
    """A channel as a recipient: its kind is its owner's (a contact's for an establishment's)."""
    if channel.establishment_id is not None:
        kind, scope = TO_CONTACT, frozenset({channel.establishment_id})
    else:
        kind, scope = (TO_SERVICE if channel.service_id is not None else TO_COMMITTEE), None
    return Recipient(channel.name, email_language(channel.language), kind, scope, channel.id)


def channel_recipients(session: DbSession, establishment_id: int | None = None) -> list[Recipient]:
    """The live channels told of an establishment's alerts (its own, the services', the
    committee's); `None`: every channel, for the digest, each with what it covers."""
    return [
        channel_recipient(channel)
        for channel in live_channels(session)
        if establishment_id is None or channel.establishment_id in (None, establishment_id)
    ]


def followers(
    session: DbSession, establishment_id: int | None = None, alerts: bool = False
) -> list[Follower]:
    """Confirmed followers (of one establishment), those who want alerts or else the digest."""
    wanted = Follower.alerts if alerts else Follower.digest
    query = select(Follower).where(wanted.is_(True)).order_by(Follower.id)
    if establishment_id is not None:
        query = query.where(Follower.establishment_id == establishment_id)
    return list(session.scalars(query))


def event_recipients(session: DbSession, event_id: int) -> list[Recipient]:
    """Who an event was addressed to, in the same language, less those who opted out since
    (a follower: who stopped following that establishment's alerts since)."""
    excluded = opted_out(session, "alerts")
    event = session.get(AlertEvent, event_id)
    following = (
        {address_key(f.email) for f in followers(session, event.establishment_id, alerts=True)}
        if event is not None
        else set()
    )
    query = (
        select(
            Notification.recipient,
            Notification.language,
            Notification.recipient_kind,
            Notification.channel_id,
        )
        .where(Notification.event_id == event_id)
        .order_by(Notification.id)
    )
    channels = {c.id: c for c in live_channels(session)}
    found = []
    for address, language, kind, channel_id in session.execute(query):
        if channel_id is not None:
            if channel_id in channels:  # not removed since
                found.append(channel_recipient(channels[channel_id]))
        elif (
            address_key(address) in following
            if kind == TO_FOLLOWER
            else address_key(address) not in excluded
        ):
            found.append(Recipient(address, language, kind))
    return found


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
        if address_key(contact.email) not in excluded:
            _scope(scoped, everything, contact, TO_CONTACT)
    active = set(session.scalars(select(Establishment.id).where(Establishment.active.is_(True))))
    for follower in followers(session):
        if follower.establishment_id in active:  # chosen: the address's opt-out does not apply
            _scope(scoped, everything, follower, TO_FOLLOWER)
    return [*scoped.values(), *everything.found.values(), *channel_recipients(session)]


def _scope(
    scoped: dict[str, Recipient], everything: _Collector, row: Contact | Follower, kind: str
) -> None:
    """Add the row's establishment to its address's digest."""
    k = address_key(row.email)
    if k in everything.found:
        # Also a coordinator or a service: already gets every establishment.
        return
    known = scoped.get(k)
    ids = (known.establishment_ids or frozenset()) if known else frozenset()
    scoped[k] = Recipient(
        known.address if known else row.email.strip(),
        known.language if known else email_language(row.language),
        known.kind if known else kind,
        ids | {row.establishment_id},
    )


def receives_otherwise(session: DbSession, address: str) -> bool:
    """Whether the address gets emails other than what it follows: a contact, an active
    coordinator or a member service's alert address."""
    k = address_key(address)
    contact = session.scalar(
        select(Contact.id).where(func.lower(func.trim(Contact.email)) == k).limit(1)
    )
    if contact is not None or any(address_key(u.email) == k for u in coordinators(session)):
        return True
    return any(address_key(a) == k for s in member_services(session) for a in s.alert_addresses)


def invalid(addresses: Iterable[str]) -> list[str]:
    return [a for a in addresses if clean_address(a) is None]


def preference(session: DbSession, address: str) -> AddressPreference | None:
    return session.scalar(
        select(AddressPreference).where(AddressPreference.email == address_key(address))
    )


def set_preference(session: DbSession, address: str, alerts: bool, digest: bool) -> None:
    """What an address chose on its preferences page (no login: the link is signed)."""
    row = preference(session, address)
    if row is None:
        row = AddressPreference(email=address_key(address))
        session.add(row)
    row.alerts, row.digest = alerts, digest
    row.updated_at = clock.now()
    session.flush()
