"""The history chart and the list of changes equal the recorded level changes (R5).

A scenario is replayed week by week over 12 weeks with frozen time: reports
filed, situations resolved, reports rejected, situations expiring. The page's
SVG markers, its step line and its table rows must then be exactly the
LevelChange rows.
"""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any
from xml.etree import ElementTree

import pytest
from flask import current_app
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import select

from barometre import history, services
from barometre.charts import (
    CHAR_WIDTH,
    NARROW,
    NOW_WIDTH,
    PERIODS,
    TICK_GAP,
    WIDE,
    Change,
    Span,
    Tick,
    chart_window,
    history_chart,
    mail_chart,
)
from barometre.console.admin import add_establishment
from barometre.extensions import db
from barometre.models import Condition, Establishment, LevelChange, User
from tests.conftest import file_report, login

IND, COLL, CELL = "individuel", "collectif", "cellulaire"
SVG = "{http://www.w3.org/2000/svg}"
# How each cause begins in the table (barometre.presentation.cause_words, R15).
CAUSE_STARTS = {
    "report": "Après un signalement",
    "resolution": "Le comité a clos",
    "rejection": "Un signalement a été retiré par le comité",
    "expiry": "non reconfirmée",
    "recompute": "Recalcul des niveaux",
}
LEVEL_WORDS = {0: "Code vert", 6: "Code rouge"} | {n: f"Code orange {n} sur 5" for n in range(1, 6)}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"public_barometer": True}


def replay_twelve_weeks(worker: User, coordinator: User) -> None:
    settings = current_app.config["SETTINGS"]
    weeks: list[Any] = [
        lambda: file_report(worker, conditions=("SEC-01",), offer_types=(IND,)),
        lambda: file_report(worker, conditions=("ACC-01", "ACC-02"), offer_types=(COLL,)),
        lambda: file_report(worker, conditions=("ACC-03",), offer_types=(IND,)),
        lambda: file_report(worker, conditions=("OFF-01",), offer_types=(CELL,)),  # rouge
        lambda: resolve("ACC-01"),
        lambda: file_report(worker, conditions=("SEC-01", "OFF-02"), offer_types=(IND,)),
        lambda: reject_last(),
        lambda: None,  # a quiet week
        lambda: file_report(worker, conditions=("CON-01",), offer_types=(COLL,)),
        lambda: services.recompute_all(db.session, settings),  # expiries of stale situations
        lambda: file_report(worker, conditions=("ACC-04",), offer_types=(CELL,)),
        lambda: resolve("CON-01"),
    ]

    def resolve(code: str) -> None:
        situation = next(
            s for s in services.open_situations(db.session, haren().id) if s.condition.code == code
        )
        services.resolve_situation(db.session, situation.id, coordinator, "Réglé", settings)

    def reject_last() -> None:
        report_id = max(
            r.id for s in services.open_situations(db.session, haren().id) for r in s.reports
        )
        services.reject_report(db.session, report_id, coordinator, "Hors sujet", settings)

    with freeze_time("2026-01-05 09:30:00") as frozen:
        for week in weeks:
            week()
            db.session.commit()
            frozen.tick(timedelta(weeks=1))


def condition_label(code: str) -> str:
    row = db.session.scalar(select(Condition).where(Condition.code == code))
    assert row is not None
    return row.label("fr")


def haren() -> Establishment:
    row = db.session.scalar(select(Establishment).where(Establishment.slug == "haren"))
    assert row is not None
    return row


def recorded() -> list[LevelChange]:
    query = (
        select(LevelChange)
        .where(LevelChange.establishment_id == haren().id)
        .order_by(LevelChange.at, LevelChange.id)
    )
    return list(db.session.scalars(query))


