"""Geometry of the barometer's pictures: the level-history chart and the badge.

Pure: plain values in, coordinates out; the templates draw the SVG. The chart
is a step line over the 7 positions of the gauge (vert 0, orange 1–5, rouge 6)
with one marker per recorded level change (R5), on a true time axis: x is
proportional to time, each stretch at one level is a band as wide as it lasted,
and one strip per offer type gives that type's own colour (R13) over time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

RANK_MAX = 6
MAX_STEP = 5
DAY = timedelta(days=1)

# The periods a reader can choose (R5 history): code in the URL -> days shown (None: all).
PERIODS: dict[str, int | None] = {"3m": 91, "12m": 365, "tout": None}
DEFAULT_PERIOD = "12m"
MAX_TICKS = 8
# Average width of an 11px sans-serif character, as shields.io estimates: the badge's
# words, and the chart's tick labels (DejaVu Sans, Debian's, measures about 6.1 on them).
CHAR_WIDTH = 6.6
NOW_WIDTH = 6  # the level now is drawn at least this wide at the right end, even if reached now
TICK_GAP = 8  # room between two tick labels, in the picture's units
TICK_STEPS = (1, 2, 3, 4, 6, 12, 24, 60, 120)
# The longest label of each unit, for an estimate of its width without the words at hand.
LONGEST_LABEL = {"day": "30 sept.", "week": "30 sept.", "month": "sept. 2026", "year": "2026"}


@dataclass(frozen=True)
class Change:
    at: datetime
    rank_before: int
    rank_after: int


@dataclass(frozen=True)
class Span:
    """One situation's life, for the per-offer-type strips: opened, closed (or still open)."""

    opened: datetime
    closed: datetime | None
    offer_types: tuple[str, ...]


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
    unit: str  # "day", "week", "month" or "year": how the label is written
    label: str = ""  # the words, when the chart was drawn with them
    anchor: str = "middle"  # SVG text-anchor: "start" or "end" near the picture's edges


@dataclass(frozen=True)
class Band:
    """One stretch of time at one level: a coloured band behind the step line."""

    start: datetime
    end: datetime
    rank: int
    x: float
    width: float

    @property
    def days(self) -> int:
        return (self.end - self.start) // DAY

    @property
    def labelled(self) -> bool:
        """Wide enough to carry its level and duration as text."""
        return self.width >= 56


@dataclass(frozen=True)
class Segment:
    x: float
    width: float
    step: int  # 0 = vert, 1..5 = orange step of that offer type alone
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Strip:
    offer_type: str
    y: float
    height: float
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    top: int
    bottom: int  # y of the level plot's bottom edge
    axis_y: int  # baseline of the tick labels
    start: datetime
    end: datetime
    period: str
    points: str
    markers: tuple[Marker, ...]
    ticks: tuple[Tick, ...]
    rows: tuple[tuple[int, float], ...]  # (rank, y) of each horizontal grid line
    bands: tuple[Band, ...]
    strips: tuple[Strip, ...]

    @property
    def plot_right(self) -> int:
        return self.width - 12

    @property
    def row_height(self) -> float:
        return (self.bottom - self.top) / RANK_MAX

    @property
    def narrow(self) -> bool:
        """Drawn for a phone: short axis labels."""
        return self.width < 480


# The same chart drawn twice: for a desktop, and for a phone (readable at 360 px).
WIDE = {"width": 640, "height": 300}
NARROW = {"width": 340, "height": 280, "left": 64, "max_ticks": 4}


def first_known(changes: Sequence[Change], first_record: datetime | None) -> datetime | None:
    """The establishment's first record: the earlier of `first_record` and its first change."""
    known = [t for t in (first_record, changes[0].at if changes else None) if t is not None]
    return min(known) if known else None


