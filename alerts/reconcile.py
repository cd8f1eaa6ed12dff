"""The reconciler (SPEC §7.4): whatever was recorded but not done gets done.

Run every minute by beat (or the embedded ticker), and by hand with
`flask --app barometre alerts reconcile`. Each step is safe to run twice and
concurrently: the claims are conditional UPDATEs and unique rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from barometre import clock
from barometre.console.models import Export
from barometre.extensions import DbSession
from barometre.retention import purge_export_files
from barometre.services import expire_all
from barometre.settings import Settings
from barometre.states import JobState

from . import digest, handoff, reminders, trouble
from .celery_app import TIME_LIMITS
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


# An export still "running" this long after it started lost its worker (the task's
# hard limit kills it well before). It is reset and runs again, until this long after
# it was asked for: then it has failed.
EXPORT_STUCK_AFTER = timedelta(seconds=TIME_LIMITS["alerts.run_export"][1] + 60)
EXPORT_GIVE_UP_AFTER = 3 * EXPORT_STUCK_AFTER
# What the export page shows: the reason it started again, or why it failed.
WORKER_LOST = "WorkerLostError"


def reset_stuck_exports(session: DbSession, now: datetime) -> list[int]:
    """Exports whose worker died: back to pending (the ids to run again), or failed."""
    stuck = session.scalars(
        select(Export).where(
            Export.state == JobState.RUNNING, Export.started_at < now - EXPORT_STUCK_AFTER
        )
    ).all()
    again = []
    for export in stuck:
        export.error = WORKER_LOST
        if export.created_at < now - EXPORT_GIVE_UP_AFTER:
            export.state = JobState.FAILED
            export.finished_at = now
        else:
            export.state = JobState.PENDING
            export.progress = 0
            export.row_count = 0
            again.append(export.id)
    session.flush()
    return again


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
