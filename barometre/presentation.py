"""How causes, states, offer types, names and dates read in French (through Flask-Babel).

Shared by the barometer pages, the console, the feed, the exports and the emails. A
level itself is said, drawn and painted by `barometre.gauge`; this module hands its
words to the templates with the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from babel import dates as babel_dates
from flask import Flask, current_app
from flask_babel import format_date, get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from . import settings
from .charts import Tick
from .clock import zone
from .gauge import COLOURS, SHAPES, level_change_words, level_words
from .languages import BABEL_LOCALES, supported
from .levels import VERT, TypeLevel, level_at, rank_of, type_level
from .states import ReviewState, Role, SituationState
from .text import printable_only

if TYPE_CHECKING:
    from .models import LevelChange, Situation

# The history chart's periods (barometre.charts.PERIODS), as the reader picks them.
PERIOD_LABELS = {"3m": _l("3 mois"), "12m": _l("12 mois"), "tout": _l("Depuis le début")}

SITUATION_STATES = SituationState.labels()

REVIEW_STATES = ReviewState.labels()

# An offer type as the subject of its own colour (R13): « Offre individuelle : orange 3 ».
OFFER_TYPE_OFFERS = {
    "individuel": _l("Offre individuelle"),
    "collectif": _l("Offre collective"),
    "cellulaire": _l("Offre cellulaire"),
}

# The first word of an establishment's name that takes « la » in a French sentence.
_FEMININE_NOUNS = ("prison", "maison")

ROLE_LABELS = Role.labels()


def lang() -> str:
    return supported(str(get_locale() or ""))


# --- a level change's cause in words (R15) ------------------------------------------------
# One function for the page, the feed, every email and the digest: the same words everywhere.
# `named`: the reader may see the conditions' wording (signed in, or an email that names
# them); otherwise each situation is told by its category only (public pages, feeds).


def cause_words(
    change: LevelChange,
    situations: Sequence[Situation] = (),
    *,
    named: bool = False,
    resolution_note: bool = False,
    ttl_days: int | None = None,
) -> str:
    """Why a level changed, in the reader's language: « Après un signalement : nouvelle
    situation « Accès aux parloirs » (constatée le 3 décembre 2026) ».

    `situations`: those the change is about (`barometre.history.cause_situations`): the
    ones its cause opened, or closed. `resolution_note`: add the coordinator's resolution
    note (coordinators only). `ttl_days`: SITUATION_TTL_DAYS (read from the app's settings
    when not given). An expiry is never said to have fixed anything.
    """
    opened = [s for s in situations if s.id in set(change.new_situation_ids or [])]
    closed = [s for s in situations if s.id not in set(change.new_situation_ids or [])]
    cause = change.cause
    if cause in ("report", "validation"):
        return _opened_words(cause, opened, named)
    if cause == "rejection":
        return _rejection_words(closed, named)
    if cause == "resolution":
        return _resolution_words(closed, named, resolution_note)
    if cause == "expiry":
        return _expiry_words(closed, named, _ttl(ttl_days))
    if cause == "import":
        return _("Import de l'historique du comité")
    if cause == "history_end":  # barometre.recompute.CAUSE_HISTORY_END
        return _("Fin de l'historique importé : le baromètre en direct commence ici")
    if cause == "recompute":
        return _("Recalcul des niveaux")
    return cause


def _ttl(ttl_days: int | None) -> int:
    if ttl_days is not None:
        return ttl_days
    return int(current_app.config["SETTINGS"].situation_ttl_days)


def _joined(items: Sequence[str]) -> str:
    return ("\xa0; " if lang() == "fr" else "; ").join(items)


def _condition(situation: Situation) -> str:
    return str(situation.condition.label(lang()))


def _category(situation: Situation) -> str:
    return str(situation.condition.category.label(lang()))


def _opened_words(cause: str, opened: Sequence[Situation], named: bool) -> str:
    items = [
        _(
            "nouvelle situation « %(label)s » (constatée le %(day)s)",
            label=_condition(s),
            day=date_words(s.first_visit),
        )
        if named
        else _(
            "nouvelle situation en %(category)s (constatée le %(day)s)",
            category=_category(s),
            day=date_words(s.first_visit),
        )
        for s in opened
    ]
    if cause == "validation":
        if not items:
            return _("Signalement validé par le comité")
        return _("Signalement validé par le comité : %(items)s", items=_joined(items))
    if not items:
        return _("Après un signalement")
    return _("Après un signalement : %(items)s", items=_joined(items))


def _rejection_words(closed: Sequence[Situation], named: bool) -> str:
    items = [
        _("la situation « %(label)s » est close faute d'autre signalement", label=_condition(s))
        if named
        else _(
            "une situation en %(category)s est close faute d'autre signalement",
            category=_category(s),
        )
        for s in closed
    ]
    if not items:
        return _("Un signalement a été retiré par le comité")
    return _("Un signalement a été retiré par le comité : %(items)s", items=_joined(items))


def _resolution_words(closed: Sequence[Situation], named: bool, with_note: bool) -> str:
    if not closed:
        return _("Le comité a clos une situation")
    situation = closed[0]
    if named:
        words = _(
            "Le comité a clos la situation « %(label)s » (constatée depuis le %(day)s)",
            label=_condition(situation),
            day=date_words(situation.first_visit),
        )
    else:
        words = _(
            "Le comité a clos une situation en %(category)s (constatée depuis le %(day)s)",
            category=_category(situation),
            day=date_words(situation.first_visit),
        )
    if with_note and situation.close_note:
        note = situation.close_note.strip().rstrip(".")
        return _("%(cause)s ; note de résolution : %(note)s", cause=words, note=note)
    return words


def _expiry_words(closed: Sequence[Situation], named: bool, ttl_days: int) -> str:
    days = duration_words(ttl_days)
    if not closed:
        return _("Situation non reconfirmée depuis %(days)s", days=days)
    items = [
        _(
            "« %(label)s » (dernière confirmation : %(day)s)",
            label=_condition(s),
            day=date_words(s.last_confirmed),
        )
        if named
        else _(
            "une situation en %(category)s (dernière confirmation : %(day)s)",
            category=_category(s),
            day=date_words(s.last_confirmed),
        )
        for s in closed
    ]
    return ngettext(
        "Situation non reconfirmée depuis %(days)s : %(items)s",
        "Situations non reconfirmées depuis %(days)s : %(items)s",
        len(items),
        days=days,
        items=_joined(items),
    )


def offer_type_level_words(offer_type: str, level: TypeLevel) -> str:
    """« Offre individuelle : orange 3 », the way Fidex speaks of one offer type."""
    offer = str(OFFER_TYPE_OFFERS.get(offer_type, offer_type))
    if level.colour == VERT:
        return _("%(offer)s : vert", offer=offer)
    return _("%(offer)s : orange %(step)d", offer=offer, step=level.step)


def red_pending_sentence(
    missing_offer_types: Iterable[str],
    offer_labels: Mapping[str, str],
    min_types: int | None = None,
) -> str:
    """« Rouge en attente : il faut des situations touchant au moins 2 types d'offre (manque :
    collectif, cellulaire). » An orange 5 whose situations touch too few offer types (R4):
    red waits for them, diversity is no obstacle. `offer_labels` are the offer types' labels
    in the reader's language; `min_types` is RED_MIN_OFFER_TYPES (the app's by default).
    Pages and emails say it with this one sentence."""
    wanted = settings.current().red_min_offer_types if min_types is None else min_types
    missing = labels(missing_offer_types, dict(offer_labels)).lower()
    return ngettext(
        "Rouge en attente : il faut des situations touchant au moins %(num)d type d'offre "
        "(manque : %(missing)s).",
        "Rouge en attente : il faut des situations touchant au moins %(num)d types d'offre "
        "(manque : %(missing)s).",
        wanted,
        missing=missing,
    )


def in_sentence(name: str) -> str:
    """An establishment's name inside a sentence of the page's language."""
    return name_in_sentence(name, lang())


def name_in_sentence(name: str, language: str) -> str:
    """An establishment's name inside a sentence in `language`: French puts an article before
    a common noun (« Historique de la prison de Haren »); a proper name stays as it is."""
    first = name.split(" ", 1)[0].lower()
    if language == "fr" and first in _FEMININE_NOUNS:
        return "la " + name[0].lower() + name[1:]
    return name


def local_name(establishment: Any) -> str:
    """An establishment's name in the reader's language (the French one when none was given)."""
    return str(establishment.name_in(lang()))


def local_note(establishment: Any) -> str:
    """The committee note in the reader's language (the French one when none was given)."""
    return str(establishment.note_in(lang()))


