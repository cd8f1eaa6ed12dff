"""The weekly digest (R9): planned once per ISO week and address, rendered when sent.

Every Monday 08:00 Europe/Brussels (DIGEST_DAY, DIGEST_HOUR, TIMEZONE) each
address gets one digest: establishment contacts for their establishments,
coordinators and member services for all. A `DigestRun` row, unique per
(ISO week, address), is inserted with ON CONFLICT DO NOTHING: two beats, a
restart or `flask digest send` twice cannot send a second one, and a missed
run is caught up by the reconciler later in the week.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import func, select

from barometre import clock
from barometre.addresses import MAX_ADDRESS, address_key, clean_address
from barometre.charts import MailChart, mail_chart, mail_labelled
from barometre.extensions import DbSession
from barometre.gauge import Swatch, level_words, swatch
from barometre.history import chart_changes, levels_at, spans_by_establishment
from barometre.languages import BABEL_LOCALES, supported
from barometre.levels import OFFER_TYPES, level_at
from barometre.models import Category, Establishment, LevelChange, OfferType, Report
from barometre.presentation import (
    OFFER_TYPE_OFFERS,
    datetime_words,
    duration_words,
    note_heading,
    red_pending_sentence,
    tick_label,
    trend_words,
)
from barometre.queries import EstablishmentView, barometer
from barometre.settings import Settings
from barometre.states import ReviewState
from barometre.unique import insert_unless_taken

from . import handoff
from .emails import (
    Content,
    change_causes,
    common_context,
    offer_types_by_code,
    page_url,
    signed_links_for,
    situation_line,
    type_colour_lines,
)
from .events import new_notification
from .models import DIGEST, DigestRun, Notification, NotificationState
from .recipients import Recipient, digest_recipients

HISTORY_WEEKS = 12  # the window of the level chart, ending when the digest is made
WEEK = timedelta(days=7)

# --- schedule ---------------------------------------------------------------------------


def zone(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.timezone)


def local(moment: datetime, settings: Settings) -> datetime:
    """A naive UTC moment (what columns store) in the digest's time zone."""
    return moment.replace(tzinfo=UTC).astimezone(zone(settings))


def to_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def iso_week(moment: datetime, settings: Settings) -> str:
    year, week, _ = local(moment, settings).isocalendar()
    return f"{year}-W{week:02d}"


def iso_week_now(settings: Settings) -> str:
    return iso_week(clock.now(), settings)


def week_monday(week: str) -> date:
    year, number = week.split("-W")
    return date.fromisocalendar(int(year), int(number), 1)


def scheduled_at(week: str, settings: Settings) -> datetime:
    """When the week's digest is due, as naive UTC (DST-aware)."""
    day = week_monday(week) + timedelta(days=settings.digest_day)
    moment = datetime(day.year, day.month, day.day, settings.digest_hour, tzinfo=zone(settings))
    return to_utc(moment)


def due_week(now: datetime, settings: Settings) -> str | None:
    """The ISO week whose digest time has passed, if any (catch-up within the week)."""
    week = iso_week(now, settings)
    return week if now >= scheduled_at(week, settings) else None


def covered_days(week: str, settings: Settings) -> tuple[date, date]:
    """The seven days a week's digest looks back on: up to the day before it is sent."""
    sent_on = week_monday(week) + timedelta(days=settings.digest_day)
    return sent_on - timedelta(days=7), sent_on - timedelta(days=1)


@dataclass(frozen=True)
class Week:
    """The moments (naive UTC) a digest reads its week from: the week is (start, end], the
    week before it (before, start]."""

    before: datetime
    start: datetime
    end: datetime

    @classmethod
    def ending(cls, moment: datetime) -> Week:
        """The seven days up to `moment`."""
        return cls(moment - 2 * WEEK, moment - WEEK, moment)


def midnight(day: date, settings: Settings) -> datetime:
    """The start of `day` in the digest's time zone, as naive UTC (DST-aware)."""
    return to_utc(datetime(day.year, day.month, day.day, tzinfo=zone(settings)))


