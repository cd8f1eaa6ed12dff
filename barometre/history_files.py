"""The committee's spreadsheets, read and checked for the history import (issues 15, 27).

Two tables, reports and resolutions: two CSV files, or an XLSX workbook (told by
its content, not its name) whose sheets are named like them — one workbook may
hold both — or whose first sheet is the table. CSV: `;` or `,`, UTF-8 with or
without BOM. A header row in French, Dutch or English (`HEADERS`, compared
without case, accents or punctuation; the technical names of the first format
too). Dates `YYYY-MM-DD`, `DD/MM/YYYY` or a spreadsheet's date cell.

Reports: rows sharing a reference are one report; its fields (prison, date,
service, description, counts) may be written on one row only. A row gives a
condition with its offer types in `condition`/`offer_types`, or several in
numbered columns (`condition 1`, `types d'offre 1`, `condition 2`…): one row per
report, one per condition, or both. A condition is named by its code or its
wording, a prison by its slug or name, an offer type by its code or label, in
any of the three languages. Every bad cell is reported at once with its line
and its column as the header names it, in French (`ImportRefused`). Free text
goes through the same checks as live reports.
"""

from __future__ import annotations

import csv
import functools
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
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
from .services import ImpactedCondition, ReportInput
from .text import printable

REPORTS, RESOLUTIONS = "reports", "resolutions"
# Each column's names: French, Dutch, English (what the XLSX template writes), then
# other spellings a header may use. The technical name (the key) is always accepted.
HEADERS: dict[str, dict[str, tuple[str, ...]]] = {
    REPORTS: {
        "reference": ("référence", "referentie", "reference", "réf", "ref"),
        "establishment": ("établissement", "gevangenis", "prison", "establishment"),
        "visit_date": ("date de visite", "bezoekdatum", "visit date", "date", "datum"),
        "condition": ("condition", "voorwaarde", "condition"),
        "offer_types": (
            "types d'offre",
            "soorten aanbod",
            "offer types",
            "type d'offre",
            "soort aanbod",
            "offer type",
        ),
        "service": ("service", "lidorganisatie", "member service", "service membre", "dienst"),
        "description": ("description", "beschrijving", "description"),
        "minutes_waited": ("minutes d'attente", "wachttijd in minuten", "minutes waited"),
        "activity_cancelled": (
            "activité annulée",
            "activiteit geannuleerd",
            "activity cancelled",
        ),
        "detainees_not_seen": (
            "détenus non vus",
            "gedetineerden niet gezien",
            "detainees not seen",
        ),
    },
    RESOLUTIONS: {
        "establishment": ("établissement", "gevangenis", "prison", "establishment"),
        "condition": ("condition", "voorwaarde", "condition"),
        "resolved_on": ("résolu le", "opgelost op", "resolved on", "date de résolution", "date"),
        "note": ("note", "opmerking", "note"),
    },
}
REPORT_COLUMNS = tuple(HEADERS[REPORTS])
RESOLUTION_COLUMNS = tuple(HEADERS[RESOLUTIONS])
COLUMNS = {REPORTS: REPORT_COLUMNS, RESOLUTIONS: RESOLUTION_COLUMNS}
REQUIRED = {
    REPORTS: ("reference", "establishment", "visit_date"),
    RESOLUTIONS: RESOLUTION_COLUMNS,
}
# The columns a report row may number to give several conditions (`condition 2`).
PAIR = ("condition", "offer_types")
HEADER_LANGUAGES = ("fr", "nl", "en")
# A workbook's sheets, named like the two files (French, Dutch, English).
SHEETS = {
    REPORTS: ("Signalements", "Meldingen", "Reports"),
    RESOLUTIONS: ("Résolutions", "Oplossingen", "Resolutions"),
}
# The template's example sheet: never read, an example left there imports nothing.
EXAMPLE_SHEETS = ("Exemple", "Voorbeeld", "Example")
FILE_LABELS = {REPORTS: _l("Signalements"), RESOLUTIONS: _l("Résolutions")}
MAX_REFERENCE = 64
# What a workbook may unpack to: an upload of 20 MB of XML compresses about tenfold.
MAX_UNPACKED_BYTES = 200 * 1024 * 1024
YES = {"oui", "o", "yes", "y", "ja", "j", "vrai", "true", "waar", "1", "x"}
NO = {"non", "n", "no", "nee", "faux", "false", "onwaar", "0"}
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
FR_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})", re.ASCII)
NUMBERED = re.compile(r"(.*?) ?(\d{1,2})", re.ASCII)
XLSX_MAGIC = b"PK\x03\x04"