def note_heading(establishment: Any) -> str:
    """« Note du comité du 3 décembre 2026 (au niveau orange 3) : », or, for a note that
    speaks of another level than the one shown, « Note plus ancienne du comité, du … (au
    niveau …) : »; a note written before dates were kept has neither."""
    if establishment.committee_note_at is None or establishment.committee_note_colour is None:
        return _("Note du comité baromètre :")
    day = date_words(establishment.committee_note_at)
    level = level_words(
        establishment.committee_note_colour, establishment.committee_note_step or 0, "brief"
    )
    if establishment.note_is_current:
        return _("Note du comité du %(day)s (au niveau %(level)s) :", day=day, level=level)
    return _(
        "Note plus ancienne du comité, du %(day)s (au niveau %(level)s) :", day=day, level=level
    )


def sentence_start(name: str) -> str:
    """An establishment's name opening a sentence: « La prison de Haren revient au vert »."""
    words = in_sentence(name)
    return words[:1].upper() + words[1:]


def date_words(value: date | datetime | None, width: str = "long") -> str:
    """A date for a person, by Babel: « 30 novembre 2026 », « 30 november 2026 »."""
    if value is None:
        return ""
    day = local(value) if isinstance(value, datetime) else value
    words = babel_dates.format_date(day, width, locale=BABEL_LOCALES[lang()])
    if lang() == "fr" and day is not None and day.day == 1 and words.startswith("1 "):
        words = "1er" + words[1:]  # « le 1er décembre »
    return words