def covered_week(week: str, settings: Settings) -> Week:
    """The moments of a week's digest's days (`covered_days`), from midnight to midnight
    in Brussels: what it says « du 23 au 29 novembre » of, whenever it is written."""
    start, end = covered_days(week, settings)
    return Week(
        midnight(start - timedelta(days=7), settings),
        midnight(start, settings),
        midnight(end + timedelta(days=1), settings),
    )


def _day(day: date, lang: str, with_month: bool, with_year: bool) -> str:
    pattern = "d" + (" MMMM" if with_month else "") + (" y" if with_year else "")
    words = format_date(day, pattern, locale=BABEL_LOCALES[lang])
    if lang == "fr" and day.day == 1:
        words = "1er" + words[1:]  # « le 1er décembre »
    return words


def period_words(start: date, end: date, lang: str) -> str:
    """« du 23 au 29 novembre 2026 », « van 30 november tot en met 6 december 2026 »,
    « from 23 to 29 November 2026 »: the month and year are said once when shared."""
    lang = supported(lang)
    same_year = start.year == end.year
    same_month = same_year and start.month == end.month
    first = _day(start, lang, not same_month, not same_year)
    last = _day(end, lang, True, True)
    with force_locale(lang):
        return _("du %(first)s au %(last)s", first=first, last=last)


def week_period(week: str, settings: Settings, lang: str) -> str:
    """The days a week's digest covers, in words (`period_words`)."""
    return period_words(*covered_days(week, settings), lang)


def week_planned(session: DbSession, week: str) -> bool:
    found = session.scalar(select(DigestRun.id).where(DigestRun.iso_week == week).limit(1))
    return found is not None


# --- planning ---------------------------------------------------------------------------


def plan(session: DbSession, settings: Settings, week: str | None = None) -> list[Notification]:
    """One digest run and notification per address that has none for this week yet."""
    now = clock.now()
    week = week or iso_week(now, settings)
    created: list[Notification] = []
    for recipient in digest_recipients(session):
        run_id = _insert_run(session, week, recipient, now)
        if run_id is None:
            continue  # already has this week's digest
        row = new_notification(DIGEST, recipient, now, digest_run_id=run_id)
        session.add(row)
        created.append(row)
    session.flush()
    handoff.after_commit(
        session, [n.id for n in created if n.state != NotificationState.FAILED], bulk=True
    )
    return created


def _insert_run(session: DbSession, week: str, recipient: Recipient, now: datetime) -> int | None:
    address = clean_address(recipient.address) or recipient.address[:MAX_ADDRESS]
    ids = recipient.establishment_ids
    return insert_unless_taken(
        session,
        DigestRun,
        (DigestRun.iso_week, DigestRun.recipient),
        iso_week=week,
        recipient=address_key(address),
        establishment_ids=sorted(ids) if ids is not None else None,
        created_at=now,
    )


# --- content ----------------------------------------------------------------------------


@dataclass
class EstablishmentDigest:
    name: str
    rank: int
    level: str  # « orange 3 sur 5 », inside a sentence
    level_name: str  # « Code orange 3 sur 5 », on its own
    colour: str
    swatch: Swatch
    open_situations: int
    diversity: int
    red_blocked: bool
    week_ago: str
    trend: str
    note: str  # the committee's note, while it speaks of the level shown
    note_heading: str  # « Note du comité du 3 décembre 2026 (au niveau orange 3) : »
    new_reports: int
    previous_reports: int
    by_category: list[tuple[str, int]]
    by_offer_type: list[tuple[str, int]]
    url: str = ""
    slug: str = ""  # what a webhook's payload names it by
    missing_offer_types: list[str] = field(default_factory=list)
    # « Rouge en attente : il faut des situations touchant au moins 2 types d'offre (manque :
    # collectif, cellulaire). » (R4), the pages' sentence.
    red_pending: str = ""
    # Open situations by their condition's wording, with category and offer types (R14).
    situations: list[dict[str, Any]] = field(default_factory=list)
    # The colour of each offer type (R13), in words.
    type_colours: list[dict[str, Any]] = field(default_factory=list)
    # The week's level changes, each with its cause in words (R15).
    changes: list[dict[str, str]] = field(default_factory=list)
    # The level and each offer type's colour over the last weeks, as cells and in words.
    chart: dict[str, Any] = field(default_factory=dict)


