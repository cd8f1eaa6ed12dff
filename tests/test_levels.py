"""R4 and R13 as a pure function: parameter tables and properties, no database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from barometre import referentiel
from barometre.levels import (
    OFFER_TYPES,
    Thresholds,
    breakdown,
    compute_level,
    is_rise,
    step_for_count,
)

IND, C, CELL = "individuel", "collectif", "cellulaire"


@pytest.mark.parametrize(
    ("situations", "colour", "step", "blocked"),
    [
        ([], "vert", 0, False),
        ([[IND]], "orange", 1, False),
        ([[IND], [C]], "orange", 2, False),
        ([[IND]] * 4, "orange", 4, False),
        # Five situations on one offer type: orange 5, red blocked by diversity.
        ([[IND]] * 5, "orange", 5, True),
        # A sixth on another type turns red.
        ([[IND]] * 5 + [[C]], "rouge", 5, False),
        # Five situations over two types is enough ("au moins 2").
        ([[IND]] * 4 + [[C]], "rouge", 5, False),
        # One situation on two types carries the diversity alone.
        ([[IND, C]] + [[IND]] * 4, "rouge", 5, False),
        ([[IND, C, CELL]] * 4, "orange", 4, False),
        ([[IND]] * 9, "orange", 5, True),
    ],
)
def test_level_table(situations: list[list[str]], colour: str, step: int, blocked: bool) -> None:
    level = compute_level(situations)
    assert (level.colour, level.step, level.red_blocked_by_diversity) == (colour, step, blocked)
    assert level.open_situations == len(situations)


def test_diversity_and_missing_types() -> None:
    level = compute_level([[C], [IND]])
    assert level.offer_types == (IND, C)
    assert level.diversity == 2
    assert level.missing_offer_types == (CELL,)


def test_thresholds_are_configurable() -> None:
    strict = Thresholds(red_threshold=3, red_min_offer_types=3)
    assert compute_level([[IND], [C], [IND]], strict).colour == "orange"
    assert compute_level([[IND], [C], [CELL]], strict).colour == "rouge"


def test_rises() -> None:
    green, one, five = compute_level([]), compute_level([[IND]]), compute_level([[IND]] * 5)
    red = compute_level([[IND]] * 5 + [[C]])
    assert is_rise(green, one) and is_rise(one, five) and is_rise(five, red)
    assert not is_rise(red, five) and not is_rise(one, one)


def test_breakdown_per_offer_type_and_category() -> None:
    result = breakdown(
        [("ACC", [IND, C]), ("ACC", [IND]), ("SEC", [CELL])],
        categories=["ACC", "SEC", "OFF", "CON"],
    )
    assert result.by_offer_type == {IND: 2, C: 1, CELL: 1}
    assert result.by_category == {"ACC": 2, "SEC": 1, "OFF": 0, "CON": 0}
    assert result.steps_by_offer_type() == {IND: 2, C: 1, CELL: 1}
    assert step_for_count(7) == 5


situation = st.frozensets(st.sampled_from(OFFER_TYPES), min_size=1)
situations = st.lists(situation, max_size=12)


@given(situations, st.randoms())
def test_level_does_not_depend_on_order(items: list[frozenset[str]], rnd: object) -> None:
    shuffled = list(items)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert compute_level(items) == compute_level(shuffled)


@given(situations, situation)
def test_level_is_monotone_in_open_situations(
    items: list[frozenset[str]], extra: frozenset[str]
) -> None:
    assert compute_level([*items, extra]).rank >= compute_level(items).rank


@given(situations)
def test_level_invariants(items: list[frozenset[str]]) -> None:
    level = compute_level(items)
    assert 0 <= level.step <= 5
    assert (level.colour == "vert") == (not items)
    if level.colour == "rouge":
        assert len(items) >= 5 and level.diversity >= 2
    assert not (level.red_blocked_by_diversity and level.colour == "rouge")


def test_colour_per_offer_type() -> None:
    # Five open situations: four individual (one also collective), one in-cell.
    counts = breakdown(
        [("ACC", ["individuel"])] * 3
        + [("SEC", ["individuel", "collectif"]), ("OFF", ["cellulaire"])]
    ).offer_type_levels()
    assert list(counts) == ["individuel", "collectif", "cellulaire"]
    assert counts["individuel"].as_dict() == {"colour": "orange", "step": 4}
    assert counts["collectif"].as_dict() == {"colour": "orange", "step": 1}
    assert counts["cellulaire"].as_dict() == {"colour": "orange", "step": 1}
    assert breakdown([]).offer_type_levels()["collectif"].as_dict() == {
        "colour": "vert",
        "step": 0,
    }
    seven = breakdown([("ACC", ["individuel"])] * 7).offer_type_levels()
    assert seven["individuel"].as_dict() == {"colour": "orange", "step": 5}


def test_the_rules_know_the_offer_types_of_the_referentiel() -> None:
    """The pure rules name the offer types without importing the référentiel: the same
    codes, in the same order (the order pages and emails list them in)."""
    assert tuple(offer.code for offer in referentiel.OFFER_TYPES) == OFFER_TYPES
