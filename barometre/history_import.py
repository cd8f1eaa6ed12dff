"""The committee's history, read from its two spreadsheets and replayed (issue 15).

Fidex kept its barometer by hand before this product: the import brings those
records in so that the chart and the levels start from the truth.

- Reading: a header row, `;` or `,`, UTF-8 with or without BOM, dates
  `YYYY-MM-DD` or `DD/MM/YYYY`. Every bad line is reported at once, with its
  line number and column, and nothing is stored.
- Idempotent: a report is known by its `reference`, a resolution by
  (establishment, condition, date); records already imported are skipped.
- History is never rewritten: a new record may not be dated before the newest
  record that did not come from an import, nor before what an establishment's
  history already holds.
- Replay: in date order, through the live services (record_report,
  expire_stale, close_resolved) with the clock at each record's date
  (`clock.replaying`), so situations, expiry and levels follow the same rules
  and the level changes carry the records' dates and the cause "import", which
  alerts nobody. At the end the stale situations are expired up to today.

`import_history` takes the session, flushes, never commits: the caller
commits, or rolls back after a dry run or a refusal.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from . import clock, services
from .errors import DomainError, ValidationFailed
from .extensions import DbSession
from .levels import Level, ordered_types
from .models import (
    SITUATION_OPEN,
    SITUATION_RESOLVED,
    Condition,
    Establishment,
    LevelChange,
    MemberService,
    OfferType,
    Report,
    Situation,
    User,
)
from .presentation import date_fr, level_words
from .services import CAUSE_IMPORT, ReportInput
from .settings import Settings

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
# The columns that may differ from one row of a report to the next only by being empty.
MAX_REFERENCE = 64
# Hours (Brussels) given to the records of a day: the reconciler expires
# overnight, then reports come in, then the committee resolves.
EXPIRY_HOUR, REPORT_HOUR, RESOLUTION_HOUR = 0, 12, 18
YES = {"oui", "o", "yes", "y", "ja", "j", "vrai", "true", "1", "x"}
NO = {"non", "n", "no", "nee", "faux", "false", "0"}
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
FR_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


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


def _report_input(report: ImportedReport) -> ReportInput:
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
    return int(value) if value.isdigit() and len(value) <= 9 else None


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
        for column, messages in services.check_free_fields(_report_input(report)).items():
            for message in messages:
                cells.bad(report.line, column, message)
    return list(reports.values()), len(rows)


def _report_row(
    cells: Reader, reports: dict[str, ImportedReport], line: int, row: dict[str, str]
) -> None:
    reference = cells.required(line, row, "reference")
    if len(reference) > MAX_REFERENCE or not services.storable(reference):
        cells.bad(line, "reference", _("%(max)d caractères au maximum.", max=MAX_REFERENCE))
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
        if len(note) > services.MAX_DESCRIPTION or not services.storable(note):
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


# --- what is new, and whether it may come in ---------------------------------------------


def live_cutoff(session: DbSession) -> date | None:
    """The date of the newest record that did not come from an import."""
    report = session.scalar(
        select(func.max(Report.visit_date)).where(Report.import_reference.is_(None))
    )
    change = session.scalar(
        select(func.max(LevelChange.at)).where(LevelChange.cause != CAUSE_IMPORT)
    )
    resolution = session.scalar(
        select(func.max(Situation.closed_at)).where(
            Situation.status == SITUATION_RESOLVED, Situation.closed_by_import.is_(False)
        )
    )
    return _newest(report, change, resolution)


def history_cutoff(session: DbSession, establishment_id: int) -> date | None:
    """The date of the newest thing an establishment's history holds, imported or not."""
    report = session.scalar(
        select(func.max(Report.visit_date)).where(Report.establishment_id == establishment_id)
    )
    change = session.scalar(
        select(func.max(LevelChange.at)).where(LevelChange.establishment_id == establishment_id)
    )
    resolution = session.scalar(
        select(func.max(Situation.closed_at)).where(
            Situation.establishment_id == establishment_id, Situation.status == SITUATION_RESOLVED
        )
    )
    return _newest(report, change, resolution)


def _newest(day: date | None, *moments: datetime | None) -> date | None:
    days = [day] + [clock.local_day(m) for m in moments if m is not None]
    known = [d for d in days if d is not None]
    return max(known) if known else None


@dataclass
class NewRecords:
    reports: list[ImportedReport]
    resolutions: list[ImportedResolution]
    known: int