def test_chart_and_table_equal_the_recorded_changes(
    client: FlaskClient, worker: User, coordinator: User
) -> None:
    replay_twelve_weeks(worker, coordinator)
    changes = recorded()
    causes = {c.cause for c in changes}
    assert {"report", "resolution", "rejection", "expiry"} <= causes  # the scenario covers them
    assert len(changes) >= 10

    with freeze_time("2026-03-30 12:00:00"):
        page = client.get("/etablissements/haren").get_data(as_text=True)
    expected = [(c.at.isoformat(), c.rank_after) for c in changes]

    svg_text = re.search(r"<svg [^>]*class=\"history wide\".*?</svg>", page, re.S)
    assert svg_text is not None
    svg = ElementTree.fromstring(svg_text.group(0))  # noqa: S314 - our own output
    markers = [
        (
            m.get("data-at"),
            int(m.get("data-rank") or -1),
            float(m.get("cx") or 0),
            float(m.get("cy") or 0),
        )
        for m in svg.iter(f"{SVG}circle")
    ]
    assert [(at, rank) for at, rank, _x, _y in markers] == expected
    xs = [x for _at, _rank, x, _y in markers]
    assert xs == sorted(xs)  # left to right in time
    assert len(set(xs)) == len({at for at, _rank, _x, _y in markers})  # one x per instant

    # The step line goes through every marker, at the height of its rank.
    line = svg.find(f"{SVG}polyline")
    assert line is not None
    points = [tuple(map(float, p.split(","))) for p in (line.get("points") or "").split()]
    assert len(points) == 2 + 2 * len(changes)
    for _at, rank, x, y in markers:
        assert (x, y) in points
        assert y == pytest.approx(12 + 208 * (6 - rank) / 6, abs=0.1)
    first_before = changes[0].rank_before
    assert points[0][1] == pytest.approx(12 + 208 * (6 - first_before) / 6, abs=0.1)
    assert points[-1][1] == markers[-1][3]  # the line ends at the current level

    # The text alternative: one table row per change, newest first, with its cause.
    rows = re.findall(
        r'<tr class="change" data-at="([^"]+)" data-rank="(\d)">(.*?)</tr>', page, re.S
    )
    assert [(at, int(rank)) for at, rank, _cells in rows] == list(reversed(expected))
    for (_at, rank, cells), change in zip(rows, reversed(changes), strict=True):
        text = html.unescape(re.sub(r"<[^>]+>", " ", cells))
        assert LEVEL_WORDS[int(rank)] in text
        assert CAUSE_STARTS[change.cause] in text
        assert str(change.open_situations) in text


def test_causes_name_the_conditions_for_signed_in_users_only(
    client: FlaskClient, worker: User, coordinator: User
) -> None:
    replay_twelve_weeks(worker, coordinator)
    with freeze_time("2026-03-30 12:00:00"):
        anonymous = client.get("/etablissements/haren").get_data(as_text=True)
        login(client, worker)
        signed = client.get("/etablissements/haren").get_data(as_text=True)
    wording = "«\xa0" + condition_label("ACC-04") + "\xa0»"
    assert wording not in anonymous
    assert "nouvelle situation en Accessibilité" in anonymous
    assert wording in html.unescape(signed)


# --- the time axis, the bands and the per-offer-type strips (pure geometry) -------------


NOW = datetime(2026, 11, 30, 12, 0)
CREATED = datetime(2025, 1, 6, 10, 0)  # the establishment's first record, before its changes
YEAR_OF_CHANGES = [
    Change(datetime(2025, 12, 10), 0, 1),
    Change(datetime(2026, 1, 20), 1, 3),
    Change(datetime(2026, 4, 2), 3, 6),
    Change(datetime(2026, 4, 9), 6, 4),
    Change(datetime(2026, 8, 15), 4, 0),
    Change(datetime(2026, 10, 1), 0, 2),
]


@pytest.mark.parametrize("period", ["3m", "12m", "tout"])
def test_ticks_are_distinct_and_in_time_order(period: str) -> None:
    chart = history_chart(YEAR_OF_CHANGES, 2, NOW, period=period)
    days = [t.day for t in chart.ticks]
    labels = [
        (t.unit, t.day.strftime("%d %b %Y" if t.unit == "week" else "%b %Y")) for t in chart.ticks
    ]
    assert 3 <= len(chart.ticks) <= 8
    assert days == sorted(days) and len(set(days)) == len(days)
    assert len(set(labels)) == len(labels)
    xs = [t.x for t in chart.ticks]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    assert all(chart.left <= x <= chart.plot_right for x in xs)
    assert {t.unit for t in chart.ticks} == {"week" if period == "3m" else "month"}


