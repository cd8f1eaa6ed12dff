"""Email rendering: one function renders subject, text and HTML from templates.

Templates live in `templates/emails/<name>.{subject.txt,txt,html}`: one set per
email, its words through Flask-Babel, rendered in the recipient's language
(French, Dutch or English). What goes in is built here from ids and levels only,
its words already in that language: the establishment, the level, the diversity,
the conditions' wording, links. Never a report's text, its author or the
author's service (SPEC §4).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import Policy
from email.utils import formatdate
from functools import lru_cache
from typing import Any

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from barometre.addresses import AddressError, address_key, check_address, clean_address
from barometre.datacache import DataCache
from barometre.extensions import DbSession
from barometre.gauge import level_change_words, level_words, swatch
from barometre.history import cause_situations
from barometre.languages import supported
from barometre.levels import (
    OFFER_TYPES,
    Level,
    TypeLevel,
    breakdown,
    offer_type_levels,
)
from barometre.models import Condition, Establishment, LevelChange, OfferType, Situation
from barometre.presentation import (
    cause_words,
    date_words,
    offer_type_level_words,
    red_pending_sentence,
)
from barometre.settings import Settings
from barometre.signed_links import establishment_url

from .models import (
    GREEN_AGAIN,
    REMINDER,
    TO_CONTACT,
    TO_COORDINATOR,
    TO_FOLLOWER,
    TO_SERVICE,
    AlertEvent,
    Notification,
)

PREFERENCES_SALT = "alerts.preferences"


class AddressRefused(AddressError):
    """A recipient the address rule refuses: it could inject a header, is not an address,
    or has characters other than ASCII before the @ (RFC 2047 §5 forbids encoding them)."""

    @property
    def note(self) -> str:
        """What its notification's last error says, on the console."""
        return f"Adresse refusée\xa0: {self.reason}"


def sendable(recipient: str) -> str:
    """The recipient as it goes into the To header; AddressRefused, with the rule's reason,
    for an address stored before the rule refused it."""
    try:
        return check_address(recipient)
    except AddressError as refused:
        raise AddressRefused(refused.reason) from None


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Content:
    """What one email says (its template's context) and the establishments it is about
    (None: all, or none in particular), which a follower's one-click link stops."""

    context: dict[str, Any]
    about: list[int] | None = None


BREAKABLE_SPACE = re.compile(r"[^\S\xa0\u202f]+")


def render(name: str, lang: str, context: dict[str, Any]) -> Rendered:
    """Subject, text and HTML of one email in one language: one template set per email
    (`emails/<name>.*`, words through `_()` and `ngettext`) rendered in the recipient's
    locale."""
    parts = render_templates(
        {ext: f"emails/{name}.{ext}" for ext in ("subject.txt", "txt", "html")}, lang, context
    )
    subject = one_line(parts["subject.txt"])
    text = re.sub(r"\n{3,}", "\n\n", parts["txt"]).strip() + "\n"
    return Rendered(subject, text, parts["html"])


def render_templates(
    templates: dict[str, str], lang: str, context: dict[str, Any]
) -> dict[str, str]:
    """Each named template rendered in `lang`'s locale (an email's parts, a chat message)."""
    env = current_app.jinja_env
    lang = supported(lang)
    values = {**context, "lang": lang}
    with force_locale(lang):
        return {part: env.get_template(name).render(values) for part, name in templates.items()}


def one_line(text: str) -> str:
    """One line, whatever the data held: a subject never spans headers. French
    typography's no-break spaces stay (« Baromètre : » never breaks before its colon)."""
    return BREAKABLE_SPACE.sub(" ", text).strip()


# --- links -----------------------------------------------------------------------------


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.secret_key, salt=PREFERENCES_SALT)


def preferences_token(address: str, settings: Settings) -> str:
    return str(_serializer(settings).dumps(address_key(address)))


def address_from_token(token: str, settings: Settings) -> str | None:
    try:
        value = _serializer(settings).loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


def preferences_url(address: str, settings: Settings) -> str:
    token = preferences_token(address, settings)
    return f"{settings.base_url.rstrip('/')}/alertes/preferences/{token}"


# What a one-click unsubscription (RFC 8058) stops: the subject of the email it came with.
TOPIC_ALERTS, TOPIC_DIGEST = "alertes", "resume"
TOPICS = (TOPIC_ALERTS, TOPIC_DIGEST)
# A follower's one-click link: the address and the establishments its email was about, signed
# together (a salt of its own: neither token is accepted in the other's place).
ONE_CLICK_SALT = "alerts.one-click"


