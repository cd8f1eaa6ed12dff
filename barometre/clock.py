"""One place that tells the time, so that time rules are tested with frozen time."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Europe/Brussels")


def now() -> datetime:
    """Naive UTC: what every DateTime column stores."""
    return datetime.now(UTC).replace(tzinfo=None)


def today() -> date:
    """The calendar date in Brussels, where visits happen."""
    return datetime.now(UTC).astimezone(LOCAL_TZ).date()