@functools.lru_cache(maxsize=4096)  # a file names the same few prisons and conditions
def fold(text: str) -> str:
    """`text` compared as a person reads it: no case, accents, punctuation or extra spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join("".join(c if c.isalnum() else " " for c in bare).split())


def header_name(kind: str, column: str, lang: str = "fr") -> str:
    """A column's name in the header of `lang` (the template's)."""
    return HEADERS[kind][column][HEADER_LANGUAGES.index(lang)]


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
    """The rows sharing one `reference`: one report, one condition per pair of cells."""

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

    Each condition comes with the offer types it impacted (R1): each keeps its own
    cells' types (a condition given twice: the union of theirs).
    """
    per_condition: dict[str, set[str]] = {}
    for code, types in zip(report.conditions, report.offer_types, strict=True):
        per_condition.setdefault(code, set()).update(types)
    return ReportInput(
        establishment=report.establishment.slug,
        visit_date=report.visit_date,
        conditions=[
            ImpactedCondition(code, list(ordered_types(types)))
            for code, types in per_condition.items()
        ],
        description=report.wide.get("description") or "",
        minutes_waited=report.wide.get("minutes_waited"),
        activity_cancelled=report.wide.get("activity_cancelled"),
        detainees_not_seen=report.wide.get("detainees_not_seen"),
    )


# --- the tables: CSV or XLSX --------------------------------------------------------------

Lines = Iterator[tuple[int, list[str]]]
Row = dict[str, str]


def is_workbook(content: bytes) -> bool:
    return content.startswith(XLSX_MAGIC)


def _csv_lines(kind: str, content: bytes, problems: list[Problem]) -> Lines:
    """(line number, cells) of a CSV file: line numbers as an editor counts them."""
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
        return
    header_line = text.split("\n", 1)[0]
    delimiter = ";" if header_line.count(";") >= header_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error:
            problems.append(Problem(kind, line, "", _("ligne illisible (guillemets ?).")))
            return
        yield line, cells


def _open_workbook(kind: str, content: bytes, problems: list[Problem]) -> Any:
    """The workbook, read-only, or None (a problem noted): unreadable, or a zip bomb."""
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > MAX_UNPACKED_BYTES:
            message = _(
                "classeur trop volumineux une fois décompressé (%(megabytes)d Mo au plus).",
                megabytes=MAX_UNPACKED_BYTES // (1024 * 1024),
            )
            problems.append(Problem(kind, 1, "", message))
            return None
        return load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:  # any damage in an uploaded file: refused, said plainly
        problems.append(Problem(kind, 1, "", _("classeur XLSX illisible.")))
        return None


def _sheet(workbook: Any, kind: str, first: bool) -> Any:
    """The sheet named like `kind`'s file, else (`first`) the first visible worksheet."""
    names = {fold(n) for n in SHEETS[kind]}
    others = {fold(n) for other, titles in SHEETS.items() if other != kind for n in titles}
    others.update(fold(n) for n in EXAMPLE_SHEETS)
    visible = [s for s in workbook.worksheets if s.sheet_state == "visible"]
    for sheet in visible:
        if fold(sheet.title) in names:
            return sheet
    unnamed = [s for s in visible if fold(s.title) not in others]
    return unnamed[0] if first and unnamed else None


