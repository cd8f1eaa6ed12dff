"""The reconciler (SPEC §7.4): whatever was recorded but not done gets done.

Run every minute by beat (or the embedded ticker), and by hand with
`flask --app barometre alerts reconcile`. Each step is safe to run twice and
concurrently: the claims are conditional UPDATEs and unique rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from barometre import clock
from barometre.console.exports import reset_stuck_exports
from barometre.extensions import DbSession
from barometre.retention import purge_export_files
from barometre.services import expire_all
from barometre.settings import Settings

from . import digest, handoff, reminders, trouble
from .delivery import due_notifications, mark_stuck
from .events import close_group, due_groups
from .models import DIGEST


@dataclass(frozen=True)
class Reconciled:
    expired: int
    uncertain: int
    groups_sent: int
    digests_planned: int
    requeued: int
    exports_reset: int = 0
    export_files_deleted: int = 0
    warned: int = 0
    reminders: int = 0


def reconcile(session: DbSession, settings: Settings) -> Reconciled:
    """Warn of trouble, expire stale situations, send due groups, remind of lasting reds,
    catch up the digest, requeue due rows, reset exports whose worker died and delete old
    export files.

    The caller commits; queued notifications and reset exports are handed over after commit.
    """
    now = clock.now()
    # Before marking stuck rows: an uncertain row seen here was left uncertain by an
    # earlier pass and is still not resent (it "stays uncertain").
    warned = trouble.warn_coordinators(session, settings, now)
    expired = expire_all(session, settings)
    uncertain = mark_stuck(session, now)
    sent = [close_group(session, group_id) for group_id in due_groups(session, now)]
    reminded = reminders.sweep(session, settings)
    planned = []
    week = digest.due_week(now, settings)
    if week and not digest.week_planned(session, week):
        planned = digest.plan(session, settings, week)
    due = due_notifications(session, now)
    # A digest's rows are requeued behind the digest, never in front of alerts.
    handoff.after_commit(session, [i for i, kind in due if kind != DIGEST])
    handoff.after_commit(session, [i for i, kind in due if kind == DIGEST], bulk=True)
    reset = reset_stuck_exports(session, now)
    handoff.exports_after_commit(session, reset)
    return Reconciled(
        expired=len(expired),
        uncertain=uncertain,
        groups_sent=sum(1 for event in sent if event is not None),
        digests_planned=len(planned),
        requeued=len(due),
        exports_reset=len(reset),
        export_files_deleted=purge_export_files(session, settings),
        warned=len(warned),
        reminders=len(reminded),
    )