def test_x_is_proportional_to_time_and_bands_to_durations() -> None:
    chart = history_chart(YEAR_OF_CHANGES, 2, NOW, period="12m", first_record=CREATED)
    per_day = (chart.plot_right - chart.left) / (chart.end - chart.start).days
    # Every band as wide as its level lasted, and the bands tile the window.
    for band in chart.bands:
        assert band.width == pytest.approx((band.end - band.start).days * per_day, abs=1.5)
    assert chart.bands[0].x == chart.left
    assert sum(b.width for b in chart.bands) == pytest.approx(chart.plot_right - chart.left, abs=1)
    by_start = {b.start: b for b in chart.bands}
    red = by_start[datetime(2026, 4, 2)]
    assert (red.rank, red.days) == (6, 7)
    long_orange = by_start[datetime(2026, 4, 9)]
    assert long_orange.days == 128
    assert long_orange.width / red.width == pytest.approx(128 / 7, rel=0.05)
    # Markers sit where their dates are.
    for marker, change in zip(chart.markers, YEAR_OF_CHANGES[-len(chart.markers) :], strict=True):
        days = (change.at - chart.start).total_seconds() / 86400
        assert marker.x == pytest.approx(chart.left + days * per_day, abs=0.2)
    assert [b.rank for b in chart.bands] == [0, 1, 3, 6, 4, 0, 2]


def test_the_period_chosen_by_the_reader() -> None:
    three = history_chart(YEAR_OF_CHANGES, 2, NOW, period="3m", first_record=CREATED)
    assert (NOW - three.start).days == 91
    assert [m.rank for m in three.markers] == [2]  # only the October change is inside
    assert three.bands[0].rank == 0  # the window starts at vert (since 15 August)
    everything = history_chart(YEAR_OF_CHANGES, 2, NOW, period="tout", first_record=CREATED)
    assert everything.start == CREATED  # all: from the first record, not before
    assert [b.rank for b in everything.bands] == [0, 1, 3, 6, 4, 0, 2]
    assert len(everything.markers) == len(YEAR_OF_CHANGES)
    assert history_chart(YEAR_OF_CHANGES, 2, NOW, period="nonsense").period == "12m"


# --- where the chart starts, and the level now, always drawn (issue 26) ----------------

DAYS = timedelta(days=1)


@pytest.mark.parametrize(
    ("changes", "first_record", "period", "start"),
    [
        # A record older than the period: the period.
        (YEAR_OF_CHANGES, CREATED, "3m", NOW - 91 * DAYS),
        (YEAR_OF_CHANGES, CREATED, "12m", NOW - 365 * DAYS),
        # All: from the first record exactly, no margin of vert before it.
        (YEAR_OF_CHANGES, CREATED, "tout", CREATED),
        # The first change is the first record when nothing earlier is known...
        (YEAR_OF_CHANGES, None, "12m", datetime(2025, 12, 10)),
        (YEAR_OF_CHANGES, None, "tout", datetime(2025, 12, 10)),
        # ... or when it is earlier (history imported after the creation).
        (YEAR_OF_CHANGES, datetime(2026, 2, 1), "12m", datetime(2025, 12, 10)),
        # Created 10 days ago, never changed: from its creation, whatever the period.
        ([], NOW - 10 * DAYS, "3m", NOW - 10 * DAYS),
        ([], NOW - 10 * DAYS, "tout", NOW - 10 * DAYS),
        # Created this very moment.
        ([], NOW, "12m", NOW),
        ([Change(NOW, 0, 5)], None, "3m", NOW),
        # No record at all (an establishment of the seed): the period; all is 30 days.
        ([], None, "3m", NOW - 91 * DAYS),
        ([], None, "tout", NOW - 30 * DAYS),
    ],
)
def test_the_chart_starts_at_the_first_record_or_the_period_whichever_is_later(
    changes: list[Change], first_record: datetime | None, period: str, start: datetime
) -> None:
    assert chart_window(changes, NOW, period, first_record) == (start, NOW)
    chart = history_chart(changes, 0, NOW, period=period, first_record=first_record)
    assert (chart.start, chart.end) == (start, NOW)
    assert chart.bands[0].x == chart.left
    assert sum(b.width for b in chart.bands) == pytest.approx(chart.plot_right - chart.left)