def _cell_text(value: Any) -> str:
    """A spreadsheet cell as the CSV reader would see it: dates ISO, whole numbers bare."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _sheet_lines(sheet: Any) -> Lines:
    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        yield number, [_cell_text(v) for v in values]


@dataclass
class Header:
    """A table's header: which column holds what, and each column's name as written."""

    kind: str
    keys: list[str | None]  # per position; None: an empty header cell
    names: dict[str, str]  # key -> the header's text ("condition#2" -> "Condition 2")
    pairs: list[str]  # the condition columns' suffixes ("", "#1", "#2"…), in order

    def name(self, key: str) -> str:
        return self.names.get(key, key)


def _aliases(kind: str) -> dict[str, tuple[str, int]]:
    """Folded header name -> (column, language index or -1)."""
    found: dict[str, tuple[str, int]] = {}
    for column, names in HEADERS[kind].items():
        found.setdefault(fold(column), (column, -1))
        for index, name in enumerate(names):
            found.setdefault(fold(name), (column, index))
    return found


def read_header(kind: str, cells: list[str], problems: list[Problem]) -> Header | None:
    aliases = _aliases(kind)
    header = Header(kind, [], {}, [])
    languages: list[int] = []
    bad = False
    for text in (c.strip() for c in cells):
        key = _header_key(kind, fold(text), aliases, languages) if text else None
        header.keys.append(key)
        if text and key is None:
            problems.append(Problem(kind, 1, text, _("colonne inconnue.")))
            bad = True
        elif key is not None and key in header.names:
            problems.append(Problem(kind, 1, text, _("colonne en double.")))
            bad = True
        elif key is not None:
            header.names[key] = text
    wanted = list(REQUIRED[kind])
    if kind == REPORTS:
        suffixes = {_suffix(k) for k in header.names if k.partition("#")[0] in PAIR}
        header.pairs = sorted(suffixes, key=lambda s: int(s[1:] or 0)) or [""]
        wanted += [f"{column}{suffix}" for suffix in header.pairs for column in PAIR]
    missing = [k for k in wanted if k not in header.names]
    if missing:
        # Said in the header's language: French, Dutch, English, or the technical names (-1).
        lang = max(sorted(set(languages)), key=languages.count) if languages else 0
        message = _(
            "en-tête attendu : %(columns)s ; colonnes manquantes : %(missing)s.",
            missing=", ".join(_named(kind, k, lang) for k in missing),
            columns=";".join(_named(kind, k, lang) for k in COLUMNS[kind]),
        )
        problems.append(Problem(kind, 1, "", message))
        bad = True
    return None if bad else header


def _suffix(key: str) -> str:
    """A pair's suffix: "" for `condition`, "#2" for `condition#2`."""
    _column, sign, number = key.partition("#")
    return sign + number


def _named(kind: str, key: str, lang: int) -> str:
    column, _hash, number = key.partition("#")
    name = HEADERS[kind][column][lang] if lang >= 0 else column
    return f"{name} {number}" if number else name


def _header_key(
    kind: str, folded: str, aliases: dict[str, tuple[str, int]], languages: list[int]
) -> str | None:
    found = aliases.get(folded)
    suffix = ""
    if found is None and kind == REPORTS and (match := NUMBERED.fullmatch(folded)):
        found = aliases.get(match[1])
        if found is None or found[0] not in PAIR:
            return None
        suffix = f"#{int(match[2])}"
    if found is None:
        return None
    if found[1] < len(HEADER_LANGUAGES):
        languages.append(found[1])
    return found[0] + suffix


Table = tuple[Header | None, list[tuple[int, Row]]]


def _rows(kind: str, lines: Lines, problems: list[Problem]) -> Table:
    """The header, then (line, {column: stripped text}) of each non-empty row."""
    first = next(lines, None)
    if first is None:
        return None, []
    header = read_header(kind, first[1], problems)
    if header is None:
        return None, []
    rows: list[tuple[int, Row]] = []
    width = len(header.keys)
    for line, cells in lines:
        if not any(c.strip() for c in cells):
            continue
        stray = any(c.strip() for c in cells[width:]) or any(
            c.strip() for c, k in zip(cells, header.keys, strict=False) if k is None
        )
        if stray:
            problems.append(Problem(kind, line, "", _("plus de colonnes que l'en-tête.")))
            continue
        row = {k: c.strip() for c, k in zip(cells, header.keys, strict=False) if k is not None}
        rows.append((line, row))
    return header, rows


@dataclass
class Tables:
    """What the upload holds, table by table: its header and rows (None: no such table)."""

    reports: Table
    resolutions: Table | None


def read_tables(reports: bytes, resolutions: bytes | None, problems: list[Problem]) -> Tables:
    """The reports' table and the resolutions', from their files; a workbook sent as the
    reports may hold the resolutions too (a sheet named like them), when none are sent."""
    if not is_workbook(reports):
        found = _rows(REPORTS, _csv_lines(REPORTS, reports, problems), problems)
        return Tables(found, _resolutions(resolutions, problems))
    workbook = _open_workbook(REPORTS, reports, problems)
    if workbook is None:
        return Tables((None, []), _resolutions(resolutions, problems))
    try:
        sheet = _sheet(workbook, REPORTS, first=True)
        found = _rows(REPORTS, _sheet_lines(sheet), problems) if sheet else (None, [])
        if resolutions is not None:
            return Tables(found, _resolutions(resolutions, problems))
        inside = _sheet(workbook, RESOLUTIONS, first=False)
        return Tables(found, _rows(RESOLUTIONS, _sheet_lines(inside), problems) if inside else None)
    finally:
        workbook.close()