def digest_content(session: DbSession, notification: Notification, settings: Settings) -> Content:
    """The digest of the run's establishments (None: all of them)."""
    run = notification.digest_run
    if run is None:
        raise ValueError(f"notification {notification.id} has no digest run")
    lang = notification.language
    now = clock.now()
    signed = signed_links_for(notification.recipient_kind)
    # Its changes and reports are read from the days it names, not from the seven days
    # before it is written: a digest caught up or retried later says the same week.
    establishments = content(
        session,
        run.establishment_ids,
        now,
        lang,
        settings,
        signed,
        run.created_at,
        covered_week(run.iso_week, settings),
    )
    context = {
        **common_context(notification.recipient, settings),
        "week": run.iso_week,
        "week_number": int(run.iso_week.rsplit("W", 1)[1]),
        "period": week_period(run.iso_week, settings, lang),
        "all_establishments": run.establishment_ids is None,
        "establishments": establishments,
        "signed_link": signed,
        "link_days": settings.signed_link_days,
    }
    if signed:
        # No account: `/` asks for a login; each establishment's own signed link opens.
        context["barometer_url"] = None
    return Content(context, run.establishment_ids)


def content(
    session: DbSession,
    establishment_ids: Sequence[int] | None,
    now: datetime,
    lang: str,
    settings: Settings,
    signed: bool = False,
    issued_at: datetime | None = None,
    week: Week | None = None,
) -> list[EstablishmentDigest]:
    """Per establishment, worst first: level now and a week ago, the open situations by
    name with their age on `now`'s day, the colour per offer type, the changes and reports
    of `week` (default: the seven days up to `now`), history, and a link to its page
    (`signed`, dated `issued_at`, for a recipient without an account), every word in `lang`."""
    week = week or Week.ending(now)
    with force_locale(lang):
        return _content(session, establishment_ids, now, lang, settings, signed, issued_at, week)


def _content(
    session: DbSession,
    establishment_ids: Sequence[int] | None,
    now: datetime,
    lang: str,
    settings: Settings,
    signed: bool,
    issued_at: datetime | None,
    week: Week,
) -> list[EstablishmentDigest]:
    slugs = None
    if establishment_ids is not None:
        query = select(Establishment.slug).where(Establishment.id.in_(establishment_ids))
        slugs = list(session.scalars(query))
    views = barometer(session, slugs)
    ids = [v.establishment.id for v in views]
    since = now - timedelta(weeks=HISTORY_WEEKS)
    changes = _changes_since(session, ids, since)
    # The level a week ago as `/` reads it (one function for both, R5).
    week_ago = levels_at(session, now - WEEK, ids)
    spans = spans_by_establishment(session, ids, since)
    this_week = _report_counts(session, ids, week.start, week.end)
    last_week = _report_counts(session, ids, week.before, week.start)
    labels = _labels(session, lang)
    offer_types = offer_types_by_code(session)
    causes = _week_causes(session, changes, week, lang, settings)
    digests = []
    for view in views:
        eid = view.establishment.id
        digest = _one(view, changes[eid], week_ago.get(eid), labels, week, lang, causes)
        digest.new_reports, digest.previous_reports = this_week.get(eid, 0), last_week.get(eid, 0)
        digest.situations = [
            {**situation_line(s, lang, offer_types), "age": _age(s.opened_at, now, settings)}
            for s in view.situations
        ]
        digest.type_colours = type_colour_lines(digest.situations, lang)
        missing = view.level.missing_offer_types
        digest.missing_offer_types = [labels["offer_type"].get(c, c) for c in missing]
        if view.level.red_blocked_by_diversity:
            digest.red_pending = red_pending_sentence(
                missing, labels["offer_type"], settings.red_min_offer_types
            )
        digest.url = page_url(view.slug, eid, settings, signed, issued_at or now)
        digests.append(digest)
    for digest, view in zip(digests, views, strict=True):
        chart = mail_chart(
            chart_changes(changes[view.establishment.id]),
            view.level.rank,
            since,
            now,
            spans.get(view.establishment.id, []),
            OFFER_TYPES,
        )
        digest.chart = chart_words(chart, labels["offer_type"], lang, settings)
    return sorted(digests, key=lambda d: (-d.rank, -d.open_situations, d.name))


