"""The console's own rows: export jobs and history import jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from barometre import clock
from barometre.extensions import db
from barometre.models import User
from barometre.states import JobState

EXPORT_KINDS = ("reports", "situations")
EXPORT_FORMATS = ("csv", "xlsx")


class Job:
    """What every background job of the console keeps (`barometre.console.jobs` runs them):
    its state, who asked, when it ran, and the kind of error that stopped it."""

    state: Mapped[str] = mapped_column(String(12), default=JobState.PENDING)
    error: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)

    @declared_attr
    def created_by(cls) -> Mapped[User | None]:
        return relationship(User)

    @property
    def finished(self) -> bool:
        return self.state in (JobState.DONE, JobState.FAILED)


class Export(Job, db.Model):  # type: ignore[name-defined]
    """One export job: made in the request, filled in the background, offered when done."""

    __tablename__ = "export"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    format: Mapped[str] = mapped_column(String(8))
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    progress: Mapped[int] = mapped_column(Integer, default=0)  # percent
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    file_path: Mapped[str] = mapped_column(String(500), default="")


class ImportJob(Job, db.Model):  # type: ignore[name-defined]
    """One history import (or its dry run): files stored by the request, replayed in the
    background (`barometre.console.import_jobs`), its outcome kept for its page."""

    __tablename__ = "import_job"
    id: Mapped[int] = mapped_column(primary_key=True)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    # The folder holding the uploaded files until the job has run (then deleted).
    folder: Mapped[str] = mapped_column(String(500), default="")
    with_resolutions: Mapped[bool] = mapped_column(Boolean, default=False)
    total_lines: Mapped[int] = mapped_column(Integer, default=0)  # data lines of the files
    lines_read: Mapped[int] = mapped_column(Integer, default=0)
    # The outcome: what the import did (history_import.Totals), or every bad line
    # ([file, line, column, message]) when it was refused.
    totals: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    problems: Mapped[list[list[Any]]] = mapped_column(JSON, default=list)

    @property
    def refused(self) -> bool:
        return self.state == JobState.DONE and bool(self.problems)