@dataclass(frozen=True)
class OneClick:
    """Who a one-click link speaks for and what it stops: for a follower, the topic of the
    establishments its email was about; for anyone else (None), the topic wherever the
    address gets it."""

    address: str
    establishment_ids: frozenset[int] | None = None


def _one_click_serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.secret_key, salt=ONE_CLICK_SALT)


def one_click_token(address: str, establishment_ids: Iterable[int], settings: Settings) -> str:
    value = [address_key(address), sorted(set(establishment_ids))]
    return str(_one_click_serializer(settings).dumps(value))


def one_click_from_token(token: str, settings: Settings) -> OneClick | None:
    """The link's address and scope; None when the token is not one this app signed."""
    try:
        value = _one_click_serializer(settings).loads(token)
    except BadSignature:
        address = address_from_token(token, settings)  # an address-wide link
        return None if address is None else OneClick(address)
    valid = (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], list)
        and bool(value[1])
        and all(type(i) is int for i in value[1])
    )
    return OneClick(value[0], frozenset(value[1])) if valid else None


def one_click_url(
    address: str, topic: str, settings: Settings, scope: Iterable[int] | None = None
) -> str:
    """The List-Unsubscribe address: a POST there stops `topic`, no page, no login; only for
    the establishments of `scope` when given (a follower's email)."""
    if scope is None:
        token = preferences_token(address, settings)
    else:
        token = one_click_token(address, scope, settings)
    return f"{settings.base_url.rstrip('/')}/alertes/desabonnement/{token}/{topic}"


def one_click_scope(
    recipient_kind: str, establishment_ids: Iterable[int] | None
) -> list[int] | None:
    """What a one-click link stops: a follower chose each establishment, so its link stops
    the one(s) its email was about; a contact, service or coordinator stops the topic."""
    if recipient_kind != TO_FOLLOWER or establishment_ids is None:
        return None
    ids = sorted(set(establishment_ids))
    return ids or None


def barometer_url(settings: Settings) -> str:
    return settings.base_url.rstrip("/") + "/"


def signed_links_for(recipient_kind: str) -> bool:
    """Coordinators sign in; contacts and member service addresses have no account (R14)."""
    return recipient_kind != TO_COORDINATOR


def page_url(
    slug: str, establishment_id: int, settings: Settings, signed: bool, issued_at: datetime
) -> str:
    """The establishment's page; signed (dated `issued_at`) for recipients without an account."""
    return establishment_url(slug, settings, establishment_id if signed else None, issued_at)


# --- message ---------------------------------------------------------------------------


def message_id(notification_id: int, settings: Settings) -> str:
    """The same Message-ID at every attempt, so a resent email can be deduplicated."""
    tag = hmac.new(
        settings.secret_key.encode(), f"notification:{notification_id}".encode(), "sha256"
    )
    domain = settings.mail_from.rpartition("@")[2] or "barometre.invalid"
    domain = re.sub(r"[^A-Za-z0-9.-]", "", domain) or "barometre.invalid"
    return f"<barometre.{notification_id}.{tag.hexdigest()[:16]}@{domain}>"


# Headers written as they are: RFC 2369 wants `<https://…>` in List-Unsubscribe, never the
# encoded words the email package makes of a long unbroken value.
RAW_HEADER_LIMIT = 990  # RFC 5322: a line holds at most 998 characters


class Unfolded(str):
    """A header value the policy writes as it is: `email.policy.EmailPolicy` keeps a value
    that has a `name` (a header object) and calls its `fold`."""

    name: str

    def fold(self, *, policy: Policy) -> str:
        return f"{self.name}: {self}{policy.linesep}"


def unfolded(name: str, value: str) -> str:
    """`value` written on one line when it can be (ASCII, one line, short enough); else as it
    is, for the policy to fold."""
    if value.isascii() and value.isprintable() and len(name) + len(value) + 2 <= RAW_HEADER_LIMIT:
        header = Unfolded(value)
        header.name = name
        return header
    return value


