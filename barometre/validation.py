"""A report as given, and the checks it must pass before anything is stored."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import Select, bindparam, select, true

from . import clock
from .errors import ValidationFailed
from .extensions import DbSession
from .languages import supported
from .levels import ordered_types
from .models import Condition, Establishment, OfferType, ReportCondition
from .settings import Settings
from .text import printable, refusal

MAX_DESCRIPTION = 2000


MAX_COUNT = 100_000


@dataclass(frozen=True)
class ImpactedCondition:
    """One condition a report names, with the offer types it impacted (R1)."""

    code: str
    offer_types: Sequence[str]


@dataclass(frozen=True)
class ReportInput:
    establishment: str
    visit_date: date
    conditions: Sequence[ImpactedCondition]
    description: str = ""
    minutes_waited: int | None = None
    activity_cancelled: bool | None = None
    detainees_not_seen: int | None = None
    submission_id: str | None = None
    # The offer types when they were given once for every condition (the old shape,
    # see `uniform`): errors about them then go to `offer_types`, not to each condition.
    shared_offer_types: Sequence[str] | None = None

    @classmethod
    def uniform(
        cls,
        establishment: str,
        visit_date: date,
        conditions: Sequence[str],
        offer_types: Sequence[str],
        **optional: Any,
    ) -> ReportInput:
        """The old shape: condition codes and offer types every one of them impacted."""
        impacted = [ImpactedCondition(code, list(offer_types)) for code in conditions]
        return cls(establishment, visit_date, impacted, shared_offer_types=offer_types, **optional)

    @property
    def condition_codes(self) -> list[str]:
        return [c.code for c in self.conditions]

    @property
    def offer_types(self) -> tuple[str, ...]:
        """Every offer type named, over all conditions."""
        return ordered_types(t for c in self.conditions for t in c.offer_types)


@dataclass(frozen=True)
class ResolvedReport:
    establishment: Establishment
    conditions: list[Condition]
    offer_types: list[OfferType]
    # The offer type codes of each condition, by condition code.
    types_by_condition: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def links(self) -> list[ReportCondition]:
        return [
            ReportCondition(
                condition=c,
                condition_id=c.id,
                offer_types=",".join(self.types_by_condition[c.code]),
            )
            for c in self.conditions
        ]


def valid_submission_id(value: str) -> bool:
    """The 36-character form only (either case): it is stored in a 36-character column."""
    return canonical_submission_id(value) is not None


def canonical_submission_id(value: str | None) -> str | None:
    """The id in lower case, so that one UUID written in either case is one id; None if invalid."""
    if value is None or len(value) != 36:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def check_report(
    session: DbSession,
    data: ReportInput,
    settings: Settings,
    located: tuple[Establishment | None] | None = None,
    known: tuple[list[Condition], list[OfferType]] | None = None,
) -> ResolvedReport:
    """Check R1 against the database; raise every field error at once.

    `located`: the establishment the caller has already read for `data.establishment`;
    `known`: the conditions and offer types it has read for the codes of `data`
    (`complete_pair`: None when a code was missing).
    """
    errors: dict[str, list[str]] = {}
    if located is not None:
        establishment = located[0]
    else:
        establishment = None
        if printable(data.establishment, multiline=False):
            establishment = session.scalar(
                select(Establishment).where(Establishment.slug == data.establishment)
            )
    if establishment is None or not establishment.active:
        errors["establishment"] = [_("Établissement inconnu.")]
    today = clock.today()
    if data.visit_date > today:
        errors["visit_date"] = [_("La date de visite ne peut pas être dans le futur.")]
    elif data.visit_date < today - timedelta(days=settings.max_visit_age_days):
        errors["visit_date"] = [
            _(
                "La date de visite ne peut pas dater de plus de %(days)d jours.",
                days=settings.max_visit_age_days,
            )
        ]
    codes = data.condition_codes
    named_types = [*(data.shared_offer_types or ()), *data.offer_types]
    if known is None:
        known = _known_pair(session, codes, named_types)
    conditions, offer_types = known
    if not codes:
        errors["conditions"] = [_("Choisissez au moins une condition non respectée.")]
    elif unknown := _unknown_codes(codes, conditions):
        errors["conditions"] = [_("Condition inconnue : %(codes)s.", codes=", ".join(unknown))]
    errors.update(_offer_type_errors(data, offer_types, conditions))
    errors.update(check_free_fields(data))
    if errors:
        raise ValidationFailed(errors)
    assert establishment is not None  # noqa: S101 - narrowed by the checks above
    by_condition: dict[str, tuple[str, ...]] = {}
    for condition in data.conditions:  # a condition named twice gets the types of both
        by_condition[condition.code] = ordered_types(
            [*by_condition.get(condition.code, ()), *condition.offer_types]
        )
    return ResolvedReport(establishment, conditions, offer_types, by_condition)


def _offer_type_errors(
    data: ReportInput, known: Iterable[OfferType], conditions: Iterable[Condition] = ()
) -> dict[str, list[str]]:
    """At least one known offer type for each condition (R1), under the field that gave it.

    A condition's message names it by its wording in the reader's language, never by its
    code: a worker ticks wordings and never sees the codes (the field key keeps the index).
    """
    if data.shared_offer_types is not None:
        groups = [("offer_types", "", data.shared_offer_types)]
    else:
        wording = {c.code: c.label(supported(str(get_locale() or ""))) for c in conditions}
        groups = [
            (
                f"conditions[{index}].offer_types",
                wording.get(condition.code, ""),
                condition.offer_types,
            )
            for index, condition in enumerate(data.conditions)
        ]
    errors: dict[str, list[str]] = {}
    for name, condition, types in groups:
        if message := _types_message(types, known, condition):
            errors[name] = [message]
    return errors


def _types_message(types: Sequence[str], known: Iterable[OfferType], condition: str) -> str:
    """What is wrong with one condition's offer types (`condition`: its wording, if known)."""
    if not types:
        if condition:
            return _(
                "%(condition)s : choisissez au moins un type d'offre impacté.", condition=condition
            )
        return _("Choisissez au moins un type d'offre impacté.")
    if unknown := _unknown_codes(types, known):
        if condition:
            return _(
                "%(condition)s : type d'offre inconnu (%(codes)s).",
                condition=condition,
                codes=", ".join(unknown),
            )
        return _("Type d'offre inconnu : %(codes)s.", codes=", ".join(unknown))
    return ""