@pytest.mark.parametrize("size", [WIDE, NARROW])
@pytest.mark.parametrize("period", list(PERIODS))
def test_a_prison_created_now_shows_its_level_now_and_nothing_before(
    period: str, size: dict[str, int]
) -> None:
    """Created and reported this very moment: orange 5 over the whole chart, no vert."""
    spans = [Span(NOW, None, ("individuel",))] * 5
    chart = history_chart(
        [Change(NOW, 0, 5)],
        5,
        NOW,
        period=period,
        spans=spans,
        offer_types=("individuel", "collectif"),
        first_record=NOW,
        **size,
    )
    full = chart.plot_right - chart.left
    assert [(b.rank, b.x, b.width) for b in chart.bands] == [(5, chart.left, full)]
    assert [(m.rank, m.x) for m in chart.markers] == [(5, chart.left)]
    strips = {s.offer_type: [(g.step, g.x, g.width) for g in s.segments] for s in chart.strips}
    assert strips == {
        "individuel": [(5, chart.left, full)],
        "collectif": [(0, chart.left, full)],
    }
    assert len(chart.ticks) == 1 and chart.ticks[0].day == NOW.date()  # the day it starts


def test_a_level_reached_a_moment_ago_keeps_a_visible_width_at_the_right_end() -> None:
    """An hour after its creation, a prison is reported: an hour of vert, then orange 5
    as wide as `NOW_WIDTH` at least, on any period; the same for its offer type's strip."""
    created, reported = NOW - timedelta(hours=1), NOW - timedelta(seconds=30)
    for changes, first_record in (
        ([Change(reported, 0, 5)], created),
        ([*YEAR_OF_CHANGES, Change(reported, 2, 5)], CREATED),
    ):
        spans = [Span(reported, None, ("collectif",))]
        for period in PERIODS:
            chart = history_chart(
                changes,
                5,
                NOW,
                period=period,
                spans=spans,
                offer_types=("collectif",),
                first_record=first_record,
            )
            last = chart.bands[-1]
            assert last.rank == 5 and last.width >= NOW_WIDTH, (period, chart.bands)
            assert last.x + last.width == pytest.approx(chart.plot_right)
            assert sum(b.width for b in chart.bands) == pytest.approx(chart.plot_right - chart.left)
            assert chart.markers[-1].x == last.x  # the step line rises where the band starts
            assert chart.points.split()[-1] == f"{chart.plot_right}.0,{chart.markers[-1].y}"
            [strip] = chart.strips
            assert (strip.segments[-1].step, strip.segments[-1].x) == (1, last.x)
            if first_record == created:
                assert [b.rank for b in chart.bands] == [0, 5]  # the hour it was vert
                assert chart.start == created


MONTHS_FR = [
    *("janv.", "févr.", "mars", "avr.", "mai", "juin"),
    *("juil.", "août", "sept.", "oct.", "nov.", "déc."),
]


def french(tick: Tick) -> str:
    """The labels `tick_label` writes in French, without an app."""
    if tick.unit in ("day", "week"):
        return f"{tick.day.day} {MONTHS_FR[tick.day.month - 1]}"
    if tick.unit == "year":
        return str(tick.day.year)
    return f"{MONTHS_FR[tick.day.month - 1]} {tick.day.year}"


