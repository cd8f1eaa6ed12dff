"""Work recorded in a transaction, handed over once it commits.

Services record notification ids, alert groups and exports on the session
(`session.info`); once the transaction commits, the `after_commit` listener
sends them (`signals.work_committed`) to the receiver `alerts.init_app`
connects (`alerts.dispatch.hand_over`: Celery, or in-process). A rollback
forgets them, so nothing is ever sent for work that was not stored. Recording
modules import this one, never the dispatcher: the arrows go one way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from barometre import signals
from barometre.extensions import DbSession

log = logging.getLogger(__name__)

INFO_KEY = "alerts.handoff"


@dataclass
class Handoff:
    """What one transaction asked to be done once it commits."""

    notification_ids: list[int] = field(default_factory=list)
    # notifications that may wait behind alerts (digests): published to the default queue
    bulk_ids: list[int] = field(default_factory=list)
    # (group id, seconds until it is due)
    groups: list[tuple[int, int]] = field(default_factory=list)
    # exports to run again (the reconciler reset them)
    export_ids: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.notification_ids or self.bulk_ids or self.groups or self.export_ids)


def _handoff(session: DbSession) -> Handoff:
    info = session.info
    if INFO_KEY not in info:
        info[INFO_KEY] = Handoff()
    handoff: Handoff = info[INFO_KEY]
    return handoff


def after_commit(
    session: DbSession, notification_ids: Iterable[int] = (), bulk: bool = False
) -> None:
    """Deliver these notifications once the current transaction commits.

    `bulk`: they may wait behind alerts (a digest's): with Celery they go to the
    default queue, not to the delivery queue of alerts.
    """
    handoff = _handoff(session)
    kept = handoff.bulk_ids if bulk else handoff.notification_ids
    for notification_id in notification_ids:
        if notification_id not in kept:
            kept.append(notification_id)


def group_after_commit(session: DbSession, group_id: int, delay: int) -> None:
    """Close this alert group when due (Celery mode: a countdown task; else the ticker)."""
    _handoff(session).groups.append((group_id, delay))


def exports_after_commit(session: DbSession, export_ids: Iterable[int]) -> None:
    """Run these exports again once the current transaction commits."""
    _handoff(session).export_ids.extend(export_ids)


def _on_commit(session: Session) -> None:
    handoff: Handoff | None = session.info.pop(INFO_KEY, None)
    if not handoff:
        return
    if not has_app_context():
        log.warning("alerts: committed outside an app context; the reconciler will send")
        return
    try:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        signals.work_committed.send(app, handoff=handoff)
    except Exception:
        # The transaction is committed: never turn a stored report into an error page.
        log.exception("alerts: hand-over failed; the reconciler will retry")


def _on_rollback(session: Session, previous: SessionTransaction) -> None:
    if previous.parent is None:
        session.info.pop(INFO_KEY, None)


def install_listeners() -> None:
    """Once per process: listen to every session's commits and rollbacks."""
    if not event.contains(Session, "after_commit", _on_commit):
        event.listen(Session, "after_commit", _on_commit)
        event.listen(Session, "after_soft_rollback", _on_rollback)