def chart_window(
    changes: Sequence[Change],
    now: datetime,
    period: str = DEFAULT_PERIOD,
    first_record: datetime | None = None,
) -> tuple[datetime, datetime]:
    """The period the reader chose, ending now, but never before the establishment's first
    record (its creation, first report, situation or level change, imported ones included):
    before it the barometer knows nothing, so the chart draws nothing, not vert.

    "all" starts at the first record; with no record at all, 30 days of the level now.
    """
    days = PERIODS.get(period, PERIODS[DEFAULT_PERIOD])
    first = first_known(changes, first_record)
    if days is None:
        start = first if first is not None else now - timedelta(days=30)
    else:
        start = now - timedelta(days=days)
        if first is not None:
            start = max(start, first)
    return min(start, now), now


def history_chart(
    changes: Sequence[Change],
    current_rank: int,
    now: datetime,
    width: int = 640,
    height: int = 300,
    period: str = DEFAULT_PERIOD,
    spans: Sequence[Span] = (),
    offer_types: Sequence[str] = (),
    left: int = 96,
    max_ticks: int = MAX_TICKS,
    first_record: datetime | None = None,
    label: Callable[[Tick], str] | None = None,
) -> Chart:
    """A step chart of the level over the period, on a true time axis; `changes` by time.

    Under it, one strip per offer type gives the colour that type's open
    situations alone give (R13) over the same time axis. The window starts at the
    establishment's first record if that is later than the period's start
    (`chart_window`). The level now (and each strip's colour now) ends the chart at
    least `NOW_WIDTH` wide, even when it was reached this very moment: a change in
    the last `NOW_WIDTH` units is drawn at their left edge. `label` writes a tick's
    words, so that ticks are spaced for their labels never to overlap.
    """
    period = period if period in PERIODS else DEFAULT_PERIOD
    start, end = chart_window(changes, now, period, first_record)
    shown = [c for c in changes if start <= c.at <= end]
    initial = rank_at_start(changes, current_rank, start, end)
    strip_height, strip_gap = 12, 4
    top = 12
    strips_height = len(offer_types) * (strip_height + strip_gap)
    bottom = height - 32 - strips_height
    plot_right = width - 12
    plot_width = plot_right - left
    span = max((end - start).total_seconds(), 1.0)
    now_x = float(plot_right - NOW_WIDTH)

    def x_of(at: datetime) -> float:
        return round(left + plot_width * (at - start).total_seconds() / span, 1)

    def x_since(at: datetime) -> float:
        """Where something that happened at `at` is drawn: the level now keeps its width."""
        return float(left) if at <= start else min(x_of(at), now_x)

    def y_of(rank: int) -> float:
        return round(top + (bottom - top) * (RANK_MAX - rank) / RANK_MAX, 1)

    points = [(float(left), y_of(initial))]
    markers = []
    rank = initial
    for change in shown:
        x = x_since(change.at)
        points += [(x, y_of(rank)), (x, y_of(change.rank_after))]
        rank = change.rank_after
        markers.append(Marker(change.at, rank, x, y_of(rank)))
    points.append((float(plot_right), y_of(rank)))
    stretches = level_stretches(changes, current_rank, start, end)
    bands = tuple(
        Band(since, until, value, x, w)
        for since, until, value, x, w in _laid_out(stretches, x_since, plot_right)
    )
    strips = tuple(
        Strip(
            offer_type,
            bottom + strip_gap + i * (strip_height + strip_gap),
            strip_height,
            tuple(
                Segment(x, w, min(value, MAX_STEP), since, until)
                for since, until, value, x, w in _laid_out(
                    offer_type_stretches(spans, offer_type, start, end), x_since, plot_right
                )
            ),
        )
        for i, offer_type in enumerate(offer_types)
    )
    return Chart(
        width=width,
        height=height,
        left=left,
        top=top,
        bottom=bottom,
        axis_y=height - 10,
        start=start,
        end=end,
        period=period,
        points=" ".join(f"{x},{y}" for x, y in points),
        markers=tuple(markers),
        ticks=ticks(start, end, x_of, max_ticks, label=label, bounds=(2.0, width - 2.0)),
        rows=tuple((r, y_of(r)) for r in range(RANK_MAX + 1)),
        bands=bands,
        strips=strips,
    )


Stretch = tuple[datetime, datetime, int]


