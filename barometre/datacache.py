"""The app's one cache: values kept while the data under them is unchanged.

Kept only where the bench's budget fails without it (`python -m bench --only
barometer`, 40 establishments): the cards of `/` (rendered on every request,
0.006 of the baseline's requests per second) and the list of
`/api/v1/establishments` (0.39, goal 0.5). Each establishment row carries a
`revision` bumped by every UPDATE of the row (a column `onupdate`); the key of
a cached list is the (id, revision) of every listed establishment (aggregated
into one string by the database) plus the référentiel's rows, read in one
small query. A value is therefore never served for other data than its own:
there is no expiry to tune and nothing to invalidate. Each app keeps a few
values per cache, in each process (gunicorn workers each have their own).
A batch of emails keeps a `DataCache` of its own in its session (`alerts.emails.
event_contexts`): what every recipient of one alert shares, read once a batch.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, NamedTuple, TypeVar

from flask import current_app
from sqlalchemy import CompoundSelect, String, cast, func, literal, null, select, union_all

from .extensions import DbSession
from .models import Category, Condition, Establishment, OfferType
from .queries import ReferentielKey, Wording

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


class ListKey(NamedTuple):
    """What a list of the active establishments shows depends on, read in one statement."""

    establishments: str  # "id:revision" of each active one, by id (one string from the database)
    referentiel: ReferentielKey  # category codes in order, the category of each condition
    wording: Wording  # every label of the référentiel, in every language


@functools.cache
def _key_statement() -> CompoundSelect:
    """Built once: building the statement costs more than running it."""
    labels = (Category.label_fr, Category.label_nl, Category.label_en)
    active = (
        select(Establishment.id, Establishment.revision)
        .where(Establishment.active.is_(True))
        .order_by(Establishment.id)
        .subquery()
    )
    pairs = cast(active.c.id, String) + ":" + cast(active.c.revision, String)
    parts = [
        # One row, not one per establishment: 200 rows cost more to read than the rest.
        select(
            literal("e"), *_nulls(2), func.aggregate_strings(pairs, ","), *_nulls(3)
        ).select_from(active),
        select(literal("category"), Category.position, Category.id, Category.code, *labels),
        select(
            literal("condition"),
            Condition.category_id,
            Condition.id,
            Condition.code,
            Condition.label_fr,
            Condition.label_nl,
            Condition.label_en,
        ),
        select(
            literal("offer"),
            OfferType.position,
            OfferType.id,
            OfferType.code,
            OfferType.label_fr,
            OfferType.label_nl,
            OfferType.label_en,
        ),
    ]
    return union_all(*parts)


def barometer_key(session: DbSession) -> ListKey:
    """Everything a list of the active establishments depends on, in one small query.

    Read before the list itself: if a change commits in between, the value made
    is newer than its key, and that key never comes back (revisions only grow).
    """
    rows = [tuple(row) for row in session.execute(_key_statement())]
    # An order that differs for the same rows could only cost a miss, never serve other data.
    establishments = next((r[3] or "" for r in rows if r[0] == "e"), "")
    categories = sorted((r[1], r[2], r[3]) for r in rows if r[0] == "category")
    code_of = {category_id: code for _position, category_id, code in categories}
    category_of = sorted((r[2], code_of[r[1]]) for r in rows if r[0] == "condition")
    referentiel = (tuple(code for *_rest, code in categories), tuple(category_of))
    wording = tuple(sorted((r[0], *r[3:]) for r in rows if r[0] != "e"))
    return ListKey(establishments, referentiel, wording)


def _nulls(count: int) -> list[Any]:
    return [null()] * count


def clear_caches() -> None:
    """Forget every cached value of the current app (tests and benchmarks count full work)."""
    for values in current_app.extensions.get("barometre.datacache", {}).values():
        values.clear()