def datetime_words(value: datetime | None) -> str:
    """« 30 nov. 2026 à 14:05 » (Brussels time)."""
    shown = local(value)
    if shown is None:
        return ""
    locale = BABEL_LOCALES[lang()]
    return _(
        "%(date)s à %(time)s",
        date=babel_dates.format_date(shown, "medium", locale=locale),
        time=babel_dates.format_time(shown, "HH:mm", locale=locale),
    )


def device_words(browser: str, system: str) -> str:
    """A session's device as its User-Agent named it: « Firefox sur Linux »."""
    if browser and system:
        return _("%(browser)s sur %(system)s", browser=browser, system=system)
    if browser or system:
        return browser or system
    return _("Appareil inconnu")


def local(value: datetime | None) -> datetime | None:
    """Naive UTC (as stored) to the time of TIMEZONE: the one way times are shown."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC).astimezone(zone())


def datetime_fr(value: datetime | None) -> str:
    shown = local(value)
    return shown.strftime("%d/%m/%Y %H:%M") if shown else ""


def date_fr(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        shown = local(value)
        return shown.strftime("%d/%m/%Y") if shown else ""
    return value.strftime("%d/%m/%Y")


def tick_label(tick: Tick) -> str:
    """A chart tick in the reader's language: « 3 nov. » by day or week, « nov. 2026 » by
    month, « 2026 » by year."""
    if tick.label:
        return tick.label
    if tick.unit in ("day", "week"):
        return format_date(tick.day, "d MMM")
    if tick.unit == "year":
        return format_date(tick.day, "yyyy")
    return format_date(tick.day, "MMM yyyy")


def month_words(day: date, width: str = "long") -> str:
    """A month in the reader's language: « janvier 2024 »; short, a chart's axis: « janv. »."""
    return format_date(day, "LLLL yyyy" if width == "long" else "LLL")


def level_since_words(changed_at: datetime | None, today: date) -> str:
    """« À ce niveau depuis 12 jours »: whole local days since the level last changed."""
    if changed_at is None:
        return _("À ce niveau depuis le début des relevés")
    shown = local(changed_at)
    days = (today - shown.date()).days if shown else 0
    if days < 1:
        return _("À ce niveau depuis aujourd'hui")
    return ngettext("À ce niveau depuis %(num)d jour", "À ce niveau depuis %(num)d jours", days)


def trend_words(rank_now: int, before: tuple[str, int] | None) -> tuple[str, str]:
    """(direction, words) against the level a week ago: « ↗ plus haut qu'il y a 7 jours »."""
    if before is None:
        return "same", _("= comme il y a 7 jours")
    rank_before = rank_of(*before)
    if rank_now > rank_before:
        return "up", _("↗ plus haut qu'il y a 7 jours (%(level)s)", level=level_words(*before))
    if rank_now < rank_before:
        return "down", _("↘ plus bas qu'il y a 7 jours (%(level)s)", level=level_words(*before))
    return "same", _("= comme il y a 7 jours")


