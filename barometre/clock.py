"""One place that tells the time, so that time rules are tested with frozen time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

# Where visits happen unless TIMEZONE says otherwise.
DEFAULT_ZONE = ZoneInfo("Europe/Brussels")

# The moment of the record being replayed by the history import, else None.
_replayed: ContextVar[datetime | None] = ContextVar("replayed", default=None)


def now() -> datetime:
    """Naive UTC: what every DateTime column stores."""
    replayed = _replayed.get()
    if replayed is not None:
        return replayed
    return datetime.now(UTC).replace(tzinfo=None)


def zone() -> ZoneInfo:
    """The product's time zone (TIMEZONE), Brussels outside an app."""
    if has_app_context():
        return ZoneInfo(current_app.config["SETTINGS"].timezone)
    return DEFAULT_ZONE


def today() -> date:
    """The calendar date where visits happen (TIMEZONE)."""
    return local_day(now())


def local_day(moment: datetime) -> date:
    """The local date (TIMEZONE) of a naive UTC moment (as stored)."""
    return moment.replace(tzinfo=UTC).astimezone(zone()).date()


def local_moment(day: date, hour: int) -> datetime:
    """`hour` o'clock on `day` where visits happen (TIMEZONE), as naive UTC."""
    moment = datetime(day.year, day.month, day.day, hour, tzinfo=zone())
    return moment.astimezone(UTC).replace(tzinfo=None)


@contextmanager
def replaying(moment: datetime) -> Iterator[None]:
    """The history import only: the rules run at the date of the record replayed,
    so situations, expiry and level changes carry the records' dates."""
    token = _replayed.set(moment)
    try:
        yield
    finally:
        _replayed.reset(token)