def check_free_fields(data: ReportInput) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if len(data.description) > MAX_DESCRIPTION:
        errors["description"] = [
            _("La description ne peut dépasser %(max)d caractères.", max=MAX_DESCRIPTION)
        ]
    elif refused := refusal(data.description):
        errors["description"] = [refused]
    for name in ("minutes_waited", "detainees_not_seen"):
        value = getattr(data, name)
        if value is not None and not 0 <= value <= MAX_COUNT:
            errors[name] = [_("Indiquez un nombre entre 0 et %(max)d.", max=MAX_COUNT)]
    if data.submission_id is not None and not valid_submission_id(data.submission_id):
        errors["submission_id"] = [_("Identifiant de soumission invalide (UUID attendu).")]
    return errors


def _known_pair(
    session: DbSession, condition_codes: Iterable[str], offer_codes: Iterable[str]
) -> tuple[list[Condition], list[OfferType]]:
    """The named conditions and offer types; one statement when every code is known.

    The usual report names a few of each: their cross join is a handful of rows.
    When a code is missing from it (unknown, retired, or none sent on one side),
    each kind is read on its own so that the errors name exactly what is wrong.
    """
    wanted_conditions, wanted_offers = wanted_codes(condition_codes), wanted_codes(offer_codes)
    if wanted_conditions and wanted_offers:
        codes = {"conditions": wanted_conditions, "offers": wanted_offers}
        rows = session.execute(_pair(), codes).all()
        if complete := complete_pair(rows, wanted_conditions, wanted_offers):
            return complete
    return _known(session, Condition, condition_codes), _known(session, OfferType, offer_codes)


@functools.cache
def _pair() -> Select[Condition, OfferType]:
    """`_known_pair`'s statement, built once: every report runs it."""
    return (
        select(Condition, OfferType)
        .join(OfferType, true())
        .where(
            Condition.code.in_(bindparam("conditions", expanding=True)),
            OfferType.code.in_(bindparam("offers", expanding=True)),
        )
        # In the order of the codes, not the table's: a report's situations get their
        # ids in this order, the same on every database whatever its history.
        .order_by(Condition.code, OfferType.code)
    )


def complete_pair(
    rows: Iterable[Any], wanted_conditions: Sequence[str], wanted_offers: Sequence[str]
) -> tuple[list[Condition], list[OfferType]] | None:
    """The conditions and offer types of (condition, offer type) rows, if every wanted code
    is among them (and no condition is retired); None otherwise."""
    conditions = list({r[0].id: r[0] for r in rows if r[0] and r[0].retired_at is None}.values())
    offer_types = list({r[1].id: r[1] for r in rows if r[1]}.values())
    if len(conditions) == len(wanted_conditions) and len(offer_types) == len(wanted_offers):
        return conditions, offer_types
    return None


def wanted_codes(codes: Iterable[str]) -> list[str]:
    return sorted({c for c in codes if isinstance(c, str) and printable(c, multiline=False)})


def _known(session: DbSession, model: Any, codes: Iterable[str]) -> list[Any]:
    wanted = wanted_codes(codes)
    if not wanted:
        return []
    rows = session.scalars(select(model).where(model.code.in_(wanted)).order_by(model.code)).all()
    return [r for r in rows if getattr(r, "retired_at", None) is None]


def _unknown_codes(codes: Iterable[str], found: Iterable[Any]) -> list[str]:
    """The unknown codes, cut short: the message echoes what was sent."""
    known = {row.code for row in found}
    return [c[:30] for c in sorted({str(c) for c in codes} - known)[:5]]
