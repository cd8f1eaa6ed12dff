"""An audit entry's details and an export's filters in words, in the page's language.

The audit log and an export row keep their details as stored codes (`role: worker`,
`kind: reports`, an establishment's slug, a service's id): the console says each
known key and value in words (« rôle : travailleur », « export : signalements, CSV »,
« établissement : Prison de Haren »). An unknown key stays readable: its
underscores become spaces, its value is shown as it was stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from functools import cached_property
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from barometre.extensions import DbSession
from barometre.models import Category, Establishment, MemberService, OfferType
from barometre.presentation import ROLE_LABELS, date_words, lang
from barometre.states import ReviewState, SituationState

from .forms import LANGUAGE_LABELS

# What each stored key is called (keys: `services.audit(..., **detail)`, `Filters.as_dict`).
KEY_WORDS = {
    "role": _l("rôle"),
    "kind": _l("export"),
    "format": _l("format"),
    "establishment": _l("établissement"),
    "establishment_id": _l("établissement"),
    "slug": _l("établissement"),
    "languages": _l("langues modifiées"),
    "language": _l("langue"),
    "service": _l("service membre"),
    "code": _l("condition"),
    "alerts": _l("alertes"),
    "digest": _l("synthèse hebdomadaire"),
    "tokens_revoked": _l("jetons d'API révoqués"),
    "reports": _l("signalements"),
    "resolutions": _l("résolutions"),
    "known": _l("déjà importés, ignorés"),
    "level_changes": _l("changements de niveau"),
    "descriptions": _l("textes libres effacés"),
    "audit_entries": _l("entrées du journal supprimées"),
    "date_from": _l("visite du"),
    "date_to": _l("visite jusqu'au"),
    "category": _l("catégorie"),
    "offer_type": _l("type d'offre"),
    "state": _l("état"),
    "session_id": _l("session"),
    "sessions": _l("sessions terminées"),
    "new_device": _l("nouvel appareil"),
}

EXPORT_KIND_WORDS = {"reports": _l("signalements"), "situations": _l("situations")}
STATE_WORDS = {**SituationState.labels(), **ReviewState.labels()}


def _lower(text: object) -> str:
    words = str(text)
    return words[:1].lower() + words[1:]


class Words:
    """Says stored details in words; the names it needs are read once per page."""

    def __init__(self, session: DbSession) -> None:
        self.session = session
        self.current = lang()

    @cached_property
    def establishments(self) -> dict[str, str]:
        rows = self.session.scalars(select(Establishment))
        names = {row.slug: str(row.name_in(self.current)) for row in rows}
        return names

    @cached_property
    def establishment_ids(self) -> dict[str, str]:
        rows = self.session.scalars(select(Establishment))
        return {str(row.id): str(row.name_in(self.current)) for row in rows}

    @cached_property
    def services(self) -> dict[str, str]:
        return {str(row.id): row.name for row in self.session.scalars(select(MemberService))}

    @cached_property
    def categories(self) -> dict[str, str]:
        rows = self.session.scalars(select(Category))
        return {row.code: _lower(row.label(self.current)) for row in rows}

    @cached_property
    def offer_types(self) -> dict[str, str]:
        rows = self.session.scalars(select(OfferType))
        return {row.code: _lower(row.label(self.current)) for row in rows}

    def value(self, key: str, value: Any) -> str:
        """One stored value in words (as stored when its key or value is not known)."""
        if isinstance(value, bool):
            return _("oui") if value else _("non")
        named: dict[str, Callable[[str], str | None]] = {
            "role": lambda v: _lower(ROLE_LABELS[v]) if v in ROLE_LABELS else None,
            "kind": lambda v: str(EXPORT_KIND_WORDS[v]) if v in EXPORT_KIND_WORDS else None,
            "format": lambda v: v.upper(),
            "establishment": self.establishments.get,
            "slug": self.establishments.get,
            "establishment_id": self.establishment_ids.get,
            "service": self.services.get,
            "category": self.categories.get,
            "offer_type": self.offer_types.get,
            "state": lambda v: _lower(STATE_WORDS[v]) if v in STATE_WORDS else None,
            "language": lambda v: self._language(v) if v in LANGUAGE_LABELS else None,
            "languages": self._languages,
            "date_from": self._date,
            "date_to": self._date,
        }
        say = named.get(key)
        words = say(str(value)) if say is not None and value is not None else None
        return words if words else str(value)

    def pairs(self, detail: dict[str, Any] | None) -> list[tuple[str, str]]:
        """(key, value) in words, in the stored order; an export's kind and format together."""
        detail = dict(detail or {})
        found: list[tuple[str, str]] = []
        if "kind" in detail and "format" in detail:
            kind, fmt = detail.pop("kind"), detail.pop("format")
            both = _("%(kind)s, %(format)s", kind=self.value("kind", kind), format=str(fmt).upper())
            found.append((str(KEY_WORDS["kind"]), both))
        for key, value in detail.items():
            found.append((str(KEY_WORDS.get(key, key.replace("_", " "))), self.value(key, value)))
        return found

    def sentence(self, detail: dict[str, Any] | None) -> str:
        """« rôle : travailleur · établissement : Prison de Haren »."""
        return " · ".join(
            _("%(key)s : %(value)s", key=key, value=value) for key, value in self.pairs(detail)
        )

    def _languages(self, value: str) -> str | None:
        codes = [code.strip() for code in value.split(",") if code.strip()]
        if not codes or any(code not in LANGUAGE_LABELS for code in codes):
            return None
        return ", ".join(self._language(code) for code in codes)

    def _language(self, code: str) -> str:
        """A language's name: lower-case in French only (« néerlandais », « Dutch »)."""
        name = str(LANGUAGE_LABELS[code])
        return _lower(name) if self.current == "fr" else name

    def _date(self, value: str) -> str | None:
        try:
            return date_words(date.fromisoformat(value))
        except ValueError:
            return None


def in_words(session: DbSession, details: Iterable[dict[str, Any] | None]) -> list[str]:
    """Each of `details` as one line of words (the names read once for all)."""
    words = Words(session)
    return [words.sentence(detail) for detail in details]
