"""Emails that could not be delivered: shown in the console, warned about once a day.

A notification that failed for good, or is still uncertain when the reconciler
comes back to it, is trouble. It shows on every console page (a banner) until
a coordinator retries or dismisses it. The reconciler warns the coordinators by
email of trouble they were not told of yet, at most once per local day: a
`DeliveryWarning` row, unique per day, is inserted with ON CONFLICT DO NOTHING,
so two reconcilers, or one run twice, cannot warn twice. The warning is itself
a notification (kind "trouble"), delivered, retried and logged like any other.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import current_app, url_for
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from redis.exceptions import RedisError
from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import joinedload

from barometre import clock
from barometre.addresses import MAX_ADDRESS, address_key
from barometre.console.status import Status
from barometre.extensions import DbSession
from barometre.heartbeat import queue_consumers, redis_client, redis_url_of
from barometre.models import Contact, MemberService, User
from barometre.services import audit
from barometre.settings import Settings
from barometre.unique import insert_unless_taken

from . import handoff
from .channels.models import Channel, channel_words
from .digest import local
from .emails import Content, common_context
from .events import new_notification
from .follow.models import Follower
from .models import (
    FOLLOW,
    TO_COORDINATOR,
    TROUBLE,
    AlertEvent,
    DeliveryWarning,
    Notification,
    NotificationState,
)
from .recipients import Recipient, coordinators, email_language, opted_out

TROUBLE_STATES = (NotificationState.FAILED, NotificationState.UNCERTAIN)
# A warning lists this many emails; it counts the rest.
LISTED = 20

# What a warning calls each state, in the coordinator's language (each kind: `alerts.kinds`).
# A courriel is masculine: « incertain », where the log's notification is « Incertaine ».
STATE_WORDS: dict[str, LazyString] = {
    NotificationState.FAILED: _l("échec"),
    NotificationState.UNCERTAIN: _l("incertain"),
}


@dataclass(frozen=True)
class Place:
    """Where an address is set: a contact, an account ("user"), a member service, a follower."""

    kind: str
    name: str  # the establishment, the account or the service
    ident: int  # the contact's, account's or service's id; a follower's establishment


def open_trouble() -> list[ColumnElement[bool]]:
    """Failed or uncertain, and not dismissed by a coordinator.

    A follow confirmation is not counted: its address was typed by a visitor, who
    asked nothing of the coordinators (a typo would warn them every day).
    """
    return [
        Notification.state.in_(TROUBLE_STATES),
        Notification.dismissed_at.is_(None),
        Notification.kind != FOLLOW,
    ]


# A failure no retry can mend: the receiving server refused the address itself (SMTP 550,
# 551 or 553, or an enhanced status 5.1.x: « user unknown », « no such mailbox »), or the
# address rule refused it before sending (`emails.AddressRefused`: « Adresse refusée : … »).
# The committee corrects the address where it is set; a retry would be refused again.
REFUSED_CODES = ("550 ", "551 ", "553 ")
REFUSED_NOTE = "Adresse refusée"
_REFUSED_STATUS = re.compile(r"^5\d\d 5\.1\.\d")


def address_refused(error: str) -> bool:
    """A notification's last error says its address is refused for good."""
    return error.startswith((*REFUSED_CODES, REFUSED_NOTE)) or bool(_REFUSED_STATUS.match(error))


def _refused_clause() -> ColumnElement[bool]:
    """`address_refused` in SQL (PostgreSQL and SQLite: LIKE, no regular expression)."""
    patterns = [f"{code}%" for code in REFUSED_CODES] + [f"{REFUSED_NOTE}%", "5__ 5.1.%"]
    return or_(*(Notification.last_error.like(pattern) for pattern in patterns))


# An email's row, not a webhook or chat channel's (issue 30): those are told per channel.
EMAILS = Notification.channel_id.is_(None)


def trouble_counts(session: DbSession, *where: ColumnElement[bool]) -> dict[str, int]:
    """Open trouble by state (of the rows `where` keeps: every row by default)."""
    query = (
        select(Notification.state, func.count(Notification.id))
        .where(*open_trouble(), *where)
        .group_by(Notification.state)
    )
    return {state: int(n) for state, n in session.execute(query).all()}


def refused_count(session: DbSession) -> int:
    """Open failures whose address was refused: a correction, not a retry, mends them."""
    query = (
        select(func.count(Notification.id))
        .where(*open_trouble(), Notification.state == NotificationState.FAILED, EMAILS)
        .where(_refused_clause())
    )
    return int(session.scalar(query) or 0)