@pytest.mark.parametrize("size", [WIDE, NARROW])
def test_tick_labels_are_spaced_for_their_words(size: dict[str, int]) -> None:
    """For every history from an hour to twelve years, every period and both drawings:
    the labels' estimated boxes (anchored as drawn) keep `TICK_GAP` apart inside the
    picture. The browser test measures the real boxes."""
    ages = [timedelta(hours=1), timedelta(days=2)] + [DAYS * d for d in range(9, 4400, 23)]
    for age in ages:
        for period in PERIODS:
            chart = history_chart(
                [], 0, NOW, period=period, first_record=NOW - age, label=french, **size
            )
            where = (age, period, [(t.label, t.anchor) for t in chart.ticks])
            assert 1 <= len(chart.ticks) <= size.get("max_ticks", 8), where
            if chart.end - chart.start >= timedelta(weeks=3):
                assert len(chart.ticks) >= 2, where
            boxes = []
            for tick in chart.ticks:
                assert tick.label == french(tick), where
                width = len(tick.label) * CHAR_WIDTH
                left = {"start": tick.x, "middle": tick.x - width / 2, "end": tick.x - width}
                boxes.append((left[tick.anchor], left[tick.anchor] + width))
            assert all(a >= 0 and b <= chart.width for a, b in boxes), where
            for (_a, right), (next_left, _b) in pairwise(boxes):
                assert next_left - right >= TICK_GAP, where


def test_first_record_is_the_creation_or_the_earliest_record(
    app: Any, worker: User, coordinator: User
) -> None:
    assert history.first_record(db.session, haren().id) is None  # seeded, never reported
    with freeze_time("2026-11-02 08:00:00"):
        created = add_establishment(db.session, coordinator, "Prison de Nulle-Part")
        db.session.commit()
    assert history.first_record(db.session, created.id) == datetime(2026, 11, 2, 8)
    with freeze_time("2026-11-03 09:00:00"):
        file_report(worker, establishment=created.slug, conditions=("ACC-01",))
        file_report(worker, conditions=("ACC-01",))
    assert history.first_record(db.session, created.id) == datetime(2026, 11, 2, 8)
    assert history.first_record(db.session, haren().id) == datetime(2026, 11, 3, 9)
    # History imported later, of records before the creation: the first record is theirs.
    db.session.add(
        LevelChange(
            establishment_id=created.id,
            at=datetime(2024, 5, 1, 10),
            from_colour="vert",
            from_step=0,
            to_colour="orange",
            to_step=1,
            open_situations=1,
            cause="import",
        )
    )
    db.session.commit()
    assert history.first_record(db.session, created.id) == datetime(2024, 5, 1, 10)


def test_the_page_of_a_prison_created_and_reported_today_shows_only_today_s_level(
    client: FlaskClient, worker: User, coordinator: User
) -> None:
    with freeze_time("2026-11-30 08:00:00"):
        created = add_establishment(db.session, coordinator, "Prison de Nulle-Part")
        db.session.commit()
        file_report(
            worker,
            establishment=created.slug,
            conditions=("ACC-01", "ACC-02", "SEC-01", "OFF-01", "CON-01"),
            offer_types=(IND,),
        )
    with freeze_time("2026-11-30 09:00:00"):
        for period in PERIODS:
            page = client.get(f"/etablissements/{created.slug}?periode={period}")
            svgs = re.findall(
                r'<svg [^>]*class="history .*?</svg>', page.get_data(as_text=True), re.S
            )
            assert len(svgs) == 2
            for svg in svgs:
                bands = re.findall(r'<g class="band rank-(\d)".*?width="([\d.]+)"', svg, re.S)
                assert [rank for rank, width in bands if float(width) > 0] == ["5"], bands
                assert "du 30 novembre 2026 au 30 novembre 2026" in html.unescape(svg)