def new_records(session: DbSession, batch: Batch) -> NewRecords:
    """The records not imported before; refuse those that would rewrite history."""
    problems: list[Problem] = []
    stored = _stored_references(session, [r.reference for r in batch.reports])
    reports = []
    for report in batch.reports:
        previous = stored.get(report.reference)
        if previous is None:
            reports.append(report)
        elif previous != (report.establishment.id, report.visit_date):
            problems.append(
                Problem(
                    REPORTS,
                    report.line,
                    "reference",
                    _("référence déjà importée pour un autre établissement ou une autre date."),
                )
            )
    resolved = _imported_resolutions(session)
    resolutions = [
        r
        for r in batch.resolutions
        if (r.establishment.id, r.condition.id, r.resolved_on) not in resolved
    ]
    known = len(batch.reports) - len(reports) + len(batch.resolutions) - len(resolutions)
    problems += _too_old(session, reports, resolutions)
    if problems:
        raise ImportRefused(problems)
    return NewRecords(reports, resolutions, known)


def _establishment_ids(
    reports: Iterable[ImportedReport], resolutions: Iterable[ImportedResolution]
) -> list[int]:
    ids = {r.establishment.id for r in reports} | {r.establishment.id for r in resolutions}
    return sorted(ids)


def _stored_references(
    session: DbSession, references: Sequence[str]
) -> dict[str, tuple[int, date]]:
    found: dict[str, tuple[int, date]] = {}
    for start in range(0, len(references), 500):
        query = select(Report.import_reference, Report.establishment_id, Report.visit_date).where(
            Report.import_reference.in_(references[start : start + 500])
        )
        found.update({ref: (est, day) for ref, est, day in session.execute(query) if ref})
    return found


def _imported_resolutions(session: DbSession) -> set[tuple[int, int, date]]:
    query = select(Situation.establishment_id, Situation.condition_id, Situation.closed_at).where(
        Situation.closed_by_import.is_(True)
    )
    return {(e, c, clock.local_day(at)) for e, c, at in session.execute(query) if at is not None}


def _too_old(
    session: DbSession, reports: list[ImportedReport], resolutions: list[ImportedResolution]
) -> list[Problem]:
    live = live_cutoff(session)
    history = {i: history_cutoff(session, i) for i in _establishment_ids(reports, resolutions)}
    records = [(REPORTS, r.line, "visit_date", r.visit_date, r.establishment.id) for r in reports]
    records += [
        (RESOLUTIONS, r.line, "resolved_on", r.resolved_on, r.establishment.id) for r in resolutions
    ]
    problems = []
    for kind, line, column, day, establishment_id in records:
        if live is not None and day < live:
            message = _(
                "le %(day)s précède le dernier enregistrement hors import (%(live)s) : "
                "l'historique n'est jamais réécrit.",
                day=date_fr(day),
                live=date_fr(live),
            )
            problems.append(Problem(kind, line, column, message))
        elif (held := history[establishment_id]) is not None and day < held:
            message = _(
                "le %(day)s précède l'historique déjà en place pour cet établissement "
                "(%(held)s) : l'historique n'est jamais réécrit.",
                day=date_fr(day),
                held=date_fr(held),
            )
            problems.append(Problem(kind, line, column, message))
    return problems


# --- replay -------------------------------------------------------------------------------


@dataclass
class Summary:
    report_rows: int = 0
    resolution_rows: int = 0
    reports: int = 0
    resolutions: int = 0
    known: int = 0
    changes: list[LevelChange] = field(default_factory=list)
    situations: Counter[str] = field(default_factory=Counter)
    levels: list[tuple[str, Level]] = field(default_factory=list)

    @property
    def first_change(self) -> datetime | None:
        return min((c.at for c in self.changes), default=None)


