"""The year told (issue 27): `/rapport` for the committee, `/rapport/public` for everyone.

`/rapport` (coordinators, as the console) shows every establishment, inactive ones
included, with the tables to download as CSV or XLSX (`/rapport/tableaux.csv`,
`.xlsx`). `/rapport/public` (the barometer's rule: anyone when the barometer is
public, else signed-in users) shows the active establishments. Both show the same
figures from `year_report.year_report`: levels, counts and durations, never a
report's text, author or service (nothing of them is read).

The period: `du` and `au` (YYYY-MM-DD, local days, both included); by default the
current calendar year up to today. A bad period is shown again with its French
error (422).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from . import clock
from .auth import BAROMETER, COORDINATOR, access
from .console.exports import open_writer
from .extensions import db
from .gauge import level_words
from .levels import level_at
from .pdf import pdf_of
from .presentation import date_words, label_map, lang
from .queries import referentiel
from .states import SituationState
from .year_report import (
    RANKS,
    STEPS,
    Period,
    PeriodError,
    YearReport,
    default_period,
    parse_period,
    whole_days,
    year_report,
)

bp = Blueprint("year_report", __name__)

FORMATS = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def asked_period() -> tuple[Period, str | None]:
    """The period in the query, or the default one and the French error."""
    try:
        first, last = (request.args.get(name) or None for name in ("du", "au"))
        return parse_period(first, last, clock.today()), None
    except PeriodError as error:
        return default_period(clock.today()), str(error)


def page(public: bool) -> tuple[str, int]:
    period, error = asked_period()
    report = year_report(db.session, period, public=public)
    categories, offer_types = referentiel(db.session)
    body = render_template(
        "barometre/year_report.html" if public else "console/year_report.html",
        report=report,
        public=public,
        error=error,
        du=request.args.get("du", period.first.isoformat()),
        au=request.args.get("au", period.last.isoformat()),
        ranks=RANKS,
        steps=STEPS,
        whole_days=whole_days,
        category_labels=label_map(categories),
        offer_labels=label_map(offer_types),
        cause_labels=SituationState.labels(),
        month_peak=max(report.reports_per_month.values(), default=0),
    )
    return body, 422 if error else 200


@bp.get("/rapport")
@access(COORDINATOR)
def committee() -> ResponseReturnValue:
    return page(public=False)


@bp.get("/rapport/public")
@access(BAROMETER)
def public() -> ResponseReturnValue:
    return page(public=True)


@bp.get("/rapport.pdf")
@access(COORDINATOR)
def committee_pdf() -> ResponseReturnValue:
    return as_pdf(public=False)


@bp.get("/rapport/public.pdf")
@access(BAROMETER)
def public_pdf() -> ResponseReturnValue:
    return as_pdf(public=True)


def as_pdf(public: bool) -> ResponseReturnValue:
    """The page as it prints (A4, one establishment a page), as a PDF; a bad period
    gets the page with its error."""
    body, status = page(public)
    if status != 200:
        return body, status
    period, _error = asked_period()
    stem = _("bilan")
    name = f"{stem}-{period.first.isoformat()}-{period.last.isoformat()}.pdf"
    return Response(
        pdf_of(str(body)),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


@bp.get("/rapport/tableaux.<fmt>")
@access(COORDINATOR)
def tables(fmt: str) -> ResponseReturnValue:
    if fmt not in FORMATS:
        abort(404)
    period, error = asked_period()
    if error:
        return error, 422, {"Content-Type": "text/plain; charset=utf-8"}
    report = year_report(db.session, period, public=False)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"rapport.{fmt}"
        with open_writer(path, fmt, _("Bilan")) as write:
            for row in table_rows(report):
                write(row)
        data = path.read_bytes()
    stem = _("bilan")
    name = f"{stem}-{period.first.isoformat()}-{period.last.isoformat()}.{fmt}"
    return Response(
        data,
        mimetype=FORMATS[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def table_rows(report: YearReport) -> Iterator[list[Any]]:
    """The report's tables one under the other, a blank row between them."""
    current = lang()
    categories, offer_types = referentiel(db.session)
    offers = label_map(offer_types)
    categories_fr = label_map(categories)
    levels = [level_words(*level_at(r), "short") for r in RANKS]
    yield [_("Période"), date_words(report.period.first), date_words(report.period.last)]
    yield []
    yield [
        _("Établissement"),
        _("Sans données"),
        *levels,
        _("Changements de niveau"),
    ]
    for year in report.establishments:
        yield [
            year.establishment.name_in(current),
            rounded(year.no_data),
            *(rounded(year.days[r]) for r in RANKS),
            year.changes,
        ]
    yield []
    yield [
        _("Établissement"),
        _("Type d'offre"),
        *(level_words("orange", s, "short") for s in STEPS),
    ]
    for year in report.establishments:
        for offer_type, days in year.offer_types.items():
            yield [
                year.establishment.name_in(current),
                offers.get(offer_type, offer_type),
                *(rounded(days[s]) for s in STEPS),
            ]
    yield []
    yield [
        _("Catégorie"),
        _("Condition"),
        _("Situations"),
        _("Durée médiane (jours)"),
        _("Durée la plus longue (jours)"),
    ]
    for code, rows in report.conditions.items():
        for row in rows:
            yield [
                categories_fr.get(code, code),
                f"{row.condition.code} {row.condition.label(current)}",
                row.count,
                rounded(row.median_days),
                rounded(row.longest_days),
            ]
    yield []
    yield [_("Mois"), _("Signalements")]
    for month, count in report.reports_per_month.items():
        yield [month.isoformat()[:7], count]
    yield []
    yield [_("Clôture"), _("Situations"), _("Durée médiane (jours)")]
    labels = SituationState.labels()
    for cause in report.causes:
        yield [str(labels.get(cause.cause, cause.cause)), cause.count, rounded(cause.median_days)]


def rounded(days: float | None) -> int | None:
    """Days in a table: whole days, as on the page (the API gives 3 decimals)."""
    return whole_days(days)