def rank_at_start(
    changes: Sequence[Change], current_rank: int, start: datetime, end: datetime
) -> int:
    """The level at `start`: after the last change before it, else before the first one in
    the window, else the level now (never changed)."""
    before = [c for c in changes if c.at < start]
    shown = [c for c in changes if start <= c.at <= end]
    return before[-1].rank_after if before else shown[0].rank_before if shown else current_rank


def level_stretches(
    changes: Sequence[Change], current_rank: int, start: datetime, end: datetime
) -> list[Stretch]:
    """The level (its rank) over [start, end], in stretches that tile it; `changes` by
    time. The chart's bands and the year report's days per level both come from here."""
    rank, since = rank_at_start(changes, current_rank, start, end), start
    stretches: list[Stretch] = []
    for change in changes:
        if start <= change.at <= end:
            stretches.append((since, change.at, rank))
            rank, since = change.rank_after, change.at
    stretches.append((since, end, rank))
    return stretches


def offer_type_stretches(
    spans: Sequence[Span], offer_type: str, start: datetime, end: datetime
) -> list[Stretch]:
    """How many open situations touched `offer_type` over the window, in stretches that tile
    it; the last one is the count now, even if it began now (then it lasts no time)."""
    moves: list[tuple[datetime, int]] = []
    for s in spans:
        if offer_type not in s.offer_types or s.opened > end:
            continue
        if s.closed is not None and s.closed <= start:
            continue
        moves.append((max(s.opened, start), 1))
        if s.closed is not None and s.closed <= end:
            moves.append((s.closed, -1))
    moves.sort(key=lambda m: (m[0], m[1]))
    stretches: list[Stretch] = []
    count, since = 0, start
    for at, delta in moves:
        if at > since:
            stretches.append((since, at, count))
            since = at
        count += delta
    stretches.append((since, end, count))
    return stretches


def _laid_out(
    stretches: Sequence[Stretch], x_since: Callable[[datetime], float], right: int
) -> list[tuple[datetime, datetime, int, float, float]]:
    """Stretches that tile the window, placed on the x axis (since, until, value, x, width):
    the last one ends at `right`; one left without width is dropped, and neighbours of
    the same value make one."""
    placed: list[tuple[datetime, datetime, int, float, float]] = []
    for i, (since, until, value) in enumerate(stretches):
        x0 = x_since(since)
        x1 = float(right) if i == len(stretches) - 1 else x_since(until)
        if x1 <= x0:
            continue
        if placed and placed[-1][2] == value:
            since, x0 = placed[-1][0], placed[-1][3]
            placed.pop()
        placed.append((since, until, value, x0, round(x1 - x0, 1)))
    return placed


def _band(since: datetime, until: datetime, rank: int, x_of: Callable[[datetime], float]) -> Band:
    x = x_of(since)
    return Band(since, until, rank, x, round(x_of(until) - x, 1))


def _segments(
    spans: Sequence[Span],
    offer_type: str,
    start: datetime,
    end: datetime,
    x_of: Callable[[datetime], float],
) -> tuple[Segment, ...]:
    """How many open situations touched `offer_type`, as orange steps over the window."""
    moves: list[tuple[datetime, int]] = []
    for s in spans:
        if offer_type not in s.offer_types:
            continue
        closed = s.closed or end
        if closed <= start or s.opened >= end:
            continue
        moves += [(max(s.opened, start), 1), (min(closed, end), -1)]
    moves.sort(key=lambda m: (m[0], m[1]))
    segments: list[Segment] = []
    count, since = 0, start
    for at, delta in moves:
        if at > since:
            segments.append(_segment(since, at, count, x_of))
            since = at
        count += delta
    if end > since:
        segments.append(_segment(since, end, count, x_of))
    return _merged(segments)


def _segment(
    since: datetime, until: datetime, count: int, x_of: Callable[[datetime], float]
) -> Segment:
    x = x_of(since)
    return Segment(x, round(x_of(until) - x, 1), min(count, MAX_STEP), since, until)


def _merged(segments: list[Segment]) -> tuple[Segment, ...]:
    merged: list[Segment] = []
    for segment in segments:
        if merged and merged[-1].step == segment.step:
            last = merged.pop()
            width = round(segment.x + segment.width - last.x, 1)
            segment = Segment(last.x, width, last.step, last.start, segment.end)
        merged.append(segment)
    return tuple(merged)


