"""The benchmark's data generator makes consistent, reproducible rows, like the services would."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from barometre.levels import compute_level
from bench import datagen, pg

VOLUME = datagen.Volume(establishments=6, reports=600, services=3, workers=8)


@pytest.fixture(scope="module")
def generated() -> Iterator[tuple[str, dict[str, Any]]]:
    with pg.database("datagen_test") as url:
        stats = datagen.build(url, VOLUME)
        yield datagen.psycopg_url(url), stats.as_dict()


def scalar(url: str, query: str) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()
    return row[0] if row else None


def test_volumes_and_history(generated: tuple[str, dict[str, Any]]) -> None:
    url, stats = generated
    assert scalar(url, "SELECT count(*) FROM establishment") == 6
    assert scalar(url, "SELECT count(*) FROM report") == 600
    assert stats["rows"]["situation"] > stats["rows"]["situation_open"] > 0
    with psycopg.connect(url) as conn:
        statuses = {r for (r,) in conn.execute("SELECT DISTINCT status FROM situation")}
    assert statuses >= {"open", "resolved", "expired"}
    assert scalar(url, "SELECT count(*) FROM level_change") > 0
    assert scalar(url, "SELECT count(*) FROM report WHERE review_state = 'rejected'") > 0


@pytest.mark.parametrize(
    "orphans",
    [
        "SELECT count(*) FROM report_condition l LEFT JOIN report r ON r.id = l.report_id"
        " WHERE r.id IS NULL",
        "SELECT count(*) FROM report_offer_type l LEFT JOIN report r ON r.id = l.report_id"
        " WHERE r.id IS NULL",
        "SELECT count(*) FROM situation_report l LEFT JOIN situation s ON s.id = l.situation_id"
        " WHERE s.id IS NULL",
        "SELECT count(*) FROM report r LEFT JOIN user_account u ON u.id = r.author_id"
        " WHERE u.id IS NULL",
        "SELECT count(*) FROM situation s LEFT JOIN condition c ON c.id = s.condition_id"
        " WHERE c.id IS NULL",
    ],
)
def test_no_orphan_rows_despite_the_fast_load(generated: tuple[str, Any], orphans: str) -> None:
    assert scalar(generated[0], orphans) == 0


def test_cached_levels_match_the_open_situations(generated: tuple[str, Any]) -> None:
    url = generated[0]
    with psycopg.connect(url) as conn:
        for est_id, colour, step, facts in conn.execute(
            "SELECT id, colour, step, open_facts FROM establishment"
        ):
            rows = conn.execute(
                "SELECT condition_id, offer_types FROM situation"
                " WHERE establishment_id = %s AND status = 'open' ORDER BY condition_id",
                (est_id,),
            ).fetchall()
            level = compute_level(types.split(",") for _, types in rows)
            assert (colour, step) == (level.colour, level.step)
            assert facts == [list(r) for r in rows]


def test_the_same_seed_gives_the_same_rows(generated: tuple[str, dict[str, Any]]) -> None:
    with pg.database("datagen_again") as url:
        again = datagen.build(url, VOLUME).as_dict()
    first = generated[1]
    assert (again["rows"], again["levels"]) == (first["rows"], first["levels"])


def test_each_generated_condition_carries_its_reports_offer_types(
    generated: tuple[str, Any],
) -> None:
    """Per-condition types (R1): a generated report gave its types to each of its conditions."""
    url = generated[0]
    empty = "SELECT count(*) FROM report_condition WHERE offer_types = ''"
    assert scalar(url, empty) == 0
    mismatched = (
        "SELECT count(*) FROM report_condition l WHERE l.offer_types <> ("
        " SELECT string_agg(o.code, ',' ORDER BY o.position) FROM report_offer_type r"
        " JOIN offer_type o ON o.id = r.offer_type_id WHERE r.report_id = l.report_id)"
    )
    assert scalar(url, mismatched) == 0