def duration_words(days: int) -> str:
    """How long a level lasted, in whole days."""
    if days < 1:
        return _("moins d'un jour")
    return ngettext("%(num)d jour", "%(num)d jours", days)


def label_map(rows: Any) -> dict[str, str]:
    """code -> label in the current language."""
    current = lang()
    return {row.code: row.label(current) for row in rows}


def labels(codes: Any, mapping: dict[str, str]) -> str:
    return ", ".join(mapping.get(code, code) for code in codes)


def init_presentation(app: Flask) -> None:
    app.add_template_filter(labels, "labels")
    app.add_template_filter(datetime_fr, "datetime_fr")
    app.add_template_filter(date_fr, "date_fr")
    app.add_template_filter(date_words, "date_words")
    app.add_template_filter(month_words, "month_words")
    app.add_template_filter(datetime_words, "datetime_words")
    app.add_template_filter(in_sentence, "in_sentence")
    app.add_template_filter(local_name, "local_name")
    app.add_template_filter(local_note, "local_note")

    app.add_template_filter(sentence_start, "sentence_start")
    # Globals, not only context variables: macros imported without context use them too,
    # and the emails (rendered outside any request).
    app.add_template_global(level_words, "level_words")
    app.add_template_global(level_at, "level_at")
    app.add_template_global(type_level, "type_level")
    app.add_template_global(red_pending_sentence, "red_pending_sentence")
    app.add_template_global(duration_words, "duration_words")
    app.add_template_global(device_words, "device_words")
    app.jinja_env.globals["level_colours"] = COLOURS
    # Stored names in XML (feed, badge): rows older than the text rule may hold controls.
    app.add_template_filter(printable_only, "printable")

    @app.context_processor
    def helpers() -> dict[str, Any]:
        return {
            "level_change_words": level_change_words,
            "cause_words": cause_words,
            "note_heading": note_heading,
            "offer_type_level_words": offer_type_level_words,
            "tick_label": tick_label,
            "period_labels": PERIOD_LABELS,
            "level_since_words": level_since_words,
            "trend_words": trend_words,
            "rank_of": rank_of,
            "shapes": SHAPES,
            "situation_states": SITUATION_STATES,
            "review_states": REVIEW_STATES,
            "role_labels": ROLE_LABELS,
            "current_lang": lang,
        }
