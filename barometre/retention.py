"""Keep data no longer than needed (SPEC §4, GDPR art. 5(1)(e)).

- The free text of a report is erased `RETENTION_DAYS` after it was submitted;
  the report itself stays (establishment, date, conditions, offer types,
  counts), and so do situations, levels and their history.
- Audit entries are deleted `AUDIT_RETENTION_DAYS` after they were written.
- Export files (they hold report text) are deleted `EXPORT_RETENTION_HOURS`
  after they were made, by the reconciler and by the daily purge; files left
  by an export that never finished go too, and so do uploaded history files
  left by an import job that never ran them (its job deletes them once run).
- Ended sessions (device, client address) are deleted once they no longer make a
  device known (`user_sessions.KNOWN_FOR`, 90 days after they ended).
- Other packages erase theirs in the same purge (`signals.retention_due`):
  alerts erases a request to follow an establishment that was never confirmed
  once its link has expired, and a follower with nothing left to receive.

`purge_expired` is the service, run daily by the task `purge_retention` (Celery
beat schedules it, `alerts.celery_app`); `flask --app barometre retention purge`
runs it by hand.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from celery import shared_task
from flask import current_app
from sqlalchemy import delete, select, update

from . import clock, signals, user_sessions
from .console.models import Export
from .extensions import DbSession, db
from .models import AuditEntry, Report, UserSession
from .services import audit
from .settings import Settings, current


@dataclass(frozen=True)
class Erased:
    """What another package erased (its answer to `signals.retention_due`): its name in
    the audit entry, how many, and what the command line says of it (French)."""

    name: str
    count: int
    words: str


@dataclass(frozen=True)
class Purged:
    descriptions: int
    audit_entries: int
    others: tuple[Erased, ...] = ()

    def erased(self, name: str) -> int:
        return sum(e.count for e in self.others if e.name == name)


def description_cutoff(settings: Settings) -> datetime:
    """Reports submitted before this moment lose their free text."""
    return clock.now() - timedelta(days=settings.retention_days)


def audit_cutoff(settings: Settings) -> datetime:
    return clock.now() - timedelta(days=settings.audit_retention_days)


def purge_expired(session: DbSession, settings: Settings) -> Purged:
    """Erase what has outlived its retention; flush, never commit (safe to run twice)."""
    now = clock.now()
    erased: Any = session.execute(
        update(Report)
        .where(Report.submitted_at < description_cutoff(settings), Report.description != "")
        .values(description="", description_purged_at=now)
        .execution_options(synchronize_session="fetch")
    )
    deleted: Any = session.execute(delete(AuditEntry).where(AuditEntry.at < audit_cutoff(settings)))
    sessions: Any = session.execute(
        delete(UserSession).where(UserSession.ended_at < now - user_sessions.KNOWN_FOR)
    )
    answers = signals.retention_due.send(session, settings=settings)
    others = (
        *(e for _receiver, erased_there in answers for e in erased_there),
        Erased("sessions", sessions.rowcount or 0, "Sessions terminées supprimées"),
    )
    purged = Purged(erased.rowcount or 0, deleted.rowcount or 0, others)
    if purged.descriptions or purged.audit_entries or any(e.count for e in others):
        # Counts only; the others' counts when there were any (older entries lack them).
        extra = {e.name: e.count for e in others} if any(e.count for e in others) else {}
        audit(
            session,
            None,
            "retention.purge",
            descriptions=purged.descriptions,
            audit_entries=purged.audit_entries,
            **extra,
        )
    session.flush()
    return purged


log = logging.getLogger(__name__)

# The daily task: the name beat and queued messages carry (kept from when alerts defined
# it), and its hard time limit in seconds.
PURGE_RETENTION = "alerts.purge_retention"
TIME_LIMIT = 300


def export_cutoff(settings: Settings) -> datetime:
    """Export files made before this moment are deleted."""
    return clock.now() - timedelta(hours=settings.export_retention_hours)


def exports_folder(settings: Settings) -> Path:
    return Path(settings.instance_path) / "exports"


def imports_folder(settings: Settings) -> Path:
    """Where import jobs keep the uploaded history files until they have run."""
    return Path(settings.instance_path) / "imports"


def purge_export_files(session: DbSession, settings: Settings) -> int:
    """Delete export files older than EXPORT_RETENTION_HOURS; flush, never commit.

    The row stays (who asked what, when) without its file. Files no row points
    to (an export whose worker died while writing) go by their age on disk, and
    so do the folders of uploaded history files an import job left behind.
    Returns how many files (and upload folders) were deleted.
    """
    cutoff = export_cutoff(settings)
    expired = session.scalars(
        select(Export).where(Export.file_path != "", Export.finished_at < cutoff)
    ).all()
    deleted = 0
    for export in expired:
        path = Path(export.file_path)
        if path.exists():
            path.unlink()
            deleted += 1
        export.file_path = ""
    kept = set(session.scalars(select(Export.file_path).where(Export.file_path != "")))
    folder = exports_folder(settings)
    if folder.is_dir():
        for path in folder.iterdir():
            if path.is_file() and str(path) not in kept and _made_before(path, cutoff):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    deleted += 1
    deleted += _purge_left_uploads(settings, cutoff)
    if deleted:
        log.info("export files deleted", extra={"fields": {"count": deleted}})
    session.flush()
    return deleted


def _purge_left_uploads(settings: Settings, cutoff: datetime) -> int:
    """An import job deletes its uploaded files once it ran; a job whose process died
    before that (and was never run again) leaves them: they hold report text. A running
    job's folder is younger than any cutoff (its progress file is rewritten as it goes)."""
    folder = imports_folder(settings)
    if not folder.is_dir():
        return 0
    left = [path for path in folder.iterdir() if path.is_dir() and _made_before(path, cutoff)]
    for path in left:
        shutil.rmtree(path, ignore_errors=True)
    return len(left)


def _made_before(path: Path, cutoff: datetime) -> bool:
    modified = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)
    return modified < cutoff


@shared_task(name=PURGE_RETENTION)
def purge_retention() -> dict[str, int]:
    """The daily purge on a worker, in the app context (`alerts.celery_app`)."""
    settings = current()
    purged = purge_expired(db.session, settings)
    files = purge_export_files(db.session, settings)
    db.session.commit()
    log.info("retention purge: %s; export files deleted: %d", purged, files)
    return {
        "descriptions": purged.descriptions,
        "audit_entries": purged.audit_entries,
        "export_files": files,
    }


retention_cli = click.Group("retention", help="Durées de conservation des données.")


@retention_cli.command("purge")
def purge_command() -> None:
    """Efface les textes libres et les entrées d'audit arrivés en fin de conservation."""
    settings = current_app.config["SETTINGS"]
    purged = purge_expired(db.session, settings)
    files = purge_export_files(db.session, settings)
    db.session.commit()
    others = "".join(f"{e.words}\xa0: {e.count}\xa0; " for e in purged.others)
    click.echo(
        f"Textes libres effacés\xa0: {purged.descriptions}\xa0; "
        f"entrées d'audit supprimées\xa0: {purged.audit_entries}\xa0; "
        f"{others}fichiers d'export supprimés\xa0: {files}."
    )
