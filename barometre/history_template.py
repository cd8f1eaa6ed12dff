"""The history import's workbook to fill in (issue 27): what a volunteer downloads.

One XLSX (openpyxl) with a « Signalements » sheet (one row per report, three
conditions in columns; more on a second row with the same reference), a
« Résolutions » sheet, an « Exemple » sheet that the import never reads, and a
hidden sheet of lists: the drop-downs (data validation) of the prisons, the
conditions by their wording, the offer types (and their combinations) and
yes/no point at its ranges, since Excel caps a list written inline at 255
characters. Headers, sheet names and lists in French, Dutch or English; the
import reads them all (`barometre.history_files`).
"""

from __future__ import annotations

import io
from datetime import date
from itertools import combinations
from typing import Any

from sqlalchemy import select

from .extensions import DbSession
from .history_files import (
    EXAMPLE_SHEETS,
    HEADER_LANGUAGES,
    HEADERS,
    REPORTS,
    RESOLUTIONS,
    SHEETS,
    header_name,
)
from .models import Condition, Establishment, MemberService, OfferType

# Conditions a report row gives in columns; a report with more takes a second row.
CONDITION_COLUMNS = 3
# Rows of the sheets that carry the drop-downs.
ROWS = 2000
LISTS_SHEET = {"fr": "Listes", "nl": "Lijsten", "en": "Lists"}
YES_NO = {"fr": ("oui", "non"), "nl": ("ja", "nee"), "en": ("yes", "no")}
WIDTHS = {
    "reference": 14,
    "establishment": 30,
    "visit_date": 14,
    "condition": 60,
    "offer_types": 26,
    "service": 26,
    "description": 50,
    "minutes_waited": 12,
    "activity_cancelled": 12,
    "detainees_not_seen": 12,
    "resolved_on": 14,
    "note": 50,
}


def report_columns() -> list[tuple[str, int]]:
    """(column, number: 0 when not numbered) of the template's report sheet, in order."""
    pairs = [(c, n) for n in range(1, CONDITION_COLUMNS + 1) for c in ("condition", "offer_types")]
    fields = [c for c in HEADERS[REPORTS] if c not in ("condition", "offer_types")]
    return [(c, 0) for c in fields[:3]] + pairs + [(c, 0) for c in fields[3:]]


class Lists:
    """The values of the drop-downs, in one language, read once."""

    def __init__(self, session: DbSession, lang: str) -> None:
        prisons = select(Establishment).where(Establishment.active.is_(True))
        conditions = select(Condition).where(Condition.retired_at.is_(None))
        self.establishments = sorted(e.name_in(lang) for e in session.scalars(prisons))
        self.conditions = [
            c.label(lang)
            for c in session.scalars(conditions.order_by(Condition.position, Condition.code))
        ]
        types = [
            o.label(lang) for o in session.scalars(select(OfferType).order_by(OfferType.position))
        ]
        self.offer_types = [
            " + ".join(chosen)
            for size in range(1, len(types) + 1)
            for chosen in combinations(types, size)
        ]
        self.yes_no = list(YES_NO[lang])
        services = select(MemberService.name).where(MemberService.active.is_(True))
        self.services = sorted(session.scalars(services))

    def columns(self) -> dict[str, list[str]]:
        """The hidden sheet's columns, by the report column they serve."""
        return {
            "establishment": self.establishments,
            "condition": self.conditions,
            "offer_types": self.offer_types,
            "activity_cancelled": self.yes_no,
            "service": self.services,
        }


