"""The console's background jobs (exports, history imports): one way to hand one over.

A job is a row with a state (pending, running, done, failed). The request
records it and commits; `dispatch(kind, job_id)` then hands it over: to the
first of `JOB_DISPATCHERS` that takes it (the alerts package adds one that
sends a Celery task when a broker is configured), else to a thread of this
process (the embedded mode). The runner of a kind claims its row with a
conditional UPDATE (pending -> running), so a job run twice does its work once;
a failure is recorded by the exception's type only (no data in what users see).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from sqlalchemy import update

from barometre import clock
from barometre.extensions import DbSession, db
from barometre.states import JobState

EXPORT, HISTORY_IMPORT = "export", "history_import"

# Kind -> the function that runs one job of that kind (needs an app context).
RUNNERS: dict[str, Callable[[int], None]] = {}

# Hand-offs tried in order after commit: (kind, job id) -> True if it took the job
# (the alerts package adds one that sends a Celery task). None took it: a thread.
JOB_DISPATCHERS: list[Callable[[str, int], bool]] = []


def runner(kind: str) -> Callable[[Callable[[int], None]], Callable[[int], None]]:
    """Register the function that runs the jobs of `kind`."""

    def register(function: Callable[[int], None]) -> Callable[[int], None]:
        RUNNERS[kind] = function
        return function

    return register


def dispatch(kind: str, job_id: int) -> threading.Thread | None:
    """After commit: hand the job over, or run it in a thread of this process."""
    if kind not in RUNNERS:
        raise LookupError(kind)
    for dispatcher in JOB_DISPATCHERS:
        if dispatcher(kind, job_id):
            return None
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    thread = threading.Thread(
        target=_run_in_app, args=(app, kind, job_id), name=f"{kind}-{job_id}", daemon=True
    )
    thread.start()
    return thread


def _run_in_app(app: Flask, kind: str, job_id: int) -> None:
    with app.app_context():
        try:
            RUNNERS[kind](job_id)
        finally:
            db.session.remove()


def claim(session: DbSession, model: Any, job_id: int, **values: Any) -> bool:
    """Take a pending job (pending -> running) and commit; False if another run has it."""
    result = session.execute(
        update(model)
        .where(model.id == job_id, model.state == JobState.PENDING)
        .values(state=JobState.RUNNING, started_at=clock.now(), **values)
    )
    session.commit()
    return bool(getattr(result, "rowcount", 0) == 1)


def record_failure(session: DbSession, model: Any, job_id: int, error: BaseException) -> None:
    """After a failed run: roll back its work and say which kind of error stopped it."""
    session.rollback()
    current_app.logger.exception("%s %s failed", model.__tablename__, job_id)
    row = session.get(model, job_id)
    if row is None:
        return
    row.state = JobState.FAILED
    row.error = type(error).__name__  # no data in the message shown to users
    row.finished_at = clock.now()
    session.commit()