def test_strips_give_each_offer_type_its_own_colour_over_time() -> None:
    spans = [
        Span(datetime(2026, 8, 1), None, ("individuel",)),  # opened before the window
        Span(datetime(2026, 10, 1), datetime(2026, 11, 1), ("individuel", "collectif")),
        Span(datetime(2025, 1, 1), datetime(2025, 2, 1), ("cellulaire",)),  # before the window
    ]
    chart = history_chart(
        [], 1, NOW, period="3m", spans=spans, offer_types=("individuel", "collectif", "cellulaire")
    )
    strips = {s.offer_type: s for s in chart.strips}
    assert [seg.step for seg in strips["individuel"].segments] == [1, 2, 1]
    assert [seg.step for seg in strips["collectif"].segments] == [0, 1, 0]
    assert [seg.step for seg in strips["cellulaire"].segments] == [0]
    for strip in chart.strips:
        assert strip.segments[0].x == chart.left
        total = sum(seg.width for seg in strip.segments)
        assert total == pytest.approx(chart.plot_right - chart.left, abs=1)
        assert strip.y >= chart.bottom  # under the level plot


def test_page_ticks_are_distinct_words_and_the_table_says_how_long(
    client: FlaskClient, worker: User, coordinator: User
) -> None:
    replay_twelve_weeks(worker, coordinator)
    with freeze_time("2026-03-30 12:00:00"):
        for period in ("3m", "12m", "tout"):
            page = client.get(f"/etablissements/haren?periode={period}").get_data(as_text=True)
            svgs = re.findall(r'<svg [^>]*class="history (wide|narrow)".*?</svg>', page, re.S)
            assert svgs == ["wide", "narrow"]  # one for a desktop, one for a phone
            for svg in re.findall(r'<svg [^>]*class="history .*?</svg>', page, re.S):
                labels = re.findall(r'class="axis tick-label"[^>]*>([^<]+)</text>', svg)
                assert len(labels) >= 3 and len(set(labels)) == len(labels), labels
                assert not any(re.search(r"\d{4}-\d{2}-\d{2}", label) for label in labels)
            assert f'periode={period}#historique" aria-current="true"' in page
        assert 'data-offer-type="individuel"' in page
        durations = re.findall(r'<td class="duration">([^<]+)</td>', page)
    assert len(durations) == len(recorded())
    assert durations[0] == "7 jours"  # the newest level: the last week, 23 March 09:30


# --- the digest's small chart: the same computations in percent of the window ----------


TWELVE_WEEKS = timedelta(weeks=12)


@pytest.mark.parametrize("window", [TWELVE_WEEKS, timedelta(days=365)])
def test_mail_chart_cells_are_as_wide_as_the_levels_lasted(window: timedelta) -> None:
    start = NOW - window
    chart = mail_chart(YEAR_OF_CHANGES, 2, start, NOW)
    assert sum(b.width for b in chart.bands) == pytest.approx(100, abs=0.05)
    assert chart.bands[0].start == start and chart.bands[-1].end == NOW
    total = (NOW - start).total_seconds()
    for band in chart.bands:
        lasted = (band.end - band.start).total_seconds()
        assert band.width == pytest.approx(100 * lasted / total, abs=0.1)
    for before, after in zip(chart.bands, chart.bands[1:], strict=False):
        assert before.end == after.start  # the cells tile the window, in time order
    if window == TWELVE_WEEKS:
        assert [b.rank for b in chart.bands] == [0, 2]  # vert since 15 August, orange 2
        assert chart.bands[0].width == pytest.approx(
            100 * 23.5 / 84, abs=0.1
        )  # 7 Sep 12:00 to 1 Oct
    else:
        assert [b.rank for b in chart.bands] == [0, 1, 3, 6, 4, 0, 2]
        red, long_orange = chart.bands[3], chart.bands[4]
        assert long_orange.width / red.width == pytest.approx(128 / 7, rel=0.02)


def test_mail_chart_a_level_too_short_to_draw_is_left_out_of_the_cells_only() -> None:
    start = NOW - TWELVE_WEEKS
    blink = [
        Change(datetime(2026, 10, 1, 9, 0), 0, 6),
        Change(datetime(2026, 10, 1, 9, 30), 6, 1),
    ]
    chart = mail_chart(blink, 1, start, NOW)
    assert [b.rank for b in chart.bands] == [0, 6, 1]
    assert [b.rank for b in chart.cells] == [0, 1]  # half an hour is 0.0 % of 12 weeks
    assert sum(b.width for b in chart.cells) == pytest.approx(100, abs=0.05)


