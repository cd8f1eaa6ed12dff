"""Thin Celery tasks: ids in, one service call in the app context, commit, log.

The alerts' tasks are here; the core's jobs have theirs beside them (`shared_task`,
imported below so that the worker has them): exports, history imports, retention.
"""

from __future__ import annotations

import logging
from collections import Counter

from barometre import retention  # noqa: F401 - the core's tasks join the worker
from barometre.console import exports, import_jobs  # noqa: F401
from barometre.extensions import db
from barometre.settings import current as settings

from . import delivery, digest, events, observe  # noqa: F401 - observe connects signals
from .celery_app import SEND_TIME_LIMIT, celery_app
from .reconcile import reconcile as reconcile_all

log = logging.getLogger(__name__)

# A batch stops claiming after this many seconds, well before its soft time limit:
# the rest stay pending and due, and the reconciler hands them over again.
BATCH_BUDGET = (SEND_TIME_LIMIT - 30) / 2


@celery_app.task(name="alerts.send_notifications")
def send_notifications(notification_ids: list[int]) -> dict[str, int]:
    """Deliver a batch over one SMTP connection; each notification keeps its own claim."""
    outcomes = delivery.deliver_batch(
        db.session, [int(i) for i in notification_ids], settings(), budget=BATCH_BUDGET
    )
    counts = dict(Counter(outcomes.values()))
    left = len(set(notification_ids)) - len(outcomes)
    if left:
        counts["left"] = left
    log.info("notifications %s: %s", notification_ids, counts)
    return counts


@celery_app.task(name="alerts.send_notification")
def send_notification(notification_id: int) -> str:
    """One notification (messages queued before batches, and anyone publishing one id)."""
    state = delivery.deliver(db.session, notification_id, settings())
    log.info("notification %s: %s", notification_id, state)
    return state


@celery_app.task(name="alerts.send_group")
def send_group(group_id: int) -> bool:
    event = events.close_group(db.session, group_id)
    db.session.commit()
    log.info("alert group %s: %s", group_id, "sent" if event else "not due or done")
    return event is not None


@celery_app.task(name="alerts.reconcile")
def reconcile() -> dict[str, int]:
    result = reconcile_all(db.session, settings())
    db.session.commit()
    log.info("reconciled: %s", result)
    return dict(result.__dict__)


@celery_app.task(name="alerts.send_digest")
def send_digest() -> int:
    planned = digest.plan(db.session, settings())
    db.session.commit()
    log.info("digest: %d planned", len(planned))
    return len(planned)
