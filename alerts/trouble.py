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

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from flask import url_for
from flask_babel import force_locale, ngettext
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import joinedload

from barometre import clock
from barometre.addresses import address_key
from barometre.console.status import Status
from barometre.extensions import DbSession
from barometre.models import User
from barometre.services import audit
from barometre.settings import Settings
from barometre.unique import insert_unless_taken

from . import handoff
from .digest import local
from .emails import Content, common_context
from .events import new_notification
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


def trouble_counts(session: DbSession) -> dict[str, int]:
    query = (
        select(Notification.state, func.count(Notification.id))
        .where(*open_trouble())
        .group_by(Notification.state)
    )
    return {state: int(n) for state, n in session.execute(query).all()}


def console_status(session: DbSession) -> list[Status]:
    """The console's lines for undeliverable emails (home page and banner)."""
    counts = trouble_counts(session)
    failed, uncertain = (
        counts.get(NotificationState.FAILED, 0),
        counts.get(NotificationState.UNCERTAIN, 0),
    )
    return [
        Status(
            ngettext(
                "%(num)d courriel en échec (non remis)",
                "%(num)d courriels en échec (non remis)",
                failed,
            ),
            failed,
            url_for("alerts.notifications", state=NotificationState.FAILED),
            trouble=True,
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
        ),
    ]


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
    context = {
        **common_context(notification.recipient, settings),
        "count": len(ids),
        "items": _items(session.scalars(query), lang),
        "more": max(len(ids) - LISTED, 0),
        "console_url": settings.base_url.rstrip("/") + "/coordination/notifications",
    }
    return Content(context)


def _items(rows: Iterable[Notification], lang: str) -> list[dict[str, Any]]:
    with force_locale(lang):
        return [
            {
                "id": row.id,
                "recipient": row.recipient,
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