def _changes_since(
    session: DbSession, ids: list[int], since: datetime
) -> dict[int, list[LevelChange]]:
    """Each establishment's level changes since `since`, oldest first (R5)."""
    grouped: dict[int, list[LevelChange]] = {i: [] for i in ids}
    if ids:
        query = (
            select(LevelChange)
            .where(LevelChange.establishment_id.in_(ids), LevelChange.at >= since)
            .order_by(LevelChange.at, LevelChange.id)
        )
        for change in session.scalars(query):
            grouped[change.establishment_id].append(change)
    return grouped


def _week_causes(
    session: DbSession,
    changes: dict[int, list[LevelChange]],
    week: Week,
    lang: str,
    settings: Settings,
) -> dict[int, str]:
    """The cause in words of every change of the week, as the alerts say it (R15)."""
    told = [c for found in changes.values() for c in found if week.start < c.at <= week.end]
    return change_causes(session, told, lang, settings) if told else {}


def _report_counts(
    session: DbSession, ids: list[int], start: datetime, end: datetime
) -> dict[int, int]:
    if not ids:
        return {}
    query = (
        select(Report.establishment_id, func.count(Report.id))
        .where(
            Report.establishment_id.in_(ids),
            Report.submitted_at > start,
            Report.submitted_at <= end,
            Report.review_state != ReviewState.REJECTED,
        )
        .group_by(Report.establishment_id)
    )
    return {eid: int(n) for eid, n in session.execute(query).all()}


def _labels(session: DbSession, lang: str) -> dict[str, dict[str, str]]:
    categories = session.scalars(select(Category).order_by(Category.position))
    offer_types = session.scalars(select(OfferType).order_by(OfferType.position))
    return {
        "category": {c.code: c.label(lang) for c in categories},
        "offer_type": {o.code: o.label(lang) for o in offer_types},
    }


def _one(
    view: EstablishmentView,
    changes: list[LevelChange],
    week_ago: tuple[str, int] | None,
    labels: dict[str, dict[str, str]],
    week: Week,
    lang: str,
    causes: dict[int, str],
) -> EstablishmentDigest:
    """`week_ago`: (colour, step) a week ago, None if never changed (`history.levels_at`);
    `causes`: the week's changes' causes in words, by change id. In the current locale."""
    level = view.level
    establishment = view.establishment
    # A note written at another level is not the committee's word on this one.
    current = establishment.note_is_current
    colour_ago, step_ago = week_ago or (level.colour, level.step)
    return EstablishmentDigest(
        name=establishment.name_in(lang),
        slug=establishment.slug,
        rank=level.rank,
        level=level_words(level.colour, level.step, "bare"),
        level_name=level_words(level.colour, level.step),
        colour=level.colour,
        swatch=swatch(level.colour, level.step),
        open_situations=level.open_situations,
        diversity=level.diversity,
        red_blocked=level.red_blocked_by_diversity,
        week_ago=level_words(colour_ago, step_ago, "bare"),
        trend=trend_words(level.rank, week_ago)[0],
        note=establishment.note_in(lang) if current else "",
        note_heading=note_heading(establishment) if current else "",
        new_reports=0,
        previous_reports=0,
        by_category=[
            (labels["category"].get(code, code), n)
            for code, n in view.breakdown.by_category.items()
        ],
        by_offer_type=[
            # Lower-case: the offer types are read after a colon.
            (labels["offer_type"].get(code, code).lower(), n)
            for code, n in view.breakdown.by_offer_type.items()
        ],
        changes=_changes(changes, week, causes),
    )


def _changes(
    changes: list[LevelChange], week: Week, causes: dict[int, str]
) -> list[dict[str, str]]:
    return [
        {
            "at": datetime_words(c.at),
            "from": level_words(c.from_colour, c.from_step, "bare"),
            "to": level_words(c.to_colour, c.to_step, "bare"),
            # After a dash, inside the change's line: « … — après un signalement : … ».
            "cause": _inside(causes.get(c.id, c.cause)),
        }
        for c in changes
        if week.start < c.at <= week.end
    ]


