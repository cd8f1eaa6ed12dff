"""The reconciler (SPEC §7.4): whatever was recorded but not done gets done.

Run every minute by beat (or the embedded ticker), and by hand with
`flask --app barometre alerts reconcile`. Each step is safe to run twice and
concurrently: the claims are conditional UPDATEs and unique rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from barometre import clock
from barometre.extensions import DbSession
from barometre.services import expire_all
from barometre.settings import Settings

from . import digest, dispatch, trouble
from .delivery import due_ids, mark_stuck
from .events import close_group, due_groups


@dataclass(frozen=True)
class Reconciled:
    expired: int
    uncertain: int
    groups_sent: int
    digests_planned: int
    requeued: int
    warned: int = 0


def reconcile(session: DbSession, settings: Settings) -> Reconciled:
    """Warn of trouble, expire stale situations, send due groups, catch up the digest, requeue.

    The caller commits; queued notifications are handed over after commit.
    """
    now = clock.now()
    # Before marking stuck rows: an uncertain row seen here was left uncertain by an
    # earlier pass and is still not resent (it "stays uncertain").
    warned = trouble.warn_coordinators(session, settings, now)
    expired = expire_all(session, settings)
    uncertain = mark_stuck(session, now)
    sent = [close_group(session, group_id) for group_id in due_groups(session, now)]
    planned = []
    week = digest.due_week(now, settings)
    if week and not digest.week_planned(session, week):
        planned = digest.plan(session, settings, week)
    due = due_ids(session, now)
    dispatch.after_commit(session, due)
    return Reconciled(
        expired=len(expired),
        uncertain=uncertain,
        groups_sent=sum(1 for event in sent if event is not None),
        digests_planned=len(planned),
        requeued=len(due),
        warned=len(warned),
    )