def console_status(session: DbSession) -> list[Status]:
    """The console's lines for undeliverable emails and failing channels (home page and
    banner)."""
    found = _mail_settings_status() + _outbox_status() + _waiting_status(session)
    return found + _delivery_status(session) + _channel_status(session)


def _mail_settings_status() -> list[Status]:
    """Mail settings the sending processes refuse: no email leaves until they are right."""
    problems = current_app.config["SETTINGS"].mail_problems()
    if not problems:
        return []
    return [
        Status(
            _("Courriel mal configuré : %(problem)s", problem="\xa0; ".join(problems)),
            1,
            url_for("alerts.notifications"),
            trouble=True,
            advice=_(
                "corrigez ce réglage puis redémarrez les services : les courriels attendent, "
                "aucun n'est perdu."
            ),
        )
    ]


def _waiting_status(session: DbSession) -> list[Status]:
    """Emails waiting while no process takes the delivery queue (none beat lately)."""
    settings: Settings = current_app.config["SETTINGS"]
    url = redis_url_of(settings)
    if not settings.broker_url or not url:
        return []  # the embedded mode sends from the web process itself
    waiting = int(
        session.scalar(
            select(func.count(Notification.id)).where(
                Notification.state == NotificationState.PENDING
            )
        )
        or 0
    )
    if not waiting:
        return []
    client = redis_client(url)
    try:
        if queue_consumers(client, settings.delivery_queue).live:
            return []
    except RedisError:
        return []  # /readyz and the banner of the broker say it
    finally:
        client.close()
    return [
        Status(
            ngettext(
                "Aucun processus de distribution : %(num)d courriel attend",
                "Aucun processus de distribution : %(num)d courriels attendent",
                waiting,
            ),
            waiting,
            url_for("alerts.notifications", state=NotificationState.PENDING),
            trouble=True,
            advice=_(
                "démarrez le service delivery (docker compose up -d delivery) : les courriels "
                "partiront alors, aucun n'est perdu."
            ),
        )
    ]


def _outbox_status() -> list[Status]:
    """Production writing its emails to a folder (MAIL_BACKEND=outbox): none leaves."""
    if not current_app.config["SETTINGS"].outbox_in_production:
        return []
    return [
        Status(
            _("Les courriels sont écrits dans un dossier (MAIL_BACKEND=outbox) : aucun ne part"),
            1,
            url_for("alerts.notifications"),
            trouble=True,
            advice=_("réglez SMTP_HOST pour qu'ils partent."),
        )
    ]


def _delivery_status(session: DbSession) -> list[Status]:
    counts, refused = trouble_counts(session, EMAILS), refused_count(session)
    failed, uncertain = (
        counts.get(NotificationState.FAILED, 0) - refused,
        counts.get(NotificationState.UNCERTAIN, 0),
    )
    return [
        Status(
            ngettext(
                "%(num)d courriel refusé : adresse à corriger",
                "%(num)d courriels refusés : adresses à corriger",
                refused,
            ),
            refused,
            url_for("alerts.notifications", state=NotificationState.FAILED),
            trouble=True,
            advice=ngettext(
                "corrigez l'adresse là où elle est enregistrée (un nouvel essai serait refusé "
                "de même), puis ignorez l'échec.",
                "corrigez les adresses là où elles sont enregistrées (un nouvel essai serait "
                "refusé de même), puis ignorez les échecs.",
                refused,
            ),
        ),
        Status(
            ngettext(
                "%(num)d courriel en échec (non remis)",
                "%(num)d courriels en échec (non remis)",
                failed,
            ),
            failed,
            url_for("alerts.notifications", state=NotificationState.FAILED),
            trouble=True,
            advice=_retry_advice(failed),
        ),
        Status(
            ngettext(
                "%(num)d courriel incertain (peut-être non remis)",
                "%(num)d courriels incertains (peut-être non remis)",
                uncertain,
            ),
            uncertain,
            url_for("alerts.notifications", state=NotificationState.UNCERTAIN),
            trouble=True,
            advice=_retry_advice(uncertain),
        ),
    ]


# How much of a channel's last error a console line shows (the log shows all of it).
ERROR_SHOWN = 160


