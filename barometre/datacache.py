"""What the barometer lists show, kept while the data under it is unchanged.

The list of 200 establishments costs milliseconds of Python to build (objects,
levels, breakdowns, JSON or HTML) while it changes only when a report, a
decision or an edit changes an establishment. Each establishment row carries a
`revision` bumped by every UPDATE of the row (a column `onupdate`); the key of
a cached list is the (id, revision) of every listed establishment plus the
categories of the conditions, read in two small queries. A value is therefore
never served for other data than its own: there is no expiry to tune and
nothing to invalidate. Each app keeps a few values per cache, in each process
(gunicorn workers each have their own).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from flask import current_app
from sqlalchemy import select

from .extensions import DbSession
from .models import Establishment
from .queries import ReferentielKey, referentiel_key

T = TypeVar("T")


class DataCache(Generic[T]):
    """A handful of values, least recently used first out."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._values: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = make()  # outside the lock: two threads may both make it, both right
        with self._lock:
            self._values[key] = value
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


def cache(name: str) -> DataCache[Any]:
    """The app's cache called `name` (one per app: a test's database never leaks into another's)."""
    caches: dict[str, DataCache[Any]] = current_app.extensions.setdefault("barometre.datacache", {})
    if name not in caches:
        caches[name] = DataCache()
    return caches[name]


def barometer_key(session: DbSession) -> tuple[tuple[tuple[int, int], ...], ReferentielKey]:
    """Everything a list of the active establishments depends on, in two small queries.

    Read before the list itself: if a change commits in between, the value made
    is newer than its key, and that key never comes back (revisions only grow).
    """
    rows = session.execute(
        select(Establishment.id, Establishment.revision)
        .where(Establishment.active.is_(True))
        .order_by(Establishment.name)
    )
    return (tuple((row[0], row[1]) for row in rows), referentiel_key(session))


def clear_caches() -> None:
    """Forget every cached value of the current app (tests and benchmarks count full work)."""
    for values in current_app.extensions.get("barometre.datacache", {}).values():
        values.clear()
