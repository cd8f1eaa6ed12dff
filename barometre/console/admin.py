"""What coordinators manage: establishments, contacts, member services, users, référentiel.

Services in the house style: they take the session, flush, never commit, raise
`ValidationFailed` with French messages per field, and audit every change
(never with report text).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from barometre import account_access, clock
from barometre.addresses import (
    INVALID,
    MAX_CONTACT_NAME,
    MAX_PHONE,
    AddressError,
    check_address,
    is_phone,
)
from barometre.errors import NotFound, ValidationFailed
from barometre.extensions import DbSession
from barometre.languages import LANGUAGES
from barometre.models import (
    ROLE_COORDINATOR,
    ROLE_WORKER,
    ROLES,
    Category,
    Condition,
    Contact,
    Establishment,
    MemberService,
    User,
)
from barometre.services import audit
from barometre.text import refusal

MAX_NAME = 200
MAX_NOTE = 280
MAX_WORDING = 1000
MAX_REQUEST = 500


# --- helpers ------------------------------------------------------------------------------


def clean_text(value: str | None, field: str, maximum: int, required: bool = True) -> str:
    text = (value or "").strip()
    if required and not text:
        raise ValidationFailed({field: [_("Ce champ est obligatoire.")]})
    if len(text) > maximum:
        raise ValidationFailed({field: [_("%(max)d caractères au maximum.", max=maximum)]})
    # Names and addresses are one line (they end up in email headers).
    if refused := refusal(text, multiline=maximum > MAX_NAME):
        raise ValidationFailed({field: [refused]})
    return text


def clean_email(value: str | None, field: str = "email") -> str:
    """The address as the command line and the alert pipeline take it (`check_address`)."""
    try:
        return check_address(value or "").lower()
    except AddressError as refused:
        raise ValidationFailed({field: [str(refused.reason)]}) from None


def clean_email_list(value: str | None, field: str = "alert_emails") -> str:
    """Comma, semicolon or line separated addresses, stored comma separated."""
    parts = [p.strip() for p in re.split(r"[,;\s]+", value or "") if p.strip()]
    if len(parts) > 20:
        raise ValidationFailed({field: [_("20 adresses au maximum.")]})
    cleaned = []
    for part in parts:
        try:
            cleaned.append(check_address(part).lower())
        except AddressError as refused:
            messages = [_("Adresse électronique invalide : %(address)s", address=part[:80])]
            if refused.reason is not INVALID:  # a reason of its own (ASCII before the @)
                messages.append(str(refused.reason))
            raise ValidationFailed({field: messages}) from None
    return ",".join(dict.fromkeys(cleaned))


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:60] or "etablissement"


# --- establishments -------------------------------------------------------------------------


def _translation(value: str | None, field: str, maximum: int, current: str) -> str:
    """An optional Dutch or English text; None leaves `current` as it is."""
    if value is None:
        return current
    return clean_text(value, field, maximum, required=False)


def add_establishment(
    session: DbSession,
    actor: User | None,
    name: str | None,
    name_nl: str | None = None,
    name_en: str | None = None,
) -> Establishment:
    """A new establishment; its slug comes from the French name and never changes."""
    name = clean_text(name, "name", MAX_NAME)
    base = slugify(name.removeprefix("Prison de ").removeprefix("Prison d'"))
    taken = set(
        session.scalars(select(Establishment.slug).where(Establishment.slug.like(base + "%")))
    )
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    establishment = Establishment(
        slug=slug,
        name=name,
        name_nl=_translation(name_nl, "name_nl", MAX_NAME, ""),
        name_en=_translation(name_en, "name_en", MAX_NAME, ""),
    )
    session.add(establishment)
    session.flush()
    audit(session, actor, "establishment.create", establishment, slug=slug)
    return establishment


def establishment(session: DbSession, ident: int) -> Establishment:
    row = session.get(Establishment, ident)
    if row is None:
        raise NotFound(_("Établissement inconnu."))
    return row


def _changed_languages(row: Establishment, prefix: str, before: tuple[str, ...]) -> str:
    after = tuple(getattr(row, prefix + suffix) for suffix in ("", "_nl", "_en"))
    return ", ".join(
        lang for lang, old, new in zip(LANGUAGES, before, after, strict=True) if old != new
    )


def rename_establishment(
    session: DbSession,
    actor: User | None,
    ident: int,
    name: str | None,
    name_nl: str | None = None,
    name_en: str | None = None,
) -> None:
    """New names; a Dutch or English name of None stays as it is. The slug never changes."""
    row = establishment(session, ident)
    before = (row.name, row.name_nl, row.name_en)
    row.name = clean_text(name, "name", MAX_NAME)
    row.name_nl = _translation(name_nl, "name_nl", MAX_NAME, row.name_nl)
    row.name_en = _translation(name_en, "name_en", MAX_NAME, row.name_en)
    session.flush()
    audit(
        session,
        actor,
        "establishment.rename",
        row,
        slug=row.slug,
        languages=_changed_languages(row, "name", before),
    )


def set_establishment_active(session: DbSession, actor: User, ident: int, active: bool) -> None:
    """Deactivated establishments leave the barometer and the form; history stays."""
    row = establishment(session, ident)
    row.active = active
    session.flush()
    action = "establishment.activate" if active else "establishment.deactivate"
    audit(session, actor, action, row, slug=row.slug)


def set_committee_note(
    session: DbSession,
    actor: User | None,
    ident: int,
    note: str | None,
    note_nl: str | None = None,
    note_en: str | None = None,
) -> None:
    """R12: a short public note, shown until removed (an empty note removes it).

    The French note is the note: the Dutch and English ones (None: as they are) go
    with it, and an empty French note removes them too.
    """
    row = establishment(session, ident)
    before = (row.committee_note, row.committee_note_nl, row.committee_note_en)
    french = clean_text(note, "note", MAX_NOTE, required=False)
    dutch = _translation(note_nl, "note_nl", MAX_NOTE, row.committee_note_nl)
    english = _translation(note_en, "note_en", MAX_NOTE, row.committee_note_en)
    if not french and any((given or "").strip() for given in (note_nl, note_en)):
        raise ValidationFailed(
            {"note": [_("Écrivez aussi la note en français : elle est montrée à défaut.")]}
        )
    if not french:
        dutch = english = ""
    row.committee_note, row.committee_note_nl, row.committee_note_en = french, dutch, english
    _date_note(row)
    session.flush()
    action = "establishment.note.set" if row.committee_note else "establishment.note.remove"
    languages = _changed_languages(row, "committee_note", before)
    audit(session, actor, action, row, slug=row.slug, languages=languages)


def _date_note(row: Establishment) -> None:
    """A note published now speaks of the level shown now: kept with it, so that the pages
    stop showing it as current once the level changes (R12, R15). Publishing it again
    unchanged keeps it at the new level."""
    written = bool(row.committee_note)
    row.committee_note_at = clock.now() if written else None
    row.committee_note_colour = row.colour if written else None
    row.committee_note_step = row.step if written else None


@dataclass(frozen=True)
class WhatToDo:
    """Whom at Fidex the establishment's contacts answer and what the committee asks of
    them (issue 26); every field empty: the FIDEX_CONTACT_* settings, the default request."""

    fidex_name: str = ""
    fidex_email: str = ""
    fidex_phone: str = ""
    request: str = ""
    request_nl: str = ""
    request_en: str = ""


# Each field (of WhatToDo and of the console's form) and its column of Establishment.
WHAT_TO_DO_COLUMNS = {
    "fidex_name": "fidex_contact_name",
    "fidex_email": "fidex_contact_email",
    "fidex_phone": "fidex_contact_phone",
    "request": "committee_request",
    "request_nl": "committee_request_nl",
    "request_en": "committee_request_en",
}


def clean_phone(value: str | None, field: str = "phone") -> str:
    """A phone number as people write it (`addresses.is_phone`), or "" for none."""
    text = (value or "").strip()
    if text and not is_phone(text):
        message = _(
            "Numéro de téléphone invalide : des chiffres, espaces et + . / - ( ), "
            "par exemple +32 2 123 45 67 (%(max)d caractères au maximum).",
            max=MAX_PHONE,
        )
        raise ValidationFailed({field: [message]})
    return text


def set_what_to_do(session: DbSession, actor: User | None, ident: int, data: WhatToDo) -> None:
    """The establishment's own Fidex contact and committee request; an empty field falls
    back to the default. The French request is the request: Dutch and English go with it."""
    row = establishment(session, ident)
    request = clean_text(data.request, "request", MAX_REQUEST, required=False)
    values = {
        "fidex_name": clean_text(data.fidex_name, "fidex_name", MAX_CONTACT_NAME, required=False),
        "fidex_email": (
            clean_email(data.fidex_email, "fidex_email") if data.fidex_email.strip() else ""
        ),
        "fidex_phone": clean_phone(data.fidex_phone, "fidex_phone"),
        "request": request,
        "request_nl": clean_text(data.request_nl, "request_nl", MAX_REQUEST, required=False),
        "request_en": clean_text(data.request_en, "request_en", MAX_REQUEST, required=False),
    }
    if not request and (values["request_nl"] or values["request_en"]):
        raise ValidationFailed(
            {"request": [_("Écrivez aussi la demande en français : elle est montrée à défaut.")]}
        )
    changed = [
        key for key, column in WHAT_TO_DO_COLUMNS.items() if getattr(row, column) != values[key]
    ]
    for key, column in WHAT_TO_DO_COLUMNS.items():
        setattr(row, column, values[key])
    session.flush()
    # The fields changed, never their values: the journal is no copy of the console.
    audit(session, actor, "establishment.what_to_do", row, slug=row.slug, fields=", ".join(changed))


# --- contacts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContactData:
    email: str
    name: str = ""
    language: str = "fr"
    alerts: bool = True
    digest: bool = True
    red_only: bool = False


def _contact_values(
    session: DbSession, data: ContactData, establishment_id: int, contact_id: int | None
) -> dict[str, object]:
    email = clean_email(data.email)
    if data.language not in LANGUAGES:
        raise ValidationFailed({"language": [_("Langue inconnue.")]})
    clash = session.scalar(
        select(Contact.id).where(
            Contact.establishment_id == establishment_id,
            func.lower(Contact.email) == email,
            Contact.id != (contact_id or 0),
        )
    )
    if clash:
        raise ValidationFailed({"email": [_("Ce contact existe déjà pour cet établissement.")]})
    return {
        "email": email,
        "name": clean_text(data.name, "name", MAX_NAME, required=False),
        "language": data.language,
        "alerts": data.alerts,
        "digest": data.digest,
        "red_only": data.red_only,
    }


def add_contact(
    session: DbSession, actor: User | None, establishment_id: int, data: ContactData
) -> Contact:
    row = establishment(session, establishment_id)
    contact = Contact(establishment_id=row.id, **_contact_values(session, data, row.id, None))
    session.add(contact)
    session.flush()
    audit(session, actor, "contact.create", contact, establishment=row.slug)
    return contact


def contact(session: DbSession, ident: int) -> Contact:
    row = session.get(Contact, ident)
    if row is None:
        raise NotFound(_("Contact inconnu."))
    return row


def update_contact(
    session: DbSession, actor: User | None, ident: int, data: ContactData
) -> Contact:
    row = contact(session, ident)
    for key, value in _contact_values(session, data, row.establishment_id, row.id).items():
        setattr(row, key, value)
    session.flush()
    audit(session, actor, "contact.update", row, establishment=row.establishment.slug)
    return row


def remove_contact(session: DbSession, actor: User, ident: int) -> str:
    row = contact(session, ident)
    slug = row.establishment.slug
    audit(session, actor, "contact.remove", row, establishment=slug)
    session.delete(row)
    session.flush()
    return slug


# --- member services ------------------------------------------------------------------------


def member_service(session: DbSession, ident: int) -> MemberService:
    row = session.get(MemberService, ident)
    if row is None:
        raise NotFound(_("Service inconnu."))
    return row


def service_key(name: str) -> str:
    """What two spellings of one service name share: case and Unicode form set aside.

    Compared in Python, never with SQL lower(): SQLite's folds ASCII letters only
    (« Éco » stays « Éco »), so the same name would be two there and one on PostgreSQL.
    """
    return unicodedata.normalize("NFC", name.strip()).casefold()


def services_named(session: DbSession, name: str) -> list[MemberService]:
    """The member services that bear this name in any case, the exact spelling first.
    Services are a few dozen: they are read whole."""
    wanted = service_key(name)
    rows = session.scalars(select(MemberService).order_by(MemberService.id))
    same = [row for row in rows if service_key(row.name) == wanted]
    return sorted(same, key=lambda row: row.name != name.strip())


def find_service(session: DbSession, name: str) -> MemberService | None:
    """The member service of this name, in any case (the console, the command line)."""
    if not name.strip():
        return None
    return next(iter(services_named(session, name)), None)


def _unique_service_name(session: DbSession, name: str | None, ident: int | None) -> str:
    cleaned = clean_text(name, "name", MAX_NAME)
    # The unique index is exact: a clash in another case it would miss is refused here.
    if any(row.id != ident for row in services_named(session, cleaned)):
        raise ValidationFailed({"name": [_("Un service porte déjà ce nom.")]})
    return cleaned


def add_service(
    session: DbSession, actor: User | None, name: str | None, emails: str | None
) -> MemberService:
    row = MemberService(
        name=_unique_service_name(session, name, None), alert_emails=clean_email_list(emails)
    )
    session.add(row)
    _flush_service_name(session)
    audit(session, actor, "service.create", row)
    return row


def _flush_service_name(session: DbSession) -> None:
    """Another coordinator may have taken the name since the check: the unique index says
    so, and the request ends as if the check had seen it (nothing else is written before)."""
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise ValidationFailed({"name": [_("Un service porte déjà ce nom.")]}) from None


def update_service(
    session: DbSession,
    actor: User | None,
    ident: int,
    name: str | None,
    emails: str | None,
    active: bool,
) -> MemberService:
    row = member_service(session, ident)
    row.name = _unique_service_name(session, name, row.id)
    row.alert_emails = clean_email_list(emails)
    was_active, row.active = row.active, active
    _flush_service_name(session)
    audit(session, actor, "service.update", row)
    if was_active and not active:
        audit(session, actor, "service.deactivate", row)
    return row


# --- users ----------------------------------------------------------------------------------


def user(session: DbSession, ident: int) -> User:
    row = session.get(User, ident)
    if row is None:
        raise NotFound(_("Compte inconnu."))
    return row


def update_user(
    session: DbSession,
    actor: User,
    ident: int,
    role: str,
    service_id: int | None,
    active: bool,
    language: str | None = None,
) -> User:
    """Change role, service, activity or language; a coordinator never locks themself out.

    A language of None means "not chosen": the user's browser decides. Activity changes
    as everywhere else (`account_access`): disabling revokes the tokens too.
    """
    row = user(session, ident)
    if role not in ROLES:
        raise ValidationFailed({"role": [_("Rôle inconnu.")]})
    if language is not None and language not in LANGUAGES:
        raise ValidationFailed({"language": [_("Langue inconnue.")]})
    if row.id == actor.id and (role != ROLE_COORDINATOR or not active):
        raise ValidationFailed(
            {
                "role": [
                    _("Vous ne pouvez pas retirer votre propre rôle ni désactiver votre compte.")
                ]
            }
        )
    service = session.get(MemberService, service_id) if service_id else None
    if service_id and service is None:
        raise ValidationFailed({"service": [_("Service inconnu.")]})
    if role == ROLE_WORKER and service is None:
        raise ValidationFailed({"service": [_("Un travailleur appartient à un service membre.")]})
    changes = {
        "role": (row.role, role),
        "service": (row.service_id, service.id if service else None),
        "language": (row.language, language),
    }
    row.role, row.service, row.language = role, service, language
    if changes["role"][0] != role:
        account_access.end_sessions(session, row)  # older sessions end with the old rights
    session.flush()
    if changed := {key: new for key, (old, new) in changes.items() if old != new}:
        audit(session, actor, "user.update", row, **changed)
    if row.active and not active:
        account_access.disable_user(session, actor, row)
    elif active and not row.active:
        account_access.enable_user(session, actor, row)
    return row


# --- référentiel ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Wording:
    label_fr: str
    label_nl: str = ""
    label_en: str = ""
    examples: str = ""
    keywords: str = ""
    examples_nl: str = ""
    examples_en: str = ""


def _wording_values(data: Wording) -> dict[str, str]:
    return {
        "label_fr": clean_text(data.label_fr, "label_fr", MAX_WORDING),
        "label_nl": clean_text(data.label_nl, "label_nl", MAX_WORDING, required=False),
        "label_en": clean_text(data.label_en, "label_en", MAX_WORDING, required=False),
        "examples": clean_text(data.examples, "examples", MAX_WORDING, required=False),
        "examples_nl": clean_text(data.examples_nl, "examples_nl", MAX_WORDING, required=False),
        "examples_en": clean_text(data.examples_en, "examples_en", MAX_WORDING, required=False),
        "keywords": clean_text(data.keywords, "keywords", MAX_WORDING, required=False),
    }


def next_code(session: DbSession, category: Category) -> str:
    """The next unused code of a category; retired codes are never given again."""
    codes: Iterable[str] = session.scalars(
        select(Condition.code).where(Condition.code.like(category.code + "-%"))
    )
    numbers = [int(c.rsplit("-", 1)[1]) for c in codes if c.rsplit("-", 1)[1].isdigit()]
    return f"{category.code}-{max(numbers, default=0) + 1:02d}"


def add_condition(session: DbSession, actor: User, category_code: str, data: Wording) -> Condition:
    category = session.scalar(select(Category).where(Category.code == category_code))
    if category is None:
        raise ValidationFailed({"category": [_("Catégorie inconnue.")]})
    values = _wording_values(data)
    position = session.scalar(select(func.max(Condition.position))) or 0
    row = Condition(
        code=next_code(session, category), category=category, position=position + 1, **values
    )
    session.add(row)
    session.flush()
    audit(session, actor, "condition.create", row, code=row.code)
    return row


def condition(session: DbSession, ident: int) -> Condition:
    row = session.get(Condition, ident)
    if row is None:
        raise NotFound(_("Condition inconnue."))
    return row


def update_condition(session: DbSession, actor: User, ident: int, data: Wording) -> Condition:
    """New wording; the code stays, so history and reports keep their meaning."""
    row = condition(session, ident)
    for key, value in _wording_values(data).items():
        setattr(row, key, value)
    session.flush()
    audit(session, actor, "condition.update", row, code=row.code)
    return row


def set_condition_retired(session: DbSession, actor: User, ident: int, retired: bool) -> Condition:
    """Retired conditions leave the form; their reports and situations stay."""
    row = condition(session, ident)
    row.retired_at = clock.now() if retired else None
    session.flush()
    audit(
        session, actor, "condition.retire" if retired else "condition.reinstate", row, code=row.code
    )
    return row