def _resolutions(content: bytes | None, problems: list[Problem]) -> Table | None:
    if content is None:
        return None
    if not is_workbook(content):
        return _rows(RESOLUTIONS, _csv_lines(RESOLUTIONS, content, problems), problems)
    workbook = _open_workbook(RESOLUTIONS, content, problems)
    if workbook is None:
        return None, []
    try:
        sheet = _sheet(workbook, RESOLUTIONS, first=True)
        return _rows(RESOLUTIONS, _sheet_lines(sheet), problems) if sheet else (None, [])
    finally:
        workbook.close()


def data_lines(content: bytes) -> int:
    """The non-empty lines after the header, about: a job's total until the files are read
    (a workbook: its tables' rows as the sheets declare them)."""
    if not is_workbook(content):
        return max(sum(1 for line in content.splitlines() if line.strip()) - 1, 0)
    workbook = _open_workbook(REPORTS, content, [])
    if workbook is None:
        return 0
    try:
        sheets = {_sheet(workbook, REPORTS, True), _sheet(workbook, RESOLUTIONS, False)}
        return sum(max((s.max_row or 1) - 1, 0) for s in sheets if s is not None)
    except Exception:  # an estimate: the import reads the file again and says what is wrong
        return 0
    finally:
        workbook.close()


# --- the cells ----------------------------------------------------------------------------


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
    folded = fold(value)
    return True if folded in YES else False if folded in NO else None


def _index(entries: Iterable[tuple[str, Any]]) -> dict[str, list[Any]]:
    """Folded name -> the distinct things it names (more than one: ambiguous)."""
    found: dict[str, list[Any]] = {}
    for name, thing in entries:
        if (key := fold(name)) and thing not in (known := found.setdefault(key, [])):
            known.append(thing)
    return found


@dataclass(frozen=True)
class Referential:
    """What lines may name, read once: codes, slugs and names in every language."""

    establishments: dict[str, list[Establishment]]  # by folded slug and name (fr, nl, en)
    conditions: dict[str, list[Condition]]  # by folded code and wording (fr, nl, en)
    offer_types: dict[str, str]  # folded code and labels -> code
    services: dict[str, MemberService]  # by folded name

    @classmethod
    def load(cls, session: DbSession) -> Referential:
        # In the order of their ids, not the tables': an ambiguous name lists the same
        # establishments in the same order on every database.
        prisons = session.scalars(
            select(Establishment).where(Establishment.active.is_(True)).order_by(Establishment.id)
        )
        conditions = session.scalars(
            select(Condition).where(Condition.retired_at.is_(None)).order_by(Condition.id)
        )
        offer_types = session.scalars(select(OfferType).order_by(OfferType.id)).all()
        return cls(
            _index((n, e) for e in prisons for n in (e.slug, e.name, e.name_nl, e.name_en)),
            _index(
                (n, c) for c in conditions for n in (c.code, c.label_fr, c.label_nl, c.label_en)
            ),
            {
                fold(n): o.code
                for o in offer_types
                for n in (o.code, o.label_fr, o.label_nl, o.label_en)
                if n
            },
            {
                fold(s.name): s
                for s in session.scalars(select(MemberService).order_by(MemberService.id))
            },
        )