def _age(opened_at: datetime, now: datetime, settings: Settings) -> str:
    """« ouverte depuis 12 jours »: Brussels days from its opening to the digest's day."""
    days = (local(now, settings).date() - local(opened_at, settings).date()).days
    if days < 1:
        return _("ouverte aujourd'hui")
    return ngettext("ouverte depuis %(num)d jour", "ouverte depuis %(num)d jours", days)


def _inside(cause: str) -> str:
    """A cause in words read inside a sentence: its first letter lower-case."""
    return cause[:1].lower() + cause[1:]


# --- the level chart --------------------------------------------------------------------


def chart_words(
    chart: MailChart, offer_labels: dict[str, str], lang: str, settings: Settings
) -> dict[str, Any]:
    """The mail chart's rows of cells, ticks and words, in the current locale (`lang`'s).

    Colour is never alone: a cell wide enough carries its level's shape and step,
    every cell its words as a title, and the lines under the chart say every
    stretch with its dates and how long it lasted.
    """
    level_stretches = _stretches(
        chart, [(b.start, b.end, b.rank) for b in chart.bands], lang, settings
    )
    level_cells = [
        _cell(b.width, b.rank, words)
        for b, words in zip(chart.bands, level_stretches, strict=True)
        if b.width > 0
    ]
    strips = []
    strip_lines = []
    for strip in chart.strips:
        segments = strip.segments
        stretches = _stretches(chart, [(s.start, s.end, s.step) for s in segments], lang, settings)
        cells = [
            _cell(s.width, s.step, words)
            for s, words in zip(segments, stretches, strict=True)
            if s.width > 0
        ]
        strips.append(
            {"label": offer_labels.get(strip.offer_type, strip.offer_type), "cells": cells}
        )
        offer = str(OFFER_TYPE_OFFERS.get(strip.offer_type, strip.offer_type))
        strip_lines.append(_("%(label)s : %(value)s", label=offer, value=" · ".join(stretches)))
    caption = _("Niveau des %(weeks)d dernières semaines", weeks=HISTORY_WEEKS)
    words = " · ".join(level_stretches)
    return {
        "caption": caption,
        "level_label": _("Niveau"),
        "level_cells": level_cells,
        "strips": strips,
        "ticks": [
            {"width": f"{t.width:.1f}", "label": tick_label(t.tick) if t.tick else ""}
            for t in chart.ticks
            if t.width > 0
        ],
        "words": words,
        "line": _("%(label)s : %(value)s", label=caption, value=words),
        "strip_lines": strip_lines,
    }


def _cell(width: float, rank: int, title: str) -> dict[str, Any]:
    level = level_at(rank)
    return {
        "width": f"{width:.1f}",
        "swatch": swatch(*level),
        "mark": level_words(*level, "glyph") if mail_labelled(width) else "",
        "title": title,
    }


def _stretches(
    chart: MailChart, stretches: list[tuple[datetime, datetime, int]], lang: str, settings: Settings
) -> list[str]:
    """Each stretch (start, end, rank) in words; the last one is the level now."""
    return [
        _stretch(chart.start, start, end, rank, index == len(stretches) - 1, lang, settings)
        for index, (start, end, rank) in enumerate(stretches)
    ]


def _stretch(
    window_start: datetime,
    start: datetime,
    end: datetime,
    rank: int,
    ongoing: bool,
    lang: str,
    settings: Settings,
) -> str:
    """« orange 2 sur 5 depuis le 3 novembre (27 jours) »: one stretch at one level."""
    level = level_words(*level_at(rank), "bare")
    since = _day(local(start, settings).date(), lang, True, False)
    until = _day(local(end, settings).date(), lang, True, False)
    lasted = duration_words((end - start) // timedelta(days=1))
    if start <= window_start:
        if ongoing:
            return _("%(level)s sur toute la période", level=level)
        return _("%(level)s jusqu'au %(end)s", level=level, end=until)
    if ongoing:
        return _(
            "%(level)s depuis le %(start)s (%(duration)s)",
            level=level,
            start=since,
            duration=lasted,
        )
    if since == until:
        return _("%(level)s le %(start)s (%(duration)s)", level=level, start=since, duration=lasted)
    return _(
        "%(level)s du %(start)s au %(end)s (%(duration)s)",
        level=level,
        start=since,
        end=until,
        duration=lasted,
    )
