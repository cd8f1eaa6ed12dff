"""Keep data no longer than needed (SPEC §4, GDPR art. 5(1)(e)).

- The free text of a report is erased `RETENTION_DAYS` after it was submitted;
  the report itself stays (establishment, date, conditions, offer types,
  counts), and so do situations, levels and their history.
- Audit entries are deleted `AUDIT_RETENTION_DAYS` after they were written.

`purge_expired` is the service (the alerts package schedules it daily in
Celery beat); `flask --app barometre retention purge` runs it by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import click
from flask import current_app
from sqlalchemy import delete, update

from . import clock
from .extensions import DbSession, db
from .models import AuditEntry, Report
from .services import audit
from .settings import Settings


@dataclass(frozen=True)
class Purged:
    descriptions: int
    audit_entries: int


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
    purged = Purged(erased.rowcount or 0, deleted.rowcount or 0)
    if purged.descriptions or purged.audit_entries:
        audit(
            session,
            None,
            "retention.purge",
            descriptions=purged.descriptions,
            audit_entries=purged.audit_entries,
        )
    session.flush()
    return purged


retention_cli = click.Group("retention", help="Durées de conservation des données.")


@retention_cli.command("purge")
def purge_command() -> None:
    """Efface les textes libres et les entrées d'audit arrivés en fin de conservation."""
    purged = purge_expired(db.session, current_app.config["SETTINGS"])
    db.session.commit()
    click.echo(
        f"Textes libres effacés : {purged.descriptions} ; "
        f"entrées d'audit supprimées : {purged.audit_entries}."
    )
