"""What waits for the committee: the console home's counts and every console page's banner.

The core counts its own (reports to review, open situations, exports running);
other packages answer `signals.status_asked` with theirs (alerts: emails that
could not be delivered), so that the core never imports them. A line marked
`trouble` is something that went wrong: while its count is not zero, it shows
as a banner on every console page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import url_for
from flask_babel import ngettext
from sqlalchemy import ColumnElement, func, select

from barometre import signals
from barometre.extensions import DbSession
from barometre.models import Report, Situation
from barometre.states import JobState, ReviewState, SituationState

from .models import Export


@dataclass(frozen=True)
class Status:
    label: str  # in the reader's language, with its count
    count: int
    url: str
    trouble: bool = False
    # What the banner asks of the committee for this trouble (in the reader's language).
    advice: str = ""


def _count(session: DbSession, model: type[Any], *where: ColumnElement[bool]) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def core_status(session: DbSession) -> list[Status]:
    to_review = _count(session, Report, Report.review_state == ReviewState.UNREVIEWED)
    open_count = _count(session, Situation, Situation.status == SituationState.OPEN)
    running = _count(session, Export, Export.state.in_((JobState.PENDING, JobState.RUNNING)))
    return [
        Status(
            ngettext(
                "%(num)d signalement à examiner", "%(num)d signalements à examiner", to_review
            ),
            to_review,
            url_for("console.reports", state=ReviewState.UNREVIEWED),
        ),
        Status(
            ngettext("%(num)d situation ouverte", "%(num)d situations ouvertes", open_count),
            open_count,
            url_for("console.situations", state=SituationState.OPEN),
        ),
        Status(
            ngettext("%(num)d export en cours", "%(num)d exports en cours", running),
            running,
            url_for("console.export_list"),
        ),
    ]


def others_status(session: DbSession) -> list[Status]:
    """The lines of the packages wired in (their answers to `signals.status_asked`)."""
    return [line for _, lines in signals.status_asked.send(session) for line in lines]


def home_status(session: DbSession) -> list[Status]:
    """Every count of the console home: the core's, then the other packages'."""
    return core_status(session) + others_status(session)


def troubles(session: DbSession) -> list[Status]:
    """What went wrong and is not dealt with yet: the banner of every console page."""
    return [line for line in others_status(session) if line.trouble and line.count]