def _channel_status(session: DbSession) -> list[Status]:
    """One line per channel with open trouble (failed or uncertain, not dismissed): which
    channel, in words, and its last error. A channel is mended where it is set, in « Qui
    reçoit quoi » (tested, or removed), not by correcting an address."""
    query = (
        select(Notification.channel_id, func.count(Notification.id), func.max(Notification.id))
        .where(*open_trouble(), Notification.channel_id.is_not(None))
        .group_by(Notification.channel_id)
        .order_by(Notification.channel_id)
    )
    found = session.execute(query).all()
    if not found:
        return []
    last = {
        row.id: row
        for row in session.scalars(
            select(Notification).where(Notification.id.in_([last_id for *_, last_id in found]))
        )
    }
    named = {
        channel.id: channel
        for channel in session.scalars(
            select(Channel).where(Channel.id.in_([channel_id for channel_id, *_ in found]))
        )
    }
    lines = []
    for channel_id, count, last_id in found:
        channel, row = named.get(int(channel_id or 0)), last[last_id]
        if channel is None:
            continue
        error = " ".join((row.last_error or str(STATE_WORDS.get(row.state, row.state))).split())
        if len(error) > ERROR_SHOWN:
            error = error[: ERROR_SHOWN - 1] + "…"
        said = (
            _("Canal en échec : %(name)s — %(error)s", name=channel_words(channel), error=error)
            if row.state == NotificationState.FAILED
            else _(
                "Canal incertain : %(name)s — %(error)s", name=channel_words(channel), error=error
            )
        )
        if channel.removed_at is None:
            url = url_for("alerts.addresses", _anchor=f"canal-{channel.id}")
            advice = ngettext(
                "vérifiez ce canal dans « Qui reçoit quoi » (envoyez-lui un évènement de test, "
                "ou supprimez-le), puis relancez ou ignorez son échec depuis le journal des "
                "notifications.",
                "vérifiez ce canal dans « Qui reçoit quoi » (envoyez-lui un évènement de test, "
                "ou supprimez-le), puis relancez ou ignorez ses %(num)d échecs depuis le journal "
                "des notifications.",
                int(count),
            )
        else:
            url = url_for("alerts.notifications", state=row.state)
            advice = ngettext(
                "ce canal est supprimé : ignorez son échec depuis le journal des notifications.",
                "ce canal est supprimé : ignorez ses %(num)d échecs depuis le journal des "
                "notifications.",
                int(count),
            )
        lines.append(Status(said, int(count), url, trouble=True, advice=advice))
    return lines


def _retry_advice(count: int) -> str:
    return ngettext(
        "relancez-le ou ignorez-le depuis le journal des notifications.",
        "relancez-les ou ignorez-les depuis le journal des notifications.",
        count,
    )


def corrections(session: DbSession, rows: Iterable[Notification]) -> dict[int, list[Place]]:
    """For each failed notification whose address was refused: where that address is set
    (a contact, an account, a member service's alert addresses, a follower), to correct it."""
    refused = {
        row.id: address_key(row.recipient)
        for row in rows
        if row.state == NotificationState.FAILED
        and row.channel_id is None  # a channel is mended in « Qui reçoit quoi »
        and address_refused(row.last_error or "")
    }
    if not refused:
        return {}
    places: dict[str, list[Place]] = {}

    def add(address: str, place: Place) -> None:
        # A refused address is logged with its line breaks shown (`events.new_notification`).
        shown = address.replace("\r", "\\r").replace("\n", "\\n")[:MAX_ADDRESS]
        places.setdefault(address_key(shown), []).append(place)

    for contact in session.scalars(select(Contact).options(joinedload(Contact.establishment))):
        add(contact.email, Place("contact", contact.establishment.name, contact.id))
    for user in session.scalars(select(User)):
        add(user.email, Place("user", user.name or user.email, user.id))
    for service in session.scalars(select(MemberService)):
        for address in service.alert_addresses:
            add(address, Place("service", service.name, service.id))
    for follower in session.scalars(select(Follower).options(joinedload(Follower.establishment))):
        add(
            follower.email,
            Place("follower", follower.establishment.name, follower.establishment_id),
        )
    return {ident: places.get(key, []) for ident, key in refused.items()}


# --- the daily warning -------------------------------------------------------------------