class Reader:
    """Checks the cells of one table, noting every problem under the header's names."""

    def __init__(
        self, kind: str, known: Referential, problems: list[Problem], header: Header
    ) -> None:
        self.kind, self.known, self.problems, self.header = kind, known, problems, header

    def bad(self, line: int, column: str, message: str) -> None:
        self.problems.append(Problem(self.kind, line, self.header.name(column), message))

    def required(self, line: int, row: Row, column: str) -> str:
        value = row.get(column, "")
        if not value:
            self.bad(line, column, _("valeur obligatoire."))
        return value

    def establishment(self, line: int, value: str) -> Establishment | None:
        found = self.known.establishments.get(fold(value), [])
        if len(found) > 1:
            message = _(
                "nom ambigu « %(value)s » : il désigne plusieurs établissements (%(slugs)s) ; "
                "écrivez l'identifiant.",
                value=value[:60],
                slugs=", ".join(e.slug for e in found),
            )
            self.bad(line, "establishment", message)
            return None
        if not found:
            message = _("établissement inconnu : « %(value)s ».", value=value[:60])
            self.bad(line, "establishment", message)
            return None
        return found[0]

    def day(self, line: int, column: str, value: str) -> date | None:
        found = parse_date(value)
        if found is None:
            message = _("date invalide « %(value)s » (AAAA-MM-JJ ou JJ/MM/AAAA).", value=value[:20])
            self.bad(line, column, message)
        elif found > clock.today():
            self.bad(line, column, _("date dans le futur (%(day)s).", day=date_fr(found)))
            return None
        return found

    def condition(self, line: int, column: str, value: str) -> Condition | None:
        found = self.known.conditions.get(fold(value), [])
        if len(found) > 1:
            message = _(
                "intitulé ambigu « %(value)s » : il désigne plusieurs conditions (%(codes)s) ; "
                "écrivez le code.",
                value=value[:80],
                codes=", ".join(c.code for c in found),
            )
            self.bad(line, column, message)
            return None
        if not found:
            self.bad(line, column, _("condition inconnue : « %(value)s ».", value=value[:80]))
            return None
        return found[0]

    def offer_types(self, line: int, column: str, value: str) -> tuple[str, ...] | None:
        parts = [p for p in re.split(r"[+,]", value) if p.strip()]
        types = [self.known.offer_types.get(fold(p)) for p in parts]
        unknown = [p.strip() for p, t in zip(parts, types, strict=True) if t is None]
        if unknown or not parts:
            message = _(
                "type d'offre inconnu : « %(value)s » "
                "(individuel, collectif, cellulaire, joints par +).",
                value=", ".join(unknown or [value])[:60],
            )
            self.bad(line, column, message)
            return None
        return ordered_types(t for t in types if t)


# --- reports ------------------------------------------------------------------------------


@dataclass
class Draft:
    """A report as its rows give it: each field with the line that gave it first."""

    line: int
    given: set[str] = field(default_factory=set)  # report fields written on some row
    fields: dict[str, tuple[Any, int]] = field(default_factory=dict)
    conditions: list[str] = field(default_factory=list)
    offer_types: list[tuple[str, ...]] = field(default_factory=list)


def read_reports(
    table: Table, known: Referential, problems: list[Problem]
) -> tuple[list[ImportedReport], int]:
    header, rows = table
    if header is None:
        return [], len(rows)
    cells = Reader(REPORTS, known, problems, header)
    drafts: dict[str, Draft] = {}
    for line, row in rows:
        _report_row(cells, drafts, line, row)
    reports: list[ImportedReport] = []
    for reference, draft in drafts.items():
        if (report := _report(cells, reference, draft)) is None:
            continue
        reports.append(report)
        for column, messages in services.check_free_fields(report_input(report)).items():
            for message in messages:
                line = draft.fields.get(column, (None, report.line))[1]
                cells.bad(line, column, message)
    return reports, len(rows)


def _report_row(cells: Reader, drafts: dict[str, Draft], line: int, row: Row) -> None:
    reference = cells.required(line, row, "reference")
    if len(reference) > MAX_REFERENCE:
        cells.bad(line, "reference", _("%(max)d caractères au maximum.", max=MAX_REFERENCE))
        reference = ""
    elif not printable(reference, multiline=False):
        cells.bad(line, "reference", _("caractère interdit."))
        reference = ""
    values = _report_fields(cells, line, row)
    pairs = _pairs(cells, line, row)
    if not reference:
        return
    draft = drafts.setdefault(reference, Draft(line))
    draft.given.update(k for k in ("establishment", "visit_date", *PAIR) if _given(row, k))
    for column, value in values.items():
        _merge(cells, draft, line, column, value)
    for column, condition, types in pairs:
        if condition.code in draft.conditions:
            cells.bad(line, column, _("condition déjà donnée pour cette référence."))
        else:
            draft.conditions.append(condition.code)
            draft.offer_types.append(types)


def _given(row: Row, column: str) -> bool:
    return any(v for k, v in row.items() if k.partition("#")[0] == column)


def _merge(cells: Reader, draft: Draft, line: int, column: str, value: Any) -> None:
    first, first_line = draft.fields.setdefault(column, (value, line))
    if first == value:
        return
    if column == "establishment":
        message = _("autre établissement que la ligne %(line)d, même référence.", line=first_line)
    elif column == "visit_date":
        message = _("autre date que la ligne %(line)d, même référence.", line=first_line)
    else:
        message = _("valeur différente de la ligne %(line)d, même référence.", line=first_line)
    cells.bad(line, column, message)