@pytest.mark.parametrize(
    ("window", "unit"), [(TWELVE_WEEKS, "week"), (timedelta(days=365), "month")]
)
def test_mail_chart_ticks_are_few_distinct_ordered_and_fill_the_row(
    window: timedelta, unit: str
) -> None:
    chart = mail_chart(YEAR_OF_CHANGES, 2, NOW - window, NOW)
    ticks = [t.tick for t in chart.ticks if t.tick is not None]
    assert 3 <= len(ticks) <= 4  # readable at 360 px
    days = [t.day for t in ticks]
    assert days == sorted(days) and len(set(days)) == len(days)
    assert {t.unit for t in ticks} == {unit}
    assert sum(t.width for t in chart.ticks) == pytest.approx(100, abs=0.05)
    assert all(t.width > 0 for t in chart.ticks)
    # Each tick cell starts at its own date on the time axis.
    edge = 0.0
    for cell in chart.ticks:
        if cell.tick is not None:
            at = datetime.combine(cell.tick.day, datetime.min.time())
            assert edge == pytest.approx(100 * (at - chart.start) / (NOW - chart.start), abs=0.1)
        edge += cell.width


def test_mail_chart_strips_give_each_offer_type_its_colour_in_percent() -> None:
    start = NOW - TWELVE_WEEKS  # 7 September 12:00
    spans = [
        Span(datetime(2026, 8, 1), None, ("individuel",)),
        Span(datetime(2026, 10, 5, 12), datetime(2026, 11, 2, 12), ("individuel", "collectif")),
    ]
    chart = mail_chart([], 1, start, NOW, spans, ("individuel", "collectif", "cellulaire"))
    strips = {s.offer_type: s for s in chart.strips}
    assert [seg.step for seg in strips["individuel"].segments] == [1, 2, 1]
    assert [seg.step for seg in strips["collectif"].segments] == [0, 1, 0]
    assert [(seg.step, seg.width) for seg in strips["cellulaire"].segments] == [(0, 100.0)]
    assert [seg.width for seg in strips["collectif"].segments] == pytest.approx(
        [100 / 3] * 3, abs=0.1
    )
    collectif = strips["collectif"].segments[1]
    assert (collectif.start, collectif.end) == (
        datetime(2026, 10, 5, 12),
        datetime(2026, 11, 2, 12),
    )
    for strip in chart.strips:
        assert sum(seg.width for seg in strip.segments) == pytest.approx(100, abs=0.05)


def test_mail_chart_ends_with_the_level_and_colours_of_now_even_if_reached_now() -> None:
    """A digest made the minute a situation expires: the level and strips now are kept."""
    start = NOW - TWELVE_WEEKS
    changes = [Change(datetime(2026, 11, 2), 0, 1), Change(NOW, 1, 0)]  # expired just now
    spans = [Span(datetime(2026, 11, 2), NOW, ("collectif",))]
    chart = mail_chart(changes, 0, start, NOW, spans, ("collectif",))
    assert [(b.rank, b.width > 0) for b in chart.bands] == [(0, True), (1, True), (0, False)]
    assert [b.rank for b in chart.cells] == [0, 1]  # no width yet: the words say it
    [strip] = chart.strips
    assert [(s.step, s.width > 0) for s in strip.segments] == [(0, True), (1, True), (0, False)]
    # Down and up again at one instant (an expiry and a report): one stretch, not two.
    bounce = [
        *changes[:1],
        Change(datetime(2026, 11, 9), 1, 0),
        Change(datetime(2026, 11, 9), 0, 1),
    ]
    assert [b.rank for b in mail_chart(bounce, 1, start, NOW).bands] == [0, 1]
    unchanged = mail_chart(changes[:1], 1, start, NOW, spans[:0], ("collectif",))
    assert [b.rank for b in unchanged.bands] == [0, 1]
    assert [s.step for s in unchanged.strips[0].segments] == [0]