def unwarned_ids(session: DbSession) -> list[int]:
    """Open trouble nobody was warned of; a failed warning does not warn of itself."""
    query = (
        select(Notification.id)
        .where(*open_trouble(), Notification.warned_at.is_(None), Notification.kind != TROUBLE)
        .order_by(Notification.id)
    )
    return list(session.scalars(query))


def warn_coordinators(
    session: DbSession, settings: Settings, now: datetime | None = None
) -> list[Notification]:
    """Today's warning to the active coordinators, unless today's went already.

    A coordinator who refused alerts through the link of their emails is left out.

    The caller commits; the emails are handed over after commit.
    """
    now = now or clock.now()
    ids = unwarned_ids(session)
    if not ids:
        return []
    warning_id = _claim_day(session, local(now, settings).date(), ids, now)
    if warning_id is None:
        return []  # one warning a day; the rest waits for tomorrow's
    session.execute(
        update(Notification)
        .where(Notification.id.in_(ids), Notification.warned_at.is_(None))
        .values(warned_at=now)
        .execution_options(synchronize_session=False)
    )
    rows: dict[str, Notification] = {}
    # The email's "manage what you receive" link must work for this email too.
    refused = opted_out(session, "alerts")
    for user in coordinators(session):
        if address_key(user.email) in refused:
            continue
        recipient = Recipient(user.email, email_language(user.language), TO_COORDINATOR)
        row = new_notification(TROUBLE, recipient, now)
        row.warning_id = warning_id
        rows.setdefault(row.recipient, row)
    session.add_all(rows.values())
    session.flush()
    handoff.after_commit(
        session, [n.id for n in rows.values() if n.state == NotificationState.PENDING]
    )
    return list(rows.values())


def _claim_day(session: DbSession, day: date, ids: list[int], now: datetime) -> int | None:
    return insert_unless_taken(
        session,
        DeliveryWarning,
        (DeliveryWarning.day,),
        day=day,
        created_at=now,
        notification_ids=ids,
    )


def trouble_content(session: DbSession, notification: Notification, settings: Settings) -> Content:
    """The warning's emails (the first LISTED of them), each named by its kind's label."""
    warning = notification.warning
    if warning is None:
        raise ValueError(f"notification {notification.id} has no warning")
    lang = notification.language
    ids = list(warning.notification_ids or [])
    query = (
        select(Notification)
        .where(Notification.id.in_(ids[:LISTED]))
        .options(joinedload(Notification.event).joinedload(AlertEvent.establishment))
        .order_by(Notification.id)
    )
    # Some of them a webhook or chat channel's: the warning says « envois », and where
    # a channel is mended.
    to_channels = session.scalar(
        select(func.count(Notification.id)).where(
            Notification.id.in_(ids), Notification.channel_id.is_not(None)
        )
    )
    base = settings.base_url.rstrip("/")
    context = {
        **common_context(notification.recipient, settings),
        "count": len(ids),
        "items": _items(session, session.scalars(query), lang),
        "more": max(len(ids) - LISTED, 0),
        "console_url": base + "/coordination/notifications",
        "channels": bool(to_channels),
        "channels_url": base + "/coordination/adresses#canaux",
    }
    return Content(context)


def _items(session: DbSession, rows: Iterable[Notification], lang: str) -> list[dict[str, Any]]:
    rows = list(rows)
    channel_ids = {row.channel_id for row in rows if row.channel_id is not None}
    named = {
        channel.id: channel
        for channel in session.scalars(select(Channel).where(Channel.id.in_(channel_ids)))
    }
    with force_locale(lang):
        return [
            {
                "id": row.id,
                "recipient": (
                    channel_words(named[row.channel_id])
                    if row.channel_id in named
                    else row.recipient
                ),
                "channel": row.channel_id is not None,
                "kind": row.kind,
                "establishment": row.event.establishment.name_in(lang) if row.event else "",
                "state": str(STATE_WORDS.get(row.state, row.state)),
                "error": row.last_error,
            }
            for row in rows
        ]


# --- the coordinators' answer -----------------------------------------------------------


def dismiss(session: DbSession, notification_id: int, actor: User | None) -> bool:
    """A coordinator has seen a failed or uncertain email and takes it off the banner."""
    result = session.execute(
        update(Notification)
        .where(
            Notification.id == notification_id,
            Notification.state.in_(TROUBLE_STATES),
            Notification.dismissed_at.is_(None),
        )
        .values(dismissed_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    audit(session, actor, "notification.dismiss", session.get(Notification, notification_id))
    return True