def build_message(
    notification_id: int,
    recipient: str,
    rendered: Rendered,
    settings: Settings,
    language: str = "fr",
    topic: str | None = TOPIC_ALERTS,
    scope: Iterable[int] | None = None,
) -> EmailMessage:
    """The email, with the headers large providers ask of bulk senders.

    List-Unsubscribe holds the one-click address (RFC 8058) of what this email is
    about (`topic`, and `scope`: its establishments, see `one_click_scope`); an email
    that is not a list one can leave (`topic` None) has none. Content-Language says the
    language it is written in.
    """
    address = sendable(recipient)
    message = EmailMessage()
    message["Subject"] = rendered.subject
    message["From"] = settings.mail_from
    message["To"] = address
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id(notification_id, settings)
    message["Auto-Submitted"] = "auto-generated"
    if topic is not None:
        url = one_click_url(address, topic, settings, scope)
        message["List-Unsubscribe"] = unfolded("List-Unsubscribe", f"<{url}>")
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    message["Content-Language"] = language  # after the parts: set_content clears Content-*
    return message


# --- contexts --------------------------------------------------------------------------


def offer_types_by_code(session: DbSession) -> dict[str, OfferType]:
    return {o.code: o for o in session.scalars(select(OfferType))}


def offer_type_labels(
    offer_types: dict[str, OfferType], codes: tuple[str, ...], lang: str
) -> list[str]:
    """Offer types in `lang`, lower-case: they are read inside a sentence or after a colon."""
    return [offer_types[c].label(lang).lower() if c in offer_types else c for c in codes]


def situation_lines(
    session: DbSession,
    ids: list[int],
    lang: str,
    offer_types: dict[str, OfferType],
    new_ids: frozenset[int] = frozenset(),
) -> list[dict[str, Any]]:
    """Situations by the wording of their condition, category and offer types only (R14).

    Never a report's text, author or service: none of it is read here.
    """
    return [
        situation_line(s, lang, offer_types, s.id in new_ids)
        for s in situations_by_id(session, ids)
    ]


def situations_by_id(session: DbSession, ids: list[int]) -> list[Situation]:
    if not ids:
        return []
    query = (
        select(Situation)
        .where(Situation.id.in_(ids))
        .options(joinedload(Situation.condition).joinedload(Condition.category))
        .order_by(Situation.opened_at, Situation.id)
    )
    return list(session.scalars(query))


def situation_line(
    situation: Situation, lang: str, offer_types: dict[str, OfferType], new: bool = False
) -> dict[str, Any]:
    """One open situation; its dates in the current locale (`lang`'s)."""
    return {
        "code": situation.condition.code,
        "label": situation.condition.label(lang),
        "category": situation.condition.category.label(lang),
        "category_code": situation.condition.category.code,
        "offer_type_codes": situation.offer_type_codes,
        "offer_types": offer_type_labels(offer_types, situation.offer_type_codes, lang),
        "new": new,
        **situation_dates(situation),
    }


def situation_dates(situation: Situation) -> dict[str, str]:
    """In the current locale: `dates`, « ouverte le 3 novembre 2026, confirmée pour la
    dernière fois le 28 novembre 2026 » (the opening day alone while it is the last
    confirmation's); `confirmed`, « confirmée pour la dernière fois le 28 novembre 2026 »
    when a later day confirmed it (the digest says the opening by its age), else ""."""
    opened = date_words(situation.opened_at)
    last = date_words(situation.last_confirmed)
    if last in ("", opened):
        return {"dates": _("ouverte le %(opened)s", opened=opened), "confirmed": ""}
    confirmed = _("confirmée pour la dernière fois le %(day)s", day=last)
    return {
        "dates": _("ouverte le %(opened)s, %(confirmed)s", opened=opened, confirmed=confirmed),
        "confirmed": confirmed,
    }


