"""Geometry of the barometer's pictures: the level-history chart and the badge.

Pure: plain values in, coordinates out; the templates draw the SVG. The chart
is a step line over the 7 positions of the gauge (vert 0, orange 1–5, rouge 6)
with one marker per recorded level change (R5).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

RANK_MAX = 6
WINDOW = timedelta(days=365)


@dataclass(frozen=True)
class Change:
    at: datetime
    rank_before: int
    rank_after: int


@dataclass(frozen=True)
class Marker:
    at: datetime
    rank: int
    x: float
    y: float


@dataclass(frozen=True)
class Tick:
    day: date
    x: float


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    bottom: int
    start: datetime
    end: datetime
    points: str
    markers: tuple[Marker, ...]
    ticks: tuple[Tick, ...]
    rows: tuple[tuple[int, float], ...]  # (rank, y) of each horizontal grid line

    @property
    def plot_right(self) -> int:
        return self.width - 12


def chart_window(changes: Sequence[Change], now: datetime) -> tuple[datetime, datetime]:
    """From a little before the first change in the last year to now."""
    if not changes:
        return now - timedelta(days=30), now
    first = max(changes[0].at, now - WINDOW)
    pad = max(timedelta(days=1), (now - first) * 0.03)
    return max(first - pad, now - WINDOW), now


def history_chart(
    changes: Sequence[Change],
    current_rank: int,
    now: datetime,
    width: int = 640,
    height: int = 240,
) -> Chart:
    """A step chart of the level over the window; `changes` sorted by time."""
    start, end = chart_window(changes, now)
    shown = [c for c in changes if start <= c.at <= end]
    before = [c for c in changes if c.at < start]
    initial = before[-1].rank_after if before else shown[0].rank_before if shown else current_rank
    left, top, bottom = 96, 12, 32
    plot_width = width - 12 - left
    plot_height = height - top - bottom
    span = max((end - start).total_seconds(), 1.0)

    def x_of(at: datetime) -> float:
        return round(left + plot_width * (at - start).total_seconds() / span, 1)

    def y_of(rank: int) -> float:
        return round(top + plot_height * (RANK_MAX - rank) / RANK_MAX, 1)

    points = [(x_of(start), y_of(initial))]
    markers = []
    rank = initial
    for change in shown:
        x = x_of(change.at)
        points += [(x, y_of(rank)), (x, y_of(change.rank_after))]
        rank = change.rank_after
        markers.append(Marker(change.at, rank, x, y_of(rank)))
    points.append((x_of(end), y_of(rank)))
    return Chart(
        width=width,
        height=height,
        left=left,
        bottom=height - bottom,
        start=start,
        end=end,
        points=" ".join(f"{x},{y}" for x, y in points),
        markers=tuple(markers),
        ticks=_ticks(start, end, x_of),
        rows=tuple((r, y_of(r)) for r in range(RANK_MAX + 1)),
    )


def _ticks(
    start: datetime, end: datetime, x_of: Callable[[datetime], float], count: int = 5
) -> tuple[Tick, ...]:
    step = (end - start) / count
    return tuple(Tick((start + step * i).date(), x_of(start + step * i)) for i in range(count + 1))


# --- the badge -------------------------------------------------------------------------

CHAR_WIDTH = 6.6  # average width of an 11px sans-serif character, as shields.io estimates


@dataclass(frozen=True)
class Badge:
    name: str
    level: str
    colour: str
    name_width: int
    level_width: int

    @property
    def width(self) -> int:
        return self.name_width + self.level_width


def badge(name: str, level: str, colour: str) -> Badge:
    def text_width(text: str) -> int:
        return int(len(text) * CHAR_WIDTH) + 12

    return Badge(name, level, colour, text_width(name), text_width(level))
