"""Headless Chromium: the establishment's history chart as a reader sees it (issue 26).

- The tick labels under the time axis never overlap: their boxes, measured by the
  browser in the chart drawn for the viewport (the phone's at 360 px, the desktop's
  at 1280 px), do not intersect, and stay inside the picture, for every period, for
  histories of several lengths (imported level changes going back years) and in the
  three languages.
- A prison added today and reported at once shows today's level: one band, of that
  level, with a width, and nothing (no green) before its first record; so does each
  offer type's strip.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from freezegun import freeze_time
from playwright.sync_api import Browser, Page

from barometre import clock
from barometre.console.admin import add_establishment
from barometre.extensions import db
from barometre.models import Establishment, LevelChange, User
from tests.conftest import file_report

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"])]

WIDTHS = (360, 1280)
PERIODS = ("3m", "12m", "tout")
# (colour, step) of a made-up history, one change every `every` days.
LEVELS = [("orange", 1), ("orange", 3), ("rouge", 5), ("orange", 4), ("vert", 0), ("orange", 2)]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"public_barometer": True}


def imported_history(slug: str, years: float) -> None:
    """Level changes (cause « import ») from `years` ago until last month."""
    establishment = db.session.query(Establishment).filter_by(slug=slug).one()
    now = clock.now()
    first = now - timedelta(days=int(365 * years))
    count = 24
    every = (now - timedelta(days=30) - first) / count
    before = ("vert", 0)
    for i in range(count):
        after = LEVELS[i % len(LEVELS)]
        db.session.add(
            LevelChange(
                establishment_id=establishment.id,
                at=first + every * i,
                from_colour=before[0],
                from_step=before[1],
                to_colour=after[0],
                to_step=after[1],
                open_situations=after[1],
                cause="import",
            )
        )
        before = after
    establishment.colour, establishment.step = before
    db.session.commit()


def shown_chart(page: Page) -> str:
    """The selector of the chart the viewport displays (one of the two drawings)."""
    shown: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('svg.history')]
            .filter((s) => getComputedStyle(s).display !== 'none')
            .map((s) => s.classList.contains('narrow') ? 'narrow' : 'wide')"""
    )
    assert len(shown) == 1, shown
    return f"svg.history.{shown[0]}"


def label_boxes(page: Page, chart: str) -> list[dict[str, Any]]:
    boxes: list[dict[str, Any]] = page.evaluate(
        """(chart) => [...document.querySelectorAll(chart + ' text.tick-label')].map((t) => {
            const r = t.getBoundingClientRect();
            return {text: t.textContent, left: r.left, right: r.right, top: r.top,
                    bottom: r.bottom};
        })""",
        chart,
    )
    return boxes


def svg_box(page: Page, chart: str) -> dict[str, float]:
    box: dict[str, float] = page.evaluate(
        """(chart) => { const r = document.querySelector(chart).getBoundingClientRect();
            return {left: r.left, right: r.right}; }""",
        chart,
    )
    return box


def intersect(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (
        a["left"] < b["right"]
        and b["left"] < a["right"]
        and a["top"] < b["bottom"]
        and b["top"] < a["bottom"]
    )


@pytest.mark.parametrize(
    ("years", "locale"),
    [(1.5, "fr-BE"), (3, "fr-BE"), (8, "fr-BE"), (3, "nl-BE"), (3, "en-GB")],
)
def test_tick_labels_never_overlap(
    app: Flask, live_server: str, browser: Browser, years: float, locale: str
) -> None:
    imported_history("haren", years)
    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 900}, locale=locale)
        page = context.new_page()
        for period in PERIODS:
            page.goto(f"{live_server}/etablissements/haren?periode={period}")
            chart = shown_chart(page)
            boxes = label_boxes(page, chart)
            where = (years, locale, width, period, [b["text"] for b in boxes])
            assert len(boxes) >= 3, where  # a test of nothing would pass
            for i, a in enumerate(boxes):
                for b in boxes[i + 1 :]:
                    assert not intersect(a, b), (where, a, b)
            frame = svg_box(page, chart)
            for box in boxes:
                assert frame["left"] <= box["left"] and box["right"] <= frame["right"], (
                    where,
                    box,
                )
        context.close()


def test_a_prison_added_today_shows_today_s_level(
    app: Flask, live_server: str, browser: Browser, worker: User
) -> None:
    # Added and reported at one instant (the page is read a moment later, in real time):
    # five situations of one offer type, orange 5 (red blocked by diversity).
    with freeze_time(clock.now()):
        created = add_establishment(db.session, None, "Prison de Nulle-Part")
        db.session.commit()
        file_report(
            worker,
            establishment=created.slug,
            conditions=("ACC-01", "ACC-02", "SEC-01", "OFF-01", "CON-01"),
            offer_types=("individuel",),
        )
    assert (created.colour, created.step) == ("orange", 5)
    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 900}, locale="fr-BE")
        page = context.new_page()
        for period in PERIODS:
            page.goto(f"{live_server}/etablissements/{created.slug}?periode={period}")
            chart = shown_chart(page)
            bands: list[dict[str, Any]] = page.evaluate(
                """(chart) => [...document.querySelectorAll(chart + ' g.band')].map((g) => {
                    const r = g.querySelector('rect').getBoundingClientRect();
                    return {rank: Number(g.dataset.rank), left: r.left, right: r.right,
                            width: r.width};
                })""",
                chart,
            )
            where = (width, period, bands)
            drawn = [b for b in bands if b["width"] > 0]
            assert [b["rank"] for b in drawn] == [5], where  # no green before it existed
            assert drawn[0]["width"] >= 4, where  # visible, not a hairline
            strip: list[dict[str, Any]] = page.evaluate(
                """(chart) => [...document.querySelectorAll(
                        chart + ' g.strip[data-offer-type=individuel] rect')]
                    .map((r) => ({step: Number(r.dataset.step),
                                  width: r.getBoundingClientRect().width}))""",
                chart,
            )
            assert [s["step"] for s in strip if s["width"] > 0] == [5], (where, strip)
        context.close()