def type_colour_lines(lines: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    """The colour per offer type that these open situations give (R13), in words and colour."""
    counts = breakdown((line["category_code"], line["offer_type_codes"]) for line in lines)
    return [
        {
            "code": code,
            "words": type_level_words(lang, code, level),
            "colour": level.colour,
            "swatch": swatch(level.colour, level.step),
        }
        for code, level in offer_type_levels(counts.by_offer_type).items()
    ]


@lru_cache(maxsize=256)
def type_level_words(lang: str, offer_type: str, level: TypeLevel) -> str:
    """« Offre individuelle : orange 3 » in `lang`; a handful of values, each translated once
    per process (switching the locale costs more than the rest of a digest's establishment)."""
    with force_locale(lang):
        return offer_type_level_words(offer_type, level)


def level_context(offer_types: dict[str, OfferType], level: Level, lang: str) -> dict[str, Any]:
    labels = {code: offer.label(lang) for code, offer in offer_types.items()}
    with force_locale(lang):
        # Orange 5 waiting for diversity (R4): the pages' own sentence.
        blocked = level.red_blocked_by_diversity
        pending = red_pending_sentence(level.missing_offer_types, labels) if blocked else ""
        named = level_words(level.colour, level.step)
        bare = level_words(level.colour, level.step, "bare")
    return {
        "level": bare,
        "level_name": named,
        "red_pending": pending,
        "colour": level.colour,
        "swatch": swatch(level.colour, level.step),
        "open_situations": level.open_situations,
        "diversity": level.diversity,
        "offer_type_count": len(OFFER_TYPES),
        "offer_types": offer_type_labels(offer_types, level.offer_types, lang),
        "missing_offer_types": offer_type_labels(offer_types, level.missing_offer_types, lang),
        "red_blocked": level.red_blocked_by_diversity,
    }


def common_context(recipient: str, settings: Settings) -> dict[str, Any]:
    return {
        "barometer_url": barometer_url(settings),
        "manage_url": preferences_url(recipient, settings),
    }


def event_context(
    session: DbSession,
    event: AlertEvent,
    lang: str,
    offer_types: dict[str, OfferType],
    settings: Settings,
    signed: bool,
) -> dict[str, Any]:
    """Everything an alert says that is the same for every recipient of one language and
    kind of link: the level, why (every open situation, the new ones marked), the page."""
    new_ids = frozenset(event.new_situation_ids or [])
    # Events recorded before R14 kept only their new situations.
    listed = event.open_situation_ids
    ids = list(new_ids) if listed is None else list(listed)
    establishment = event.establishment
    with force_locale(lang):
        situations = situation_lines(session, ids, lang, offer_types, new_ids)
        previous = level_words(event.from_colour, event.from_step, "bare")
        change = level_change_words(
            event.from_colour, event.from_step, event.to_colour, event.to_step
        )
    return {
        **level_context(offer_types, event.level, lang),
        "kind": event.kind,
        "establishment": establishment.name_in(lang),
        # A note written at another level is not the committee's word on this one.
        "note": establishment.note_in(lang) if establishment.note_is_current else "",
        "establishment_url": page_url(
            establishment.slug, establishment.id, settings, signed, event.created_at
        ),
        "signed_link": signed,
        "link_days": settings.signed_link_days,
        "previous_level": previous,
        "change": change,
        "previous_colour": event.from_colour,
        "situations": situations,
        "complete": listed is not None,
        "new_count": sum(1 for line in situations if line["new"]),
        "type_colours": type_colour_lines(situations, lang) if listed is not None else [],
        "causes": cause_lines(session, event, lang, settings),
        **(reminder_context(session, event, lang, settings) if event.kind == REMINDER else {}),
    }


def cause_lines(
    session: DbSession, event: AlertEvent, lang: str, settings: Settings
) -> list[dict[str, Any]]:
    """Each level change the event tells, with its cause in words (R15): one for a change
    told at once, every step of a group."""
    ids = list(event.level_change_ids or [])
    if not ids:
        return []
    # Read once an event, whatever the language: only the words differ between recipients.
    read = event_contexts(session).get((event.id, "causes"), lambda: _cause_rows(session, ids))
    changes = read["changes"]
    causes = change_causes(session, changes, lang, settings, read["about"])
    lines = []
    with force_locale(lang):
        for change in changes:
            words = level_change_words(
                change.from_colour, change.from_step, change.to_colour, change.to_step
            )
            cause = causes[change.id]
            lines.append(
                {
                    "change": words[:1].upper() + words[1:],
                    "at": change.at,  # a step's time, in a group (templates/emails/_steps.*)
                    "cause": cause,
                    # After a dash, inside a step's line: « … — après un signalement : … ».
                    "cause_inside": cause[:1].lower() + cause[1:],
                }
            )
    return lines


def _cause_rows(session: DbSession, ids: list[int]) -> dict[str, Any]:
    query = select(LevelChange).where(LevelChange.id.in_(ids))
    changes = list(session.scalars(query.order_by(LevelChange.at, LevelChange.id)))
    return {"changes": changes, "about": cause_situations(session, changes)}


def change_causes(
    session: DbSession,
    changes: list[LevelChange],
    lang: str,
    settings: Settings,
    about: dict[int, list[Situation]] | None = None,
) -> dict[int, str]:
    """The cause of each change in words, in `lang`, as emails say it (the conditions
    named, each situation's dates; a resolution's note is the coordinators' own words and
    stays out of every email). What the alerts and the digest give their templates.
    `about`: the changes' situations (`cause_situations`), when the caller has read them."""
    if about is None:
        about = cause_situations(session, changes)
    with force_locale(lang):
        return {
            change.id: cause_words(
                change,
                about.get(change.id, []),
                named=True,
                ttl_days=settings.situation_ttl_days,
            )
            for change in changes
        }


def reminder_context(
    session: DbSession, event: AlertEvent, lang: str, settings: Settings
) -> dict[str, Any]:
    """Since when the establishment is red (the change that started it), for how many days,
    and how often the reminder comes back."""
    change_ids = event.level_change_ids or []
    change = session.get(LevelChange, change_ids[0]) if change_ids else None
    since = change.at if change is not None else event.created_at
    return {
        "lang": lang,
        "red_since": since,
        "red_days": max((event.created_at - since).days, 0),
        "reminder_days": settings.red_reminder_days,
    }


def alert_content(session: DbSession, notification: Notification, settings: Settings) -> Content:
    """A rise, red, reminder, fall out of red or back-to-green email, from the event's
    snapshot; about the event's establishment."""
    event = notification.event
    if event is None:
        raise ValueError(f"notification {notification.id} has no event")
    lang = notification.language
    signed = signed_links_for(notification.recipient_kind)
    shared = event_contexts(session).get(
        (event.id, lang, signed),
        lambda: event_context(session, event, lang, offer_types_by_code(session), settings, signed),
    )
    context = {**common_context(notification.recipient, settings), **shared}
    context["what_to_do"] = what_to_do_context(event, notification, settings)
    return Content(context, [event.establishment_id])


# Who reads the end of an alert (issue 26): an establishment's contacts are asked something
# and answer Fidex; member services and followers may write to Fidex; coordinators are Fidex.
ASKED = (TO_CONTACT,)
TOLD_WHOM = (TO_CONTACT, TO_SERVICE, TO_FOLLOWER)


def what_to_do_context(
    event: AlertEvent, notification: Notification, settings: Settings
) -> dict[str, Any] | None:
    """The end of an alert (`emails/_contact.*`), by who reads it: for a contact, what the
    committee asks and whom at Fidex to answer (each situation's dates are in its line);
    for a member service or a follower, whom at Fidex to write to; for a coordinator,
    nothing."""
    kind = notification.recipient_kind
    if kind not in TOLD_WHOM:
        return None
    establishment = event.establishment
    contact = fidex_contact(establishment, settings)
    if kind not in ASKED:
        return {"asked": False, "contact": contact} if contact else None
    lang = supported(notification.language)
    with force_locale(lang):
        default = default_request(event.kind == GREEN_AGAIN, contact is not None)
    return {
        "asked": True,
        "contact": contact,
        "request": establishment.request_in(lang) or default,
    }


def default_request(green: bool, contact: bool) -> str:
    """What the committee asks when it wrote nothing of its own, in the current locale."""
    if green:
        # Never that the conditions are met: green may follow an expiry, which fixed nothing.
        thanks = _("Le comité ne vous demande rien de plus pour l'instant.")
        more = _("Pour toute question, contactez Fidex (coordonnées ci-dessous).")
        return f"{thanks} {more}" if contact else thanks
    if contact:
        return _(
            "Le comité vous demande de faire le nécessaire pour que ces conditions de travail "
            "minimales soient à nouveau réunies, et de répondre à Fidex (coordonnées ci-dessous)."
        )
    return _(
        "Le comité vous demande de faire le nécessaire pour que ces conditions de travail "
        "minimales soient à nouveau réunies."
    )


def fidex_contact(establishment: Establishment, settings: Settings) -> dict[str, str] | None:
    """The establishment's own Fidex contact when it names one (as a whole: a name without
    the default's address would mislead), else the FIDEX_CONTACT_* settings; None: nobody."""
    own = (
        establishment.fidex_contact_name,
        establishment.fidex_contact_email,
        establishment.fidex_contact_phone,
    )
    if not any(own):
        own = (
            settings.fidex_contact_name,
            settings.fidex_contact_email,
            settings.fidex_contact_phone,
        )
    name, email, phone = (value.strip() for value in own)
    if not (name or email or phone):
        return None
    return {"name": name, "email": clean_address(email) or "", "phone": phone}


EVENT_CONTEXTS = "alerts.event_contexts"


def event_contexts(session: DbSession) -> DataCache[dict[str, Any]]:
    """What every recipient of an alert in one language and kind of link shares, kept for
    as long as the session that read it: a batch of 12 emails of one event reads it (the
    event's situations, the offer types) and words it once, not 12 times. An event is a
    snapshot: what was read for its first email holds for its last."""
    contexts: DataCache[dict[str, Any]] = session.info.setdefault(EVENT_CONTEXTS, DataCache(16))
    return contexts
