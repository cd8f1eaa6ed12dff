"""The console's own rows: export jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from barometre import clock
from barometre.extensions import db
from barometre.models import User
from barometre.states import ExportState

EXPORT_PENDING = ExportState.PENDING
EXPORT_RUNNING = ExportState.RUNNING
EXPORT_DONE = ExportState.DONE
EXPORT_FAILED = ExportState.FAILED

EXPORT_KINDS = ("reports", "situations")
EXPORT_FORMATS = ("csv", "xlsx")


class Export(db.Model):  # type: ignore[name-defined]
    """One export job: made in the request, filled in the background, offered when done."""

    __tablename__ = "export"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    format: Mapped[str] = mapped_column(String(8))
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(12), default=EXPORT_PENDING)
    progress: Mapped[int] = mapped_column(Integer, default=0)  # percent
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    file_path: Mapped[str] = mapped_column(String(500), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)

    created_by: Mapped[User | None] = relationship()

    @property
    def finished(self) -> bool:
        return self.state in (EXPORT_DONE, EXPORT_FAILED)
