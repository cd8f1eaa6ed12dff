"""The colour rules of the source document, as a pure module (R4, R13).

No Flask, no database: plain facts in, a level out.

- no open situation -> vert (all conditions met);
- rouge <=> n >= red_threshold and at least red_min_offer_types distinct offer
  types among the open situations ("activé au cinquième code orange ... au moins
  2 (et idéalement 3) des 3 types d'offre");
- otherwise orange, step min(n, 5) ("composé de 5 gradations").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

OFFER_TYPES: tuple[str, ...] = ("individuel", "collectif", "cellulaire")
VERT, ORANGE, ROUGE = "vert", "orange", "rouge"
MAX_ORANGE_STEP = 5


@dataclass(frozen=True)
class Thresholds:
    red_threshold: int = 5
    red_min_offer_types: int = 2


@dataclass(frozen=True, order=False)
class Level:
    colour: str
    step: int
    open_situations: int
    offer_types: tuple[str, ...]
    red_blocked_by_diversity: bool

    @property
    def rank(self) -> int:
        return rank_of(self.colour, self.step)

    @property
    def diversity(self) -> int:
        return len(self.offer_types)

    @property
    def missing_offer_types(self) -> tuple[str, ...]:
        return tuple(t for t in OFFER_TYPES if t not in self.offer_types)

    def as_dict(self) -> dict[str, object]:
        return {
            "colour": self.colour,
            "step": self.step,
            "open_situations": self.open_situations,
            "offer_types": list(self.offer_types),
            "red_blocked_by_diversity": self.red_blocked_by_diversity,
        }


def rank_of(colour: str, step: int) -> int:
    """Position on the 7-position gauge: vert 0, orange 1..5, rouge 6."""
    return 6 if colour == ROUGE else step


def level_at(rank: int) -> tuple[str, int]:
    """(colour, step) at a position of the gauge: the inverse of `rank_of`."""
    if rank <= 0:
        return VERT, 0
    if rank > MAX_ORANGE_STEP:
        return ROUGE, MAX_ORANGE_STEP
    return ORANGE, rank


GREEN = Level(VERT, 0, 0, (), False)


def ordered_types(types: Iterable[str]) -> tuple[str, ...]:
    present = set(types)
    known = tuple(t for t in OFFER_TYPES if t in present)
    if len(known) == len(present):
        return known
    return known + tuple(sorted(present - set(OFFER_TYPES)))


@lru_cache(maxsize=256)
def stored_types(stored: str) -> tuple[str, ...]:
    """The offer types of a stored "individuel,collectif" column, in order (few distinct
    values; the level of an establishment reads those of every open situation)."""
    return ordered_types(t for t in stored.split(",") if t)


@lru_cache(maxsize=1024)
def stored_level(
    colour: str, step: int, open_situations: int, offer_types: str, red_blocked: bool
) -> Level:
    """The level kept in an establishment's columns (few distinct values: memoized)."""
    if not open_situations:
        return GREEN
    types = ordered_types(t for t in offer_types.split(",") if t)
    return Level(colour, step, open_situations, types, red_blocked)


def compute_level(
    situations: Iterable[Iterable[str]], thresholds: Thresholds | None = None
) -> Level:
    """Level of one establishment from the offer types of its open situations."""
    thresholds = thresholds or Thresholds()
    situation_types = [frozenset(types) for types in situations]
    count = len(situation_types)
    if count == 0:
        return GREEN
    union = ordered_types(frozenset().union(*situation_types))
    enough_situations = count >= thresholds.red_threshold
    diverse = len(union) >= thresholds.red_min_offer_types
    step = min(count, MAX_ORANGE_STEP)
    if enough_situations and diverse:
        return Level(ROUGE, step, count, union, False)
    return Level(ORANGE, step, count, union, enough_situations)


def is_rise(before: Level, after: Level) -> bool:
    return after.rank > before.rank


def step_for_count(count: int) -> int:
    """The orange step that a count of situations alone would give (R13)."""
    return min(count, MAX_ORANGE_STEP)


@dataclass(frozen=True)
class Breakdown:
    by_offer_type: Mapping[str, int]
    by_category: Mapping[str, int]

    def steps_by_offer_type(self) -> dict[str, int]:
        return {t: step_for_count(n) for t, n in self.by_offer_type.items()}

    def steps_by_category(self) -> dict[str, int]:
        return {c: step_for_count(n) for c, n in self.by_category.items()}

    def offer_type_levels(self) -> dict[str, TypeLevel]:
        return offer_type_levels(self.by_offer_type)


@dataclass(frozen=True)
class TypeLevel:
    """The colour of one offer type (R13): what its open situations alone give.

    One offer type alone never has the diversity red needs, so it is vert or orange.
    """

    colour: str
    step: int

    def as_dict(self) -> dict[str, object]:
        return {"colour": self.colour, "step": self.step}


def type_level(count: int) -> TypeLevel:
    step = step_for_count(count)
    return TypeLevel(ORANGE if step else VERT, step)


def offer_type_levels(by_offer_type: Mapping[str, int]) -> dict[str, TypeLevel]:
    """Every known offer type (then any other counted), with its own colour (R13)."""
    ordered = ordered_types(set(OFFER_TYPES) | set(by_offer_type))
    return {t: type_level(by_offer_type.get(t, 0)) for t in ordered}


def breakdown(
    situations: Iterable[tuple[str, Iterable[str]]], categories: Iterable[str] = ()
) -> Breakdown:
    """Open situations per offer type and per category (R13).

    `situations` holds (category code, offer types) of each open situation.
    Every offer type and every given category appears, with 0 when none.
    """
    per_type = dict.fromkeys(OFFER_TYPES, 0)
    per_category = dict.fromkeys(categories, 0)
    for category, types in situations:
        per_category[category] = per_category.get(category, 0) + 1
        for offer_type in set(types):
            per_type[offer_type] = per_type.get(offer_type, 0) + 1
    return Breakdown(per_type, per_category)
