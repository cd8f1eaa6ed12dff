"""The committee's spreadsheets, read and checked for the history import (issue 15).

Two CSV files whose columns are fixed: a header row, `;` or `,`, UTF-8 with or
without BOM, dates `YYYY-MM-DD` or `DD/MM/YYYY`. Reports come one row per
condition, the rows sharing a `reference` being one report. Every bad line is
reported at once with its line number and column, in French (`ImportRefused`).
Free text goes through the same checks as live reports.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from . import clock, services
from .errors import DomainError
from .extensions import DbSession
from .levels import ordered_types
from .models import Condition, Establishment, MemberService, OfferType
from .presentation import date_fr
from .services import ReportInput
from .text import printable

REPORTS, RESOLUTIONS = "reports", "resolutions"
REPORT_COLUMNS = (
    "reference",
    "establishment",
    "visit_date",
    "condition",
    "offer_types",
    "service",
    "description",
    "minutes_waited",
    "activity_cancelled",
    "detainees_not_seen",
)
RESOLUTION_COLUMNS = ("establishment", "condition", "resolved_on", "note")
COLUMNS = {REPORTS: REPORT_COLUMNS, RESOLUTIONS: RESOLUTION_COLUMNS}
FILE_LABELS = {REPORTS: _l("Signalements"), RESOLUTIONS: _l("Résolutions")}
MAX_REFERENCE = 64
YES = {"oui", "o", "yes", "y", "ja", "j", "vrai", "true", "1", "x"}
NO = {"non", "n", "no", "nee", "faux", "false", "0"}
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
FR_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})", re.ASCII)


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = str(FILE_LABELS.get(self.file, self.file))
        if self.column:
            return _(
                "%(file)s, ligne %(line)d, colonne « %(column)s » : %(message)s",
                file=where,
                line=self.line,
                column=self.column,
                message=self.message,
            )
        return _(
            "%(file)s, ligne %(line)d : %(message)s",
            file=where,
            line=self.line,
            message=self.message,
        )


class ImportRefused(DomainError):
    """Bad lines: every one of them, nothing stored."""

    status = 422

    def __init__(self, problems: Iterable[Problem]) -> None:
        super().__init__(_("Import refusé : aucune donnée n'a été enregistrée."))
        self.problems = sorted(set(problems))

    @property
    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


# --- the records ------------------------------------------------------------------------


@dataclass
class ImportedReport:
    """The rows sharing one `reference`: one report, one row per condition."""

    reference: str
    line: int
    establishment: Establishment
    visit_date: date
    conditions: list[str] = field(default_factory=list)
    offer_types: list[tuple[str, ...]] = field(default_factory=list)
    wide: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportedResolution:
    line: int
    establishment: Establishment
    condition: Condition
    resolved_on: date
    note: str


@dataclass
class Batch:
    reports: list[ImportedReport]
    resolutions: list[ImportedResolution]
    report_rows: int
    resolution_rows: int


def report_input(report: ImportedReport) -> ReportInput:
    """The one place mapping a report's rows to the live services' input.

    Today's `ReportInput` carries the report's offer types: the union of its rows'.
    """
    return ReportInput(
        establishment=report.establishment.slug,
        visit_date=report.visit_date,
        conditions=list(report.conditions),
        offer_types=list(ordered_types(t for types in report.offer_types for t in types)),
        description=report.wide.get("description") or "",
        minutes_waited=report.wide.get("minutes_waited"),
        activity_cancelled=report.wide.get("activity_cancelled"),
        detainees_not_seen=report.wide.get("detainees_not_seen"),
    )


# --- reading ----------------------------------------------------------------------------


def read_rows(
    kind: str, content: bytes, problems: list[Problem]
) -> list[tuple[int, dict[str, str]]]:
    """(line number, {column: stripped text}) of each non-empty row after the header."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = content[: error.start].count(b"\n") + 1
        problems.append(
            Problem(
                kind,
                line,
                "",
                _("le fichier n'est pas en UTF-8 (enregistrez-le en « CSV UTF-8 »)."),
            )
        )
        return []
    header_line = text.split("\n", 1)[0]
    delimiter = ";" if header_line.count(";") >= header_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, None)
    expected = COLUMNS[kind]
    names = [h.strip().lower() for h in header or []]
    while names and not names[-1]:
        names.pop()  # empty columns a spreadsheet leaves at the right
    if sorted(names) != sorted(expected):
        message = _("en-tête attendu : %(columns)s.", columns=";".join(expected))
        problems.append(Problem(kind, 1, "", message))
        return []
    return _body(kind, reader, names, problems)