def ticks(
    start: datetime,
    end: datetime,
    x_of: Callable[[datetime], float],
    max_ticks: int = MAX_TICKS,
    label: Callable[[Tick], str] | None = None,
    bounds: tuple[float, float] | None = None,
) -> tuple[Tick, ...]:
    """Calendar ticks, never two on the same label: Mondays for short periods, else months.

    Every `n` weeks or months, the smallest `n` that keeps at most `max_ticks`.
    With `bounds` (the picture's left and right edges, for a chart whose labels
    must not overlap): days for a window under two weeks (its first day when no
    midnight falls in it), months on multiples of `n` (janv., avr., juil., oct.;
    written as years from `n` = 12), else every `n`-th month; the smallest `n`
    giving at least two labels that, `CHAR_WIDTH` a character, keep `TICK_GAP`
    apart inside the bounds, each anchored on its tick (by its start or end near
    an edge). One tick when no two fit.
    """
    if bounds is not None and end - start < timedelta(days=14):
        candidates = [start.date() + DAY * i for i in range((end.date() - start.date()).days + 1)]
        unit = "day"
    elif (end - start).days <= 120:
        first = (start + DAY * ((7 - start.weekday()) % 7)).date()
        days = (end - start).days
        candidates = [first + timedelta(weeks=i) for i in range(days // 7 + 2)]
        unit = "week"
    else:
        month = date(start.year, start.month, 1)
        candidates = []
        while month <= end.date():
            candidates.append(month)
            month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
        unit = "month"
    inside = [d for d in candidates if start <= datetime.combine(d, datetime.min.time()) <= end]
    if bounds is None:
        every = next(n for n in TICK_STEPS if len(inside[::n]) <= max_ticks)
        return tuple(
            Tick(d, x_of(datetime.combine(d, datetime.min.time())), unit) for d in inside[::every]
        )
    if not inside:  # less than a day: the day it starts on, at its start
        return _labelled([(start.date(), x_of(start))], "day", label, bounds) or ()

    def at(day: date) -> tuple[date, float]:
        return day, x_of(datetime.combine(day, datetime.min.time()))

    for n in TICK_STEPS:
        layouts = [(inside[::n], unit)]
        if unit == "month":  # on multiples of n first; every n-th month if that leaves one
            aligned = [d for d in inside if (d.year * 12 + d.month - 1) % n == 0]
            layouts.insert(0, (aligned, "year" if n >= 12 else unit))
        for chosen, shown_as in layouts:
            found = _labelled([at(d) for d in chosen], shown_as, label, bounds)
            if found is not None and 2 <= len(found) <= max_ticks:
                return found
    return _labelled([at(inside[0])], unit, label, bounds) or ()


def _labelled(
    placed: Sequence[tuple[date, float]],
    unit: str,
    label: Callable[[Tick], str] | None,
    bounds: tuple[float, float],
) -> tuple[Tick, ...] | None:
    """The ticks with their words and anchors, or None if two labels would touch."""
    lo, hi = bounds
    found: list[Tick] = []
    right_of_last = -float("inf")
    for day, x in placed:
        tick = Tick(day, x, unit)
        text = label(tick) if label is not None else LONGEST_LABEL[unit]
        width = len(text) * CHAR_WIDTH
        if x - width / 2 < lo:
            anchor, box = "start", (x, x + width)
        elif x + width / 2 > hi:
            anchor, box = "end", (x - width, x)
        else:
            anchor, box = "middle", (x - width / 2, x + width / 2)
        if box[0] < right_of_last + TICK_GAP:
            return None
        right_of_last = box[1]
        found.append(Tick(day, x, unit, text if label is not None else "", anchor))
    return tuple(found)


# --- the badge -------------------------------------------------------------------------


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


# --- the digest's small chart ----------------------------------------------------------

MAIL_TICKS = 4
MAIL_LABEL_MIN = 12.0  # percent of the window: wide enough for « ▲ 3 » at 360 px


@dataclass(frozen=True)
class MailStrip:
    offer_type: str
    segments: tuple[Segment, ...]  # x and width in percent of the window


@dataclass(frozen=True)
class MailTick:
    tick: Tick | None  # None: the stretch before the first tick, without a label
    width: float  # percent of the window, from this tick to the next one (or the end)


@dataclass(frozen=True)
class MailChart:
    """The history chart as an email can draw it: table cells with widths in percent.

    The same computations as `history_chart` (bands, strips, ticks) on a 0–100 axis:
    every band's `x` and `width` are percentages of the window, so that each cell is
    as wide as its level lasted and the cells of each row sum to 100 %.
    """

    start: datetime
    end: datetime
    bands: tuple[Band, ...]
    strips: tuple[MailStrip, ...]
    ticks: tuple[MailTick, ...]

    @property
    def cells(self) -> tuple[Band, ...]:
        """The bands wide enough to draw (a level that lasted an hour is in the words only)."""
        return tuple(b for b in self.bands if b.width > 0)


def mail_labelled(width: float) -> bool:
    """A mail chart's cell wide enough to carry its level's shape and step."""
    return width >= MAIL_LABEL_MIN


def mail_chart(
    changes: Sequence[Change],
    current_rank: int,
    start: datetime,
    end: datetime,
    spans: Sequence[Span] = (),
    offer_types: Sequence[str] = (),
    max_ticks: int = MAIL_TICKS,
) -> MailChart:
    """The level from `start` to `end` on a true time axis in percent; `changes` by time."""
    span = max((end - start).total_seconds(), 1.0)

    def x_of(at: datetime) -> float:
        return round(100 * (at - start).total_seconds() / span, 1)

    shown = [c for c in changes if start <= c.at <= end]
    before = [c for c in changes if c.at < start]
    rank = before[-1].rank_after if before else shown[0].rank_before if shown else current_rank
    bands, since = [], start
    for change in shown:
        bands.append(_band(since, change.at, rank, x_of))
        rank, since = change.rank_after, change.at
    bands.append(_band(since, end, rank, x_of))
    strips = tuple(
        MailStrip(offer_type, _mail_segments(spans, offer_type, start, end, x_of))
        for offer_type in offer_types
    )
    kept: list[Band] = []
    for band in bands:
        if band.end == band.start:
            continue  # left at the same instant, or a change to the same rank: merged below
        if kept and kept[-1].rank == band.rank:
            last = kept.pop()
            band = Band(
                last.start, band.end, band.rank, last.x, round(band.x + band.width - last.x, 1)
            )
        kept.append(band)
    if not kept or kept[-1].rank != rank:
        kept.append(bands[-1])  # the level now, reached this very moment: the words say it
    return MailChart(
        start=start,
        end=end,
        bands=tuple(kept),
        strips=strips,
        ticks=_mail_ticks(ticks(start, end, x_of, max_ticks)),
    )


def _mail_segments(
    spans: Sequence[Span],
    offer_type: str,
    start: datetime,
    end: datetime,
    x_of: Callable[[datetime], float],
) -> tuple[Segment, ...]:
    """A strip's segments, ending with the offer type's colour now even if it changed now."""
    segments = _segments(spans, offer_type, start, end, x_of)
    open_now = [
        s for s in spans if offer_type in s.offer_types and s.opened <= end and not _closed(s, end)
    ]
    step = min(len(open_now), MAX_STEP)
    if segments and segments[-1].step != step:
        segments += (Segment(100.0, 0.0, step, end, end),)
    return segments


def _closed(span: Span, at: datetime) -> bool:
    return span.closed is not None and span.closed <= at


def _mail_ticks(found: Sequence[Tick]) -> tuple[MailTick, ...]:
    """Each tick as a cell from its date to the next tick: a row of cells summing to 100 %."""
    edges = [t.x for t in found] + [100.0]
    cells = [MailTick(t, round(edges[i + 1] - t.x, 1)) for i, t in enumerate(found)]
    if edges[0] > 0:
        cells.insert(0, MailTick(None, edges[0]))
    return tuple(cells)