class Replay:
    """The new records, replayed in date order under the establishments' locks."""

    def __init__(self, session: DbSession, settings: Settings, actor: User | None) -> None:
        self.session, self.settings, self.actor = session, settings, actor
        self.real_now = clock.now()
        self.changes: list[LevelChange] = []
        self.opened: list[int] = []
        self.problems: list[Problem] = []

    def moment(self, day: date, hour: int) -> datetime:
        return min(clock.local_moment(day, hour), self.real_now)

    def run(self, records: NewRecords) -> list[Establishment]:
        ids = _establishment_ids(records.reports, records.resolutions)
        establishments = [services.lock_establishment(self.session, i) for i in ids]
        timeline: list[tuple[date, int, int, ImportedReport | ImportedResolution]] = [
            (r.visit_date, 0, r.line, r) for r in records.reports
        ]
        timeline += [(r.resolved_on, 1, r.line, r) for r in records.resolutions]
        for day, _order, _line, record in sorted(timeline, key=lambda t: t[:3]):
            self.expire_until(establishments, day)
            if isinstance(record, ImportedReport):
                self.report(record)
            else:
                self.resolution(record)
        self.expire_until(establishments, clock.today())
        if self.problems:
            raise ImportRefused(self.problems)
        return establishments

    def expire_until(self, establishments: Iterable[Establishment], day: date) -> None:
        """Expire, at their own dates, the situations that went stale by `day` (R3)."""
        ttl = timedelta(days=self.settings.situation_ttl_days + 1)
        for establishment in establishments:
            while True:
                situations = services.open_situations(self.session, establishment.id)
                due = min((s.last_confirmed + ttl for s in situations), default=None)
                if due is None or due > day:
                    break
                with clock.replaying(self.moment(due, EXPIRY_HOUR)):
                    self.changes += services.expire_stale(
                        self.session, establishment, self.settings, situations, CAUSE_IMPORT
                    )

    def report(self, record: ImportedReport) -> None:
        with clock.replaying(self.moment(record.visit_date, REPORT_HOUR)):
            try:
                outcome = services.record_report(
                    self.session, _report_input(record), None, self.settings, record.reference
                )
            except ValidationFailed as error:
                for column, messages in error.errors.items():
                    self.problems += [Problem(REPORTS, record.line, column, m) for m in messages]
                return
        service = record.wide.get("service")
        if outcome.report is not None and service is not None:
            outcome.report.service_id = service.id
        self.changes += outcome.changes
        self.opened += [s.id for s in outcome.new_situations]

    def resolution(self, record: ImportedResolution) -> None:
        situation = self.session.scalar(
            select(Situation).where(
                Situation.establishment_id == record.establishment.id,
                Situation.condition_id == record.condition.id,
                Situation.status == SITUATION_OPEN,
            )
        )
        if situation is None:
            message = _(
                "aucune situation ouverte pour %(code)s à cette date (%(day)s) : rien à résoudre.",
                code=record.condition.code,
                day=date_fr(record.resolved_on),
            )
            self.problems.append(Problem(RESOLUTIONS, record.line, "condition", message))
            return
        with clock.replaying(self.moment(record.resolved_on, RESOLUTION_HOUR)):
            change = services.close_resolved(
                self.session,
                record.establishment,
                situation,
                self.actor,
                record.note,
                self.settings,
                CAUSE_IMPORT,
            )
        self.changes += [change] if change else []


def import_history(
    session: DbSession,
    reports: bytes,
    resolutions: bytes | None,
    actor: User | None,
    settings: Settings,
    dry_run: bool = False,
) -> Summary:
    """Read, check and replay the files; raise ImportRefused with every problem.

    Flushes, never commits: the caller commits, or rolls back after a dry run
    or a refusal (nothing of a refused import may be kept).
    """
    batch = read_batch(session, reports, resolutions)
    records = new_records(session, batch)
    replay = Replay(session, settings, actor)
    establishments = replay.run(records)
    summary = Summary(
        report_rows=batch.report_rows,
        resolution_rows=batch.resolution_rows,
        reports=len(records.reports),
        resolutions=len(records.resolutions),
        known=records.known,
        changes=replay.changes,
        situations=_situation_states(session, replay.opened),
        levels=[(e.name, e.level) for e in establishments],
    )
    if not dry_run:
        services.audit(
            session,
            actor,
            "history.import",
            None,
            reports=summary.reports,
            resolutions=summary.resolutions,
            known=summary.known,
            level_changes=len(summary.changes),
        )
    session.flush()
    return summary


def _situation_states(session: DbSession, ids: Sequence[int]) -> Counter[str]:
    states: Counter[str] = Counter()
    for start in range(0, len(ids), 500):
        query = select(Situation.status).where(Situation.id.in_(ids[start : start + 500]))
        states.update(session.scalars(query))
    return states


def summary_lines(summary: Summary, dry_run: bool) -> list[str]:
    """What the import did (or would do), in words."""
    lines = [
        _(
            "Lignes lues : %(reports)d de signalements, %(resolutions)d de résolutions.",
            reports=summary.report_rows,
            resolutions=summary.resolution_rows,
        ),
        _(
            "Nouveaux : %(reports)d signalement(s), %(resolutions)d résolution(s) ; "
            "%(known)d déjà importé(s), ignoré(s).",
            reports=summary.reports,
            resolutions=summary.resolutions,
            known=summary.known,
        ),
        _(
            "Situations : %(opened)d ouverte(s) par l'import, dont %(resolved)d résolue(s), "
            "%(expired)d expirée(s), %(open)d encore ouverte(s).",
            opened=sum(summary.situations.values()),
            resolved=summary.situations[SITUATION_RESOLVED],
            expired=summary.situations["expired"],
            open=summary.situations[SITUATION_OPEN],
        ),
        _("Changements de niveau : %(count)d.", count=len(summary.changes)),
    ]
    for name, level in summary.levels:
        lines.append(
            _("%(name)s : %(level)s", name=name, level=level_words(level.colour, level.step))
        )
    if dry_run:
        lines.append(_("Simulation : rien n'a été enregistré."))
    return lines


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