def _body(
    kind: str, reader: Any, names: list[str], problems: list[Problem]
) -> list[tuple[int, dict[str, str]]]:
    rows: list[tuple[int, dict[str, str]]] = []
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return rows
        except csv.Error:
            problems.append(Problem(kind, line, "", _("ligne illisible (guillemets ?).")))
            return rows
        if not any(c.strip() for c in cells):
            continue
        if any(c.strip() for c in cells[len(names) :]):
            problems.append(Problem(kind, line, "", _("plus de colonnes que l'en-tête.")))
            continue
        rows.append(
            (line, {n: (cells[i].strip() if i < len(cells) else "") for i, n in enumerate(names)})
        )


def parse_date(value: str) -> date | None:
    try:
        if ISO_DATE.fullmatch(value):
            return date.fromisoformat(value)
        if match := FR_DATE.fullmatch(value):
            day, month, year = (int(g) for g in match.groups())
            return date(year, month, day)
    except ValueError:
        return None
    return None


def parse_count(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 9 else None


def parse_flag(value: str) -> bool | None:
    lowered = value.lower()
    return True if lowered in YES else False if lowered in NO else None


@dataclass(frozen=True)
class Referential:
    """What lines may name, read once."""

    establishments: dict[str, Establishment]  # by slug and by lowered name
    conditions: dict[str, Condition]
    offer_types: frozenset[str]
    services: dict[str, MemberService]  # by lowered name

    @classmethod
    def load(cls, session: DbSession) -> Referential:
        establishments: dict[str, Establishment] = {}
        for row in session.scalars(select(Establishment).where(Establishment.active.is_(True))):
            establishments[row.slug] = row
            establishments[row.name.strip().lower()] = row
        conditions = session.scalars(select(Condition).where(Condition.retired_at.is_(None)))
        member_services = session.scalars(select(MemberService))
        return cls(
            establishments,
            {c.code: c for c in conditions},
            frozenset(session.scalars(select(OfferType.code))),
            {s.name.strip().lower(): s for s in member_services},
        )

    def establishment(self, value: str) -> Establishment | None:
        return self.establishments.get(value) or self.establishments.get(value.lower())


class Reader:
    """Checks the cells of one file, noting every problem."""

    def __init__(self, kind: str, known: Referential, problems: list[Problem]) -> None:
        self.kind, self.known, self.problems = kind, known, problems

    def bad(self, line: int, column: str, message: str) -> None:
        self.problems.append(Problem(self.kind, line, column, message))

    def required(self, line: int, row: dict[str, str], column: str) -> str:
        value = row[column]
        if not value:
            self.bad(line, column, _("valeur obligatoire."))
        return value

    def establishment(self, line: int, row: dict[str, str]) -> Establishment | None:
        value = self.required(line, row, "establishment")
        found = self.known.establishment(value) if value else None
        if value and found is None:
            self.bad(
                line, "establishment", _("établissement inconnu : « %(value)s ».", value=value[:60])
            )
        return found

    def day(self, line: int, row: dict[str, str], column: str) -> date | None:
        value = self.required(line, row, column)
        if not value:
            return None
        found = parse_date(value)
        if found is None:
            message = _("date invalide « %(value)s » (AAAA-MM-JJ ou JJ/MM/AAAA).", value=value[:20])
            self.bad(line, column, message)
        elif found > clock.today():
            self.bad(line, column, _("date dans le futur (%(day)s).", day=date_fr(found)))
            return None
        return found

    def condition(self, line: int, row: dict[str, str]) -> Condition | None:
        value = self.required(line, row, "condition").upper()
        found = self.known.conditions.get(value) if value else None
        if value and found is None:
            self.bad(line, "condition", _("condition inconnue : « %(value)s ».", value=value[:30]))
        return found


def read_reports(
    content: bytes, known: Referential, problems: list[Problem]
) -> tuple[list[ImportedReport], int]:
    rows = read_rows(REPORTS, content, problems)
    cells = Reader(REPORTS, known, problems)
    reports: dict[str, ImportedReport] = {}
    for line, row in rows:
        _report_row(cells, reports, line, row)
    for report in reports.values():
        for column, messages in services.check_free_fields(report_input(report)).items():
            for message in messages:
                cells.bad(report.line, column, message)
    return list(reports.values()), len(rows)


def _report_row(
    cells: Reader, reports: dict[str, ImportedReport], line: int, row: dict[str, str]
) -> None:
    reference = cells.required(line, row, "reference")
    if len(reference) > MAX_REFERENCE:
        cells.bad(line, "reference", _("%(max)d caractères au maximum.", max=MAX_REFERENCE))
        reference = ""
    elif not printable(reference, multiline=False):
        cells.bad(line, "reference", _("caractère interdit."))
        reference = ""
    establishment = cells.establishment(line, row)
    visit_date = cells.day(line, row, "visit_date")
    condition = cells.condition(line, row)
    offer_types = _offer_types(cells, line, row)
    wide = _wide(cells, line, row)
    if not (reference and establishment and visit_date and condition and offer_types is not None):
        return
    report = reports.setdefault(
        reference, ImportedReport(reference, line, establishment, visit_date)
    )
    if report.establishment.id != establishment.id:
        cells.bad(
            line,
            "establishment",
            _("autre établissement que la ligne %(line)d, même référence.", line=report.line),
        )
    elif report.visit_date != visit_date:
        cells.bad(
            line,
            "visit_date",
            _("autre date que la ligne %(line)d, même référence.", line=report.line),
        )
    elif condition.code in report.conditions:
        cells.bad(line, "condition", _("condition déjà donnée pour cette référence."))
    else:
        report.conditions.append(condition.code)
        report.offer_types.append(offer_types)
        _merge_wide(cells, report, line, wide)


def _offer_types(cells: Reader, line: int, row: dict[str, str]) -> tuple[str, ...] | None:
    value = cells.required(line, row, "offer_types")
    if not value:
        return None
    types = [t.strip().lower() for t in value.split("+")]
    unknown = [t for t in types if t not in cells.known.offer_types]
    if unknown:
        message = _(
            "type d'offre inconnu : « %(value)s » "
            "(individuel, collectif, cellulaire, joints par +).",
            value=", ".join(unknown)[:60],
        )
        cells.bad(line, "offer_types", message)
        return None
    return ordered_types(types)


def _wide(cells: Reader, line: int, row: dict[str, str]) -> dict[str, Any]:
    """The report-wide columns given on this row (empty ones are left out)."""
    wide: dict[str, Any] = {}
    if service := row["service"]:
        found = cells.known.services.get(service.lower())
        if found is None:
            cells.bad(
                line,
                "service",
                _(
                    "service membre inconnu : « %(value)s » (ajoutez-le d'abord dans la console).",
                    value=service[:60],
                ),
            )
        else:
            wide["service"] = found
    if row["description"]:
        wide["description"] = row["description"]
    for column in ("minutes_waited", "detainees_not_seen"):
        if row[column]:
            count = parse_count(row[column])
            if count is None:
                cells.bad(line, column, _("nombre entier attendu."))
            else:
                wide[column] = count
    if row["activity_cancelled"]:
        flag = parse_flag(row["activity_cancelled"])
        if flag is None:
            cells.bad(line, "activity_cancelled", _("oui ou non attendu."))
        else:
            wide["activity_cancelled"] = flag
    return wide


def _merge_wide(cells: Reader, report: ImportedReport, line: int, wide: dict[str, Any]) -> None:
    for column, value in wide.items():
        if report.wide.setdefault(column, value) != value:
            message = _("valeur différente de la ligne %(line)d, même référence.", line=report.line)
            cells.bad(line, column, message)


def read_resolutions(
    content: bytes, known: Referential, problems: list[Problem]
) -> tuple[list[ImportedResolution], int]:
    rows = read_rows(RESOLUTIONS, content, problems)
    cells = Reader(RESOLUTIONS, known, problems)
    resolutions: list[ImportedResolution] = []
    seen: dict[tuple[int, int, date], int] = {}
    for line, row in rows:
        establishment = cells.establishment(line, row)
        condition = cells.condition(line, row)
        resolved_on = cells.day(line, row, "resolved_on")
        note = cells.required(line, row, "note")
        if len(note) > services.MAX_DESCRIPTION or not printable(note):
            cells.bad(
                line,
                "note",
                _(
                    "Texte trop long ou caractère interdit (%(max)d max).",
                    max=services.MAX_DESCRIPTION,
                ),
            )
            continue
        if not (establishment and condition and resolved_on and note):
            continue
        key = (establishment.id, condition.id, resolved_on)
        if key in seen:
            cells.bad(
                line, "condition", _("résolution déjà donnée à la ligne %(line)d.", line=seen[key])
            )
            continue
        seen[key] = line
        resolutions.append(ImportedResolution(line, establishment, condition, resolved_on, note))
    return resolutions, len(rows)


def read_batch(session: DbSession, reports: bytes, resolutions: bytes | None) -> Batch:
    """Both files, checked; raise every problem at once."""
    problems: list[Problem] = []
    known = Referential.load(session)
    report_records, report_rows = read_reports(reports, known, problems)
    resolution_records, resolution_rows = (
        read_resolutions(resolutions, known, problems) if resolutions is not None else ([], 0)
    )
    if problems:
        raise ImportRefused(problems)
    return Batch(report_records, resolution_records, report_rows, resolution_rows)


def template(kind: str) -> bytes:
    """A file to fill in: the header and an example row (UTF-8 with BOM, `;`)."""
    example = {
        REPORTS: (
            "2025-001",
            "haren",
            "06/01/2025",
            "SEC-01",
            "individuel+collectif",
            "",
            "",
            "45",
            "oui",
            "3",
        ),
        RESOLUTIONS: ("haren", "SEC-01", "20/01/2025", "Rétabli après la réunion du comité."),
    }[kind]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(COLUMNS[kind])
    writer.writerow(example)
    return buffer.getvalue().encode("utf-8-sig")
