"""History imports as background jobs (issue 24): the request stores, a job replays.

The console's request stores the file(s) under the instance folder
(`imports/<id>-<token>/`), records an `ImportJob` row, commits and hands the
job over (`jobs.dispatch`, the machinery of exports): a Celery task with a
broker, a thread of this process in the embedded mode. It answers at once
whatever the files' size. The job runs the one import
(`history_import.import_history`, as the CLI does) in one transaction, which
commits with the job's outcome, or rolls back after a dry run or a refusal
(then the outcome alone is committed): the summary's numbers, or every bad
line. The uploaded files are deleted once the job has run.

Progress (lines replayed / lines in the files) goes to a small file beside the
upload, not to the row: the import is one transaction, and SQLite has one
writer at a time, so a progress row could not be committed while the replay
holds the write lock. The job's page reads that file while the job runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import shared_task
from flask import current_app
from sqlalchemy import or_, select, update

from barometre import clock, history_files, history_import
from barometre.extensions import DbSession, db
from barometre.history_files import ImportRefused, Problem
from barometre.models import User
from barometre.retention import imports_folder
from barometre.settings import current as settings
from barometre.states import JobState

from . import jobs
from .models import ImportJob

REPORTS_FILE, RESOLUTIONS_FILE, PROGRESS_FILE = "reports.csv", "resolutions.csv", "progress"
# What the import's upload accepts (the other forms keep MAX_CONTENT_LENGTH): about
# 250 000 lines of a committee's spreadsheet.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
PROBLEMS_PER_PAGE = 100
# The hard time limit of a job (the Celery task's): a job still "running" after it
# lost its process (its transaction was rolled back) and may be started again.
TIME_LIMIT = 1800
# The worker's task: the name its messages carry (kept from when alerts defined it).
RUN_HISTORY_IMPORT = "alerts.run_history_import"

log = logging.getLogger(__name__)


def imports_dir() -> Path:
    path = imports_folder(current_app.config["SETTINGS"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def create_import(
    session: DbSession, actor: User, reports: bytes, resolutions: bytes | None, dry_run: bool
) -> ImportJob:
    """Store the files and record the job (flush, the caller commits and dispatches)."""
    job = ImportJob(
        dry_run=dry_run,
        with_resolutions=resolutions is not None,
        total_lines=history_files.data_lines(reports)
        + (history_files.data_lines(resolutions) if resolutions else 0),
        created_by_id=actor.id,
    )
    session.add(job)
    session.flush()
    folder = imports_dir() / f"{job.id}-{secrets.token_hex(8)}"
    folder.mkdir()
    (folder / REPORTS_FILE).write_bytes(reports)
    if resolutions is not None:
        (folder / RESOLUTIONS_FILE).write_bytes(resolutions)
    job.folder = str(folder)
    return job


def job_in_progress(session: DbSession) -> ImportJob | None:
    """The import waiting or running, if any: imports go one at a time (each replays
    history under the establishments' locks, and SQLite has one writer)."""
    query = (
        select(ImportJob)
        .where(
            or_(
                ImportJob.state == JobState.PENDING,
                (ImportJob.state == JobState.RUNNING) & (ImportJob.started_at > _lost_before()),
            )
        )
        .order_by(ImportJob.id)
        .limit(1)
    )
    return session.scalar(query)


def _lost_before() -> Any:
    return clock.now() - timedelta(seconds=TIME_LIMIT)


def lost(job: ImportJob) -> bool:
    """Running longer than a job may: its process died, nothing of it was kept."""
    started = job.started_at
    return job.state == JobState.RUNNING and started is not None and started <= _lost_before()


def dispatch(job_id: int) -> None:
    """After commit: a Celery task, or a thread of this process."""
    jobs.dispatch(RUN_HISTORY_IMPORT, run_import, job_id)


def run_import(job_id: int) -> None:
    """Run one import job (needs an app context); safe to call twice: it runs once."""
    session = db.session
    claimed = jobs.claim(session, ImportJob, job_id, lines_read=0)
    if not (claimed or _claim_lost(session, job_id)):
        return
    job = session.get_one(ImportJob, job_id)
    folder = Path(job.folder)
    try:
        _replay(session, job, folder)
    except Exception as error:
        jobs.record_failure(session, ImportJob, job_id, error)
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # the files hold report text


@shared_task(name=RUN_HISTORY_IMPORT)
def run_import_task(job_id: int) -> None:
    """The worker's task: ids in, one call in the app context (`alerts.celery_app`)."""
    run_import(job_id)
    log.info("history import %s done", job_id)


def _claim_lost(session: DbSession, job_id: int) -> bool:
    """Take a job whose process died (a redelivered task): its files are still there."""
    result = session.execute(
        update(ImportJob)
        .where(
            ImportJob.id == job_id,
            ImportJob.state == JobState.RUNNING,
            ImportJob.started_at <= _lost_before(),
        )
        .values(started_at=clock.now(), lines_read=0)
    )
    session.commit()
    return bool(getattr(result, "rowcount", 0) == 1)


def _replay(session: DbSession, job: ImportJob, folder: Path) -> None:
    reports = (folder / REPORTS_FILE).read_bytes()
    resolutions = (folder / RESOLUTIONS_FILE).read_bytes() if job.with_resolutions else None
    actor = session.get(User, job.created_by_id) if job.created_by_id else None
    try:
        summary = history_import.import_history(
            session,
            reports,
            resolutions,
            actor,
            settings(),
            job.dry_run,
            ProgressFile(folder / PROGRESS_FILE),
        )
    except ImportRefused as refused:
        session.rollback()
        job.problems = [[p.file, p.line, p.column, p.message] for p in refused.problems]
        _finish(session, job, job.total_lines)  # every line was read and checked
        return
    if job.dry_run:
        session.rollback()
    job.totals = summary.as_dict()
    _finish(session, job, summary.report_rows + summary.resolution_rows)


def _finish(session: DbSession, job: ImportJob, lines: int) -> None:
    """Record the outcome: in the import's own commit when it imports."""
    job.state = JobState.DONE
    job.lines_read = job.total_lines = lines
    job.finished_at = clock.now()
    session.commit()


class ProgressFile:
    """The import's progress callback: "done total" in a file, rewritten at each hundredth."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.said = -1

    def __call__(self, done: int, total: int) -> None:
        step = done * 100 // max(total, 1)
        if step == self.said:
            return
        self.said = step
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(f"{done} {total}")
        os.replace(temporary, self.path)  # the page never reads half a file


@dataclass(frozen=True)
class Progress:
    done: int
    total: int

    @property
    def percent(self) -> int:
        return min(100, self.done * 100 // max(self.total, 1))


def progress(job: ImportJob) -> Progress:
    """Lines replayed and lines in the files: the row's once done, else the job's file."""
    if job.state == JobState.RUNNING and job.folder:
        with contextlib.suppress(OSError, ValueError):
            done, total = (Path(job.folder) / PROGRESS_FILE).read_text().split()
            return Progress(int(done), int(total))
    return Progress(job.lines_read, job.total_lines)


def summary_lines(job: ImportJob) -> list[str]:
    if not job.totals:
        return []
    totals = history_import.Totals.from_dict(job.totals)
    return history_import.summary_lines(totals, job.dry_run)


@dataclass(frozen=True)
class ProblemPage:
    """One page of a refused job's bad lines (what the console's pager reads)."""

    lines: list[str]
    page: int
    pages: int
    count: int

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def problem_page(job: ImportJob, number: int) -> ProblemPage:
    """The bad lines in file and line order, PROBLEMS_PER_PAGE a page (past the end: the last)."""
    count = len(job.problems)
    pages = max(-(-count // PROBLEMS_PER_PAGE), 1)
    page = min(max(number, 1), pages)
    start = (page - 1) * PROBLEMS_PER_PAGE
    shown = job.problems[start : start + PROBLEMS_PER_PAGE]
    return ProblemPage([str(_problem(p)) for p in shown], page, pages, count)


def _problem(stored: list[Any]) -> Problem:
    file, line, column, message = stored
    return history_files.Problem(str(file), int(line), str(column), str(message))