def _report_fields(cells: Reader, line: int, row: Row) -> dict[str, Any]:
    """The report's fields given on this row and valid (empty ones are left out)."""
    found: dict[str, Any] = {}
    if value := row.get("establishment"):
        found["establishment"] = cells.establishment(line, value)
    if value := row.get("visit_date"):
        found["visit_date"] = cells.day(line, "visit_date", value)
    if service := row.get("service"):
        found["service"] = cells.known.services.get(fold(service))
        if found["service"] is None:
            message = _(
                "service membre inconnu : « %(value)s » (ajoutez-le d'abord dans la console).",
                value=service[:60],
            )
            cells.bad(line, "service", message)
    if value := row.get("description"):
        found["description"] = value
    for column in ("minutes_waited", "detainees_not_seen"):
        if value := row.get(column):
            found[column] = parse_count(value)
            if found[column] is None:
                cells.bad(line, column, _("nombre entier attendu."))
    if value := row.get("activity_cancelled"):
        found["activity_cancelled"] = parse_flag(value)
        if found["activity_cancelled"] is None:
            cells.bad(line, "activity_cancelled", _("oui ou non attendu."))
    return {k: v for k, v in found.items() if v is not None}


def _pairs(cells: Reader, line: int, row: Row) -> list[tuple[str, Condition, tuple[str, ...]]]:
    """The conditions this row gives, each with its offer types (and its column's key)."""
    found = []
    for suffix in cells.header.pairs:
        column, types_column = f"condition{suffix}", f"offer_types{suffix}"
        value, types_value = row.get(column, ""), row.get(types_column, "")
        if not (value or types_value):
            continue
        condition = cells.condition(line, column, value) if value else None
        types = cells.offer_types(line, types_column, types_value) if types_value else None
        if not value:
            cells.bad(line, column, _("valeur obligatoire."))
        if not types_value:
            cells.bad(line, types_column, _("valeur obligatoire."))
        if condition is not None and types is not None:
            found.append((column, condition, types))
    return found


def _report(cells: Reader, reference: str, draft: Draft) -> ImportedReport | None:
    """The report of a reference's rows; None when a field it needs is missing or bad."""
    for column in ("establishment", "visit_date", "condition"):
        if column not in draft.given:
            key = f"condition{cells.header.pairs[0]}" if column == "condition" else column
            cells.bad(draft.line, key, _("valeur obligatoire."))
    establishment = draft.fields.get("establishment", (None, 0))[0]
    visit_date = draft.fields.get("visit_date", (None, 0))[0]
    if establishment is None or visit_date is None or not draft.conditions:
        return None
    wide = {k: v for k, (v, _line) in draft.fields.items() if k not in REQUIRED[REPORTS]}
    return ImportedReport(
        reference,
        draft.line,
        establishment,
        visit_date,
        draft.conditions,
        draft.offer_types,
        wide,
    )


# --- resolutions --------------------------------------------------------------------------


def read_resolutions(
    table: Table, known: Referential, problems: list[Problem]
) -> tuple[list[ImportedResolution], int]:
    header, rows = table
    if header is None:
        return [], len(rows)
    cells = Reader(RESOLUTIONS, known, problems, header)
    resolutions: list[ImportedResolution] = []
    seen: dict[tuple[int, int, date], int] = {}
    for line, row in rows:
        value = cells.required(line, row, "establishment")
        establishment = cells.establishment(line, value) if value else None
        value = cells.required(line, row, "condition")
        condition = cells.condition(line, "condition", value) if value else None
        value = cells.required(line, row, "resolved_on")
        resolved_on = cells.day(line, "resolved_on", value) if value else None
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
    """Both tables (two files, or one workbook), checked; raise every problem at once."""
    problems: list[Problem] = []
    known = Referential.load(session)
    tables = read_tables(reports, resolutions, problems)
    report_records, report_rows = read_reports(tables.reports, known, problems)
    resolution_records, resolution_rows = (
        read_resolutions(tables.resolutions, known, problems)
        if tables.resolutions is not None
        else ([], 0)
    )
    if problems:
        raise ImportRefused(problems)
    return Batch(report_records, resolution_records, report_rows, resolution_rows)


def template(kind: str) -> bytes:
    """A CSV file to fill in: the header and an example row (UTF-8 with BOM, `;`)."""
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