def workbook(session: DbSession, lang: str = "fr") -> bytes:
    """The template in `lang` (fr, nl or en: its headers, sheet names and lists)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    if lang not in HEADER_LANGUAGES:
        raise ValueError(lang)
    index = HEADER_LANGUAGES.index(lang)
    lists = Lists(session, lang)
    book = Workbook()
    reports = book.active
    reports.title = SHEETS[REPORTS][index]
    resolutions = book.create_sheet(SHEETS[RESOLUTIONS][index])
    example = book.create_sheet(EXAMPLE_SHEETS[index])
    hidden = book.create_sheet(LISTS_SHEET[lang])
    ranges = _write_lists(hidden, lists, lang)
    layout = report_columns()
    for sheet in (reports, example):
        _header(
            sheet, [_title(REPORTS, c, n, lang) for c, n in layout], [WIDTHS[c] for c, _n in layout]
        )
    _header(
        resolutions,
        [header_name(RESOLUTIONS, c, lang) for c in HEADERS[RESOLUTIONS]],
        [WIDTHS[c] for c in HEADERS[RESOLUTIONS]],
    )
    for sheet in (reports, example):
        _validate(sheet, [c for c, _n in layout], ranges)
    _validate(resolutions, list(HEADERS[RESOLUTIONS]), ranges)
    for row in _example_rows(lists, layout):
        example.append(row)
    example.cell(row=2, column=3).number_format = "DD/MM/YYYY"
    example.append([])
    example.append([_example_words(lang)])
    example.cell(row=example.max_row, column=1).font = Font(italic=True)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _title(kind: str, column: str, number: int, lang: str) -> str:
    name = header_name(kind, column, lang)
    return f"{name} {number}" if number else name


def _header(sheet: Any, titles: list[str], widths: list[int]) -> None:
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    sheet.append(titles)
    for position, width in enumerate(widths, start=1):
        sheet.cell(row=1, column=position).font = Font(bold=True)
        sheet.column_dimensions[get_column_letter(position)].width = width
    sheet.freeze_panes = "A2"


def _write_lists(sheet: Any, lists: Lists, lang: str) -> dict[str, str]:
    """Write each list in a column of the hidden sheet; its range by report column."""
    from openpyxl.utils import get_column_letter, quote_sheetname

    ranges: dict[str, str] = {}
    for position, (column, values) in enumerate(lists.columns().items(), start=1):
        letter = get_column_letter(position)
        sheet.cell(row=1, column=position, value=header_name(REPORTS, column, lang))
        for row, value in enumerate(values, start=2):
            sheet.cell(row=row, column=position, value=value)
        if values:
            ranges[column] = (
                f"{quote_sheetname(sheet.title)}!${letter}$2:${letter}${len(values) + 1}"
            )
    sheet.sheet_state = "hidden"
    return ranges


def _validate(sheet: Any, columns: list[str], ranges: dict[str, str]) -> None:
    """A drop-down on each column that has a list. A warning, not a stop: a code, a
    slug or another language's wording is welcome too."""
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    for position, column in enumerate(columns, start=1):
        if column not in ranges:
            continue
        letter = get_column_letter(position)
        rule = DataValidation(
            type="list", formula1=ranges[column], allow_blank=True, errorStyle="warning"
        )
        rule.add(f"{letter}2:{letter}{ROWS + 1}")
        sheet.add_data_validation(rule)


def _example_rows(lists: Lists, layout: list[tuple[str, int]]) -> list[list[Any]]:
    """A report with two conditions on its row and a third on a second row."""
    prison = lists.establishments[0] if lists.establishments else ""
    conditions = lists.conditions + [""] * 3
    first: dict[tuple[str, int], Any] = {
        ("reference", 0): "2025-001",
        ("establishment", 0): prison,
        ("visit_date", 0): date(2025, 1, 6),
        ("condition", 1): conditions[0],
        ("offer_types", 1): lists.offer_types[0] if lists.offer_types else "",
        ("condition", 2): conditions[1],
        ("offer_types", 2): lists.offer_types[-1] if lists.offer_types else "",
        ("minutes_waited", 0): 45,
        ("activity_cancelled", 0): lists.yes_no[0],
        ("detainees_not_seen", 0): 3,
    }
    second = {
        ("reference", 0): "2025-001",
        ("condition", 1): conditions[2],
        ("offer_types", 1): lists.offer_types[1] if len(lists.offer_types) > 1 else "",
    }
    return [[row.get(key) for key in layout] for row in (first, second)]


def _example_words(lang: str) -> str:
    return {
        "fr": "Une ligne par signalement, ses conditions en colonnes\xa0; pour plus de trois "
        "conditions, une seconde ligne avec la même référence (les autres cellules vides).",
        "nl": "Eén rij per melding, de voorwaarden in kolommen; voor meer dan drie "
        "voorwaarden een tweede rij met dezelfde referentie (de andere cellen leeg).",
        "en": "One row per report, its conditions in columns; for more than three conditions, "
        "a second row with the same reference (the other cells empty).",
    }[lang]
