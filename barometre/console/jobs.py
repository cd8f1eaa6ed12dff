"""The console's background jobs (exports, history imports): one way to hand one over.

A job is a row with a state (pending, running, done, failed). The request
records it and commits; `dispatch(task, run, job_id)` then hands it over: a
receiver of `signals.job_asked` takes it (alerts sends the Celery task `task`
when a broker is configured), else a thread of this process calls `run` (the
embedded mode). The runner claims its row with a conditional UPDATE
(pending -> running), so a job run twice does its work once; a failure is
recorded by the exception's type only (no data in what users see).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from sqlalchemy import update

from barometre import clock, signals
from barometre.extensions import DbSession, db
from barometre.states import JobState

# Runs one job of a kind in this process (needs an app context).
Runner = Callable[[int], None]


def dispatch(task: str, run: Runner, job_id: int) -> threading.Thread | None:
    """After commit: hand the job over (to a worker's `task`), or `run` it in a thread here."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    answers = signals.job_asked.send(app, task=task, job_id=job_id)
    if any(taken for _receiver, taken in answers):
        return None
    thread = threading.Thread(
        target=_run_in_app, args=(app, run, job_id), name=f"{task}-{job_id}", daemon=True
    )
    thread.start()
    return thread


def _run_in_app(app: Flask, run: Runner, job_id: int) -> None:
    with app.app_context():
        try:
            run(job_id)
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
