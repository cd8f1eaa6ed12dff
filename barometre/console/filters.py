"""The filters of the console, shared by its lists and its exports.

One `Filters` value narrows reports (review list, report exports) and
situations (situation list, situation exports) the same way, so an export
holds exactly what the coordinator saw on screen.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, select

from barometre.models import (
    Category,
    Condition,
    Establishment,
    OfferType,
    Report,
    Situation,
    report_condition,
    report_offer_type,
    situation_report,
)


@dataclass(frozen=True)
class Filters:
    establishment: str = ""  # slug
    date_from: date | None = None
    date_to: date | None = None
    category: str = ""  # category code
    offer_type: str = ""  # offer type code
    service: int | None = None  # member service id
    state: str = ""  # review state (reports) or status (situations)

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe, for the export row and the audit log."""
        return {
            key: value.isoformat() if isinstance(value, date) else value
            for key, value in asdict(self).items()
            if value not in ("", None)
        }

    def query_args(self) -> dict[str, str]:
        return {key: str(value) for key, value in self.as_dict().items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Filters:
        def day(value: Any) -> date | None:
            return date.fromisoformat(value) if isinstance(value, str) and value else None

        service = data.get("service")
        return cls(
            establishment=str(data.get("establishment") or ""),
            date_from=day(data.get("date_from")),
            date_to=day(data.get("date_to")),
            category=str(data.get("category") or ""),
            offer_type=str(data.get("offer_type") or ""),
            service=int(service) if service not in (None, "") else None,
            state=str(data.get("state") or ""),
        )


def _establishment_id(slug: str) -> Any:
    return select(Establishment.id).where(Establishment.slug == slug).scalar_subquery()


def _conditions_of_category(code: str) -> Any:
    return (
        select(Condition.id)
        .join(Category, Condition.category_id == Category.id)
        .where(Category.code == code)
    )


def report_clauses(filters: Filters) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if filters.establishment:
        clauses.append(Report.establishment_id == _establishment_id(filters.establishment))
    if filters.date_from:
        clauses.append(Report.visit_date >= filters.date_from)
    if filters.date_to:
        clauses.append(Report.visit_date <= filters.date_to)
    if filters.category:
        clauses.append(
            exists().where(
                report_condition.c.report_id == Report.id,
                report_condition.c.condition_id.in_(_conditions_of_category(filters.category)),
            )
        )
    if filters.offer_type:
        offer_id = select(OfferType.id).where(OfferType.code == filters.offer_type)
        clauses.append(
            exists().where(
                report_offer_type.c.report_id == Report.id,
                report_offer_type.c.offer_type_id.in_(offer_id),
            )
        )
    if filters.service is not None:
        clauses.append(Report.service_id == filters.service)
    if filters.state:
        clauses.append(Report.review_state == filters.state)
    return clauses


def situation_clauses(filters: Filters) -> list[ColumnElement[bool]]:
    """Situations of the period: those whose visits overlap it."""
    clauses: list[ColumnElement[bool]] = []
    if filters.establishment:
        clauses.append(Situation.establishment_id == _establishment_id(filters.establishment))
    if filters.date_from:
        clauses.append(Situation.last_confirmed >= filters.date_from)
    if filters.date_to:
        clauses.append(Situation.first_visit <= filters.date_to)
    if filters.category:
        clauses.append(Situation.condition_id.in_(_conditions_of_category(filters.category)))
    if filters.offer_type:
        # Offer type codes are whole words that are never part of one another.
        clauses.append(Situation.offer_types.contains(filters.offer_type))
    if filters.service is not None:
        clauses.append(
            exists().where(
                and_(
                    situation_report.c.situation_id == Situation.id,
                    situation_report.c.report_id == Report.id,
                    Report.service_id == filters.service,
                )
            )
        )
    if filters.state:
        clauses.append(Situation.status == filters.state)
    return clauses
