"""Exports of reports and situations, as CSV or XLSX, produced in the background.

The request records an `Export` row and commits; the work runs after commit
(`dispatch`, the console's one job machinery, `barometre.console.jobs`): in the
embedded default in a thread of this process, with a broker in the Celery task
below (`run_export_task`) calling `run_export(export_id)`. `run_export` claims the row with a
conditional UPDATE (pending -> running), so running it twice writes one
file. Rows are read in keyset chunks and written as they come (openpyxl's
write-only mode), so 100 000 reports never sit in memory; progress is
committed after each chunk for the page that polls it.

Labels are French words, never codes. Report text is included (exports are for
coordinators only); the author's name never is.
"""

from __future__ import annotations

import csv
import logging
import secrets
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from celery import shared_task
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from barometre import clock
from barometre.errors import ValidationFailed
from barometre.extensions import DbSession, db
from barometre.models import (
    Category,
    Condition,
    Establishment,
    MemberService,
    OfferType,
    Report,
    Situation,
    User,
    report_condition,
    report_offer_type,
)
from barometre.presentation import REVIEW_STATES, SITUATION_STATES, local
from barometre.services import audit
from barometre.states import JobState
from barometre.text import printable_only

from . import jobs
from .filters import Filters, report_clauses, situation_clauses
from .models import EXPORT_FORMATS, EXPORT_KINDS, Export

CHUNK = 5000
Row = Sequence[Any]
# The worker's task: the name its messages carry (kept from when alerts defined it, so
# that a message queued before an upgrade still finds it).
RUN_EXPORT = "alerts.run_export"
# Its hard time limit, in seconds: 10^5 reports take about 15 s (bench/RESULTS.md),
# twenty times that. The reconciler resets an export still running long after it.
TIME_LIMIT = 300

log = logging.getLogger(__name__)


def exports_dir() -> Path:
    path = Path(current_app.config["SETTINGS"].instance_path) / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def create_export(session: DbSession, actor: User, kind: str, fmt: str, filters: Filters) -> Export:
    if kind not in EXPORT_KINDS:
        raise ValidationFailed({"kind": [_("Type d'export inconnu.")]})
    if fmt not in EXPORT_FORMATS:
        raise ValidationFailed({"format": [_("Format inconnu.")]})
    export = Export(kind=kind, format=fmt, filters=filters.as_dict(), created_by_id=actor.id)
    session.add(export)
    session.flush()
    audit(session, actor, "export.create", export, kind=kind, format=fmt, **filters.as_dict())
    return export


def dispatch(export_id: int) -> threading.Thread | None:
    """After commit: hand the export over (a Celery task), or run it in a thread here."""
    return jobs.dispatch(RUN_EXPORT, run_export, export_id)


def claim(session: DbSession, export_id: int) -> bool:
    return jobs.claim(session, Export, export_id, progress=0)


def run_export(export_id: int) -> None:
    """Produce the file of one export (needs an app context); safe to call twice."""
    session = db.session
    if not claim(session, export_id):
        return
    export = session.get(Export, export_id)
    assert export is not None  # noqa: S101 - claimed just above
    try:
        _produce(session, export)
    except Exception as error:
        jobs.record_failure(session, Export, export_id, error)


@shared_task(name=RUN_EXPORT)
def run_export_task(export_id: int) -> None:
    """The worker's task: ids in, one call in the app context (`alerts.celery_app`)."""
    run_export(export_id)
    log.info("export %s done", export_id)


def _produce(session: DbSession, export: Export) -> None:
    filters = Filters.from_dict(export.filters)
    source = REPORTS if export.kind == "reports" else SITUATIONS
    export.total_rows = source.count(session, filters)
    session.commit()
    path = exports_dir() / f"{export.kind}-{export.id}-{secrets.token_hex(8)}.{export.format}"
    done = 0
    with open_writer(path, export.format, source.title()) as write:
        write(source.header())
        for rows in source.chunks(session, filters):
            for row in rows:
                write(row)
            done += len(rows)
            save_progress(session, export, done)
    export.state = JobState.DONE
    export.progress = 100
    export.row_count = done
    export.file_path = str(path)
    export.finished_at = clock.now()
    session.commit()


# An export still "running" this long after it started lost its worker (the task's
# hard limit kills it well before). It is reset and runs again, until this long after
# it was asked for: then it has failed.
EXPORT_STUCK_AFTER = timedelta(seconds=TIME_LIMIT + 60)
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


def save_progress(session: DbSession, export: Export, done: int) -> None:
    total = max(export.total_rows, 1)
    export.row_count = done
    export.progress = min(99, done * 100 // total)
    session.commit()


# --- writing --------------------------------------------------------------------------------

DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula is quoted (CSV/formula injection).

    Characters outside the text rule are dropped first: rows stored before it may
    hold controls that XLSX (XML) cannot carry, and dropping one must not uncover
    a formula.
    """
    if not isinstance(value, str):
        return value
    value = printable_only(value)
    if value.startswith(DANGEROUS_START):
        return "'" + value
    return value


@contextmanager
def open_writer(path: Path, fmt: str, title: str) -> Iterator[Callable[[Row], None]]:
    if fmt == "csv":
        # UTF-8 with BOM and semicolons: what spreadsheets in Belgium open as is.
        with path.open("w", newline="", encoding="utf-8-sig") as handle:
            writer = csv.writer(handle, delimiter=";")
            yield lambda row: writer.writerow([_csv_value(cell(v)) for v in row])
        return
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    yield lambda row: sheet.append([cell(v) for v in row])
    workbook.save(path)


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return value


def wall_clock(value: datetime | None) -> datetime | None:
    """Brussels time without a zone: spreadsheets know no time zones."""
    shown = local(value)
    return shown.replace(tzinfo=None) if shown else None


def yes_no(value: bool | None) -> str:
    if value is None:
        return ""
    return _("Oui") if value else _("Non")


# --- sources --------------------------------------------------------------------------------


class Labels:
    """Référentiel labels by id, loaded once per export."""

    def __init__(self, session: DbSession) -> None:
        self.categories = {c.id: c.label_fr for c in session.scalars(select(Category))}
        self.conditions: dict[int, tuple[int, str, int]] = {
            c.id: (c.position, c.label_fr, c.category_id)
            for c in session.scalars(select(Condition))
        }
        self.offer_types: dict[int, tuple[int, str]] = {
            o.id: (o.position, o.label_fr) for o in session.scalars(select(OfferType))
        }
        self.offer_codes = {o.code: o.label_fr for o in session.scalars(select(OfferType))}

    def offers_of(self, codes: str) -> str:
        """Codes such as "individuel,collectif" as "Individuel, Collectif"."""
        return ", ".join(self.offer_codes.get(code, code) for code in codes.split(",") if code)


def _links(
    session: DbSession, table: Any, column: str, low: int, high: int
) -> dict[int, list[int]]:
    """report id -> linked ids, for one chunk's id range."""
    other = getattr(table.c, column)
    query = select(table.c.report_id, other).where(table.c.report_id.between(low, high))
    grouped: dict[int, list[int]] = defaultdict(list)
    for report_id, linked in session.execute(query):
        grouped[report_id].append(linked)
    return grouped


def _condition_types(session: DbSession, low: int, high: int) -> dict[int, list[tuple[int, str]]]:
    """report id -> (condition id, offer type codes) of each condition, for one chunk (R1)."""
    table = report_condition
    query = select(table.c.report_id, table.c.condition_id, table.c.offer_types).where(
        table.c.report_id.between(low, high)
    )
    grouped: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for report_id, condition_id, offer_types in session.execute(query):
        grouped[report_id].append((condition_id, offer_types))
    return grouped


class ReportSource:
    def title(self) -> str:
        return _("Signalements")

    def header(self) -> list[str]:
        return [
            _("N°"),
            _("Établissement"),
            _("Date de visite"),
            _("Enregistré le"),
            _("Service"),
            _("Catégories"),
            _("Conditions non respectées"),
            _("Types d'offre"),
            _("Types d'offre par condition"),
            _("Minutes d'attente"),
            _("Activité annulée"),
            _("Détenus non vus"),
            _("Revue"),
            _("Motif du rejet"),
            _("Description"),
            _("Référence d'import"),  # empty for a live report: the committee's history
        ]

    def count(self, session: DbSession, filters: Filters) -> int:
        query = select(func.count()).select_from(Report).where(*report_clauses(filters))
        return int(session.scalar(query) or 0)

    def chunks(self, session: DbSession, filters: Filters) -> Iterator[list[Row]]:
        labels = Labels(session)
        query = (
            select(
                Report.id,
                Establishment.name,
                Report.visit_date,
                Report.submitted_at,
                MemberService.name,
                Report.minutes_waited,
                Report.activity_cancelled,
                Report.detainees_not_seen,
                Report.review_state,
                Report.review_reason,
                Report.description,
                Report.import_reference,
            )
            .join(Establishment, Report.establishment_id == Establishment.id)
            .outerjoin(MemberService, Report.service_id == MemberService.id)
            .where(*report_clauses(filters))
            .order_by(Report.id)
            .limit(CHUNK)
        )
        last = 0
        while True:
            rows = session.execute(query.where(Report.id > last)).all()
            if not rows:
                return
            low, last = rows[0][0], rows[-1][0]
            conditions = _condition_types(session, low, last)
            offers = _links(session, report_offer_type, "offer_type_id", low, last)
            yield [self.row(r, conditions[r[0]], offers[r[0]], labels) for r in rows]

    def row(
        self, r: Any, condition_types: list[tuple[int, str]], offer_ids: list[int], labels: Labels
    ) -> Row:
        ordered = sorted(condition_types, key=lambda pair: labels.conditions[pair[0]])
        conditions = [labels.conditions[i] for i, _types in ordered]
        categories = dict.fromkeys(labels.categories[c[2]] for c in conditions)
        offers = sorted(labels.offer_types[i] for i in offer_ids)
        per_condition = " | ".join(
            f"{labels.conditions[i][1]} : {labels.offers_of(types)}" for i, types in ordered
        )
        return [
            r[0],
            r[1],
            r[2],
            wall_clock(r[3]),
            r[4] or "",
            " | ".join(categories),
            " | ".join(c[1] for c in conditions),
            ", ".join(o[1] for o in offers),
            per_condition,
            r[5],
            yes_no(r[6]),
            r[7],
            str(REVIEW_STATES.get(r[8], r[8])),
            r[9] or "",
            r[10] or "",
            r[11] or "",
        ]


class SituationSource:
    def title(self) -> str:
        return _("Situations")

    def header(self) -> list[str]:
        return [
            _("N°"),
            _("Établissement"),
            _("Catégorie"),
            _("Condition"),
            _("Types d'offre"),
            _("État"),
            _("Ouverte le"),
            _("Première constatation"),
            _("Dernière confirmation"),
            _("Signalements"),
            _("Close le"),
            _("Note de clôture"),
        ]

    def count(self, session: DbSession, filters: Filters) -> int:
        query = select(func.count()).select_from(Situation).where(*situation_clauses(filters))
        return int(session.scalar(query) or 0)

    def chunks(self, session: DbSession, filters: Filters) -> Iterator[list[Row]]:
        labels = Labels(session)
        query = (
            select(
                Situation.id,
                Establishment.name,
                Situation.condition_id,
                Situation.offer_types,
                Situation.status,
                Situation.opened_at,
                Situation.first_visit,
                Situation.last_confirmed,
                Situation.report_count,
                Situation.closed_at,
                Situation.close_note,
            )
            .join(Establishment, Situation.establishment_id == Establishment.id)
            .where(*situation_clauses(filters))
            .order_by(Situation.id)
            .limit(CHUNK)
        )
        last = 0
        while True:
            rows = session.execute(query.where(Situation.id > last)).all()
            if not rows:
                return
            last = rows[-1][0]
            yield [self.row(r, labels) for r in rows]

    def row(self, r: Any, labels: Labels) -> Row:
        _position, wording, category_id = labels.conditions[r[2]]
        offers = [labels.offer_codes.get(code, code) for code in r[3].split(",") if code]
        return [
            r[0],
            r[1],
            labels.categories[category_id],
            wording,
            ", ".join(offers),
            str(SITUATION_STATES.get(r[4], r[4])),
            wall_clock(r[5]),
            r[6],
            r[7],
            r[8],
            wall_clock(r[9]),
            r[10] or "",
        ]


REPORTS = ReportSource()
SITUATIONS = SituationSource()
