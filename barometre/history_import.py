"""The committee's history, replayed through the live rules (issue 15).

Fidex kept its barometer by hand before this product: the import brings those
records in (read by `barometre.history_files`) so that the chart and the levels
start from the truth.

- Idempotent: a report is known by its `reference`, a resolution by
  (establishment, condition, date); records already imported are skipped.
- History is never rewritten, and it may come in at any time (issue 27): for each
  establishment, the new records end before its first live record (`first_live`) and
  come after what its imported history already holds. An archive that comes in after
  live records began is replayed with the live level and open situations set aside
  (in the import's transaction), then joined to the live history
  at its first live record (`Replay.join_live`): what it still holds open ends there
  (« fin de l'historique importé »), and nothing at or after that record changes.
- Replay: in date order, through the live services (record_report,
  expire_stale, close_resolved) with the clock at each record's date
  (`clock.replaying`), so situations, expiry and levels follow the same rules,
  visit dates of any age are accepted (here only), and the level changes carry
  the records' dates and the cause "import", which alerts nobody. At the end
  the situations gone stale are expired, at their own dates, up to today.

`import_history` takes the session, flushes, never commits: the caller
commits, or rolls back after a dry run or a refusal. It is the one import: the
CLI runs it in the foreground, the console as a background job
(`barometre.console.import_jobs`); both follow it through its `progress`
callback (lines replayed, lines in the files).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select

from . import clock, services
from .errors import ValidationFailed
from .extensions import DbSession
from .gauge import level_words
from .history_files import (
    REPORTS,
    RESOLUTIONS,
    Batch,
    ImportedReport,
    ImportedResolution,
    ImportRefused,
    Problem,
    read_batch,
    report_input,
)
from .levels import GREEN, Level, stored_level
from .models import Establishment, LevelChange, Report, Situation, User
from .presentation import date_fr
from .recompute import CAUSE_HISTORY_END, level_change, same_level
from .services import CAUSE_IMPORT
from .settings import Settings
from .situations import close_situation
from .states import SituationState

# The state of a live open situation while an archive is replayed before it: out of the
# archive's sight (one open situation per condition), open again when the replay ends.
SET_ASIDE = "set_aside"

# Hours (Brussels) given to the records of a day: the reconciler expires
# overnight, then reports come in, then the committee resolves.
EXPIRY_HOUR, REPORT_HOUR, RESOLUTION_HOUR = 0, 12, 18


# --- what is new, and whether it may come in ---------------------------------------------


def first_live(session: DbSession, establishment_ids: Sequence[int]) -> dict[int, date]:
    """Each establishment's first live record (one that did not come from an import):
    its earliest live report (visit or submission), level change or resolution. An
    establishment with no live record is left out."""
    firsts: dict[int, date] = {}
    for establishment_id in establishment_ids:
        live_report = (Report.establishment_id == establishment_id) & Report.import_reference.is_(
            None
        )
        found = session.execute(
            select(
                select(func.min(Report.visit_date)).where(live_report).scalar_subquery(),
                select(func.min(Report.submitted_at)).where(live_report).scalar_subquery(),
                select(func.min(LevelChange.at))
                .where(
                    LevelChange.establishment_id == establishment_id,
                    LevelChange.cause.not_in((CAUSE_IMPORT, CAUSE_HISTORY_END)),
                )
                .scalar_subquery(),
            )
        ).one()
        visit, submitted, change = found
        days = [visit] + [clock.local_day(m) for m in (submitted, change) if m is not None]
        known = [d for d in days if d is not None]
        if known:
            firsts[establishment_id] = min(known)
    return firsts


def imported_until(session: DbSession, establishment_id: int) -> date | None:
    """The date of the newest record an establishment's imported history holds."""
    report = session.scalar(
        select(func.max(Report.visit_date)).where(
            Report.establishment_id == establishment_id, Report.import_reference.is_not(None)
        )
    )
    change = session.scalar(
        select(func.max(LevelChange.at)).where(
            LevelChange.establishment_id == establishment_id,
            LevelChange.cause.in_((CAUSE_IMPORT, CAUSE_HISTORY_END)),
        )
    )
    resolution = session.scalar(
        select(func.max(Situation.closed_at)).where(
            Situation.establishment_id == establishment_id, Situation.closed_by_import.is_(True)
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
    # Establishment id -> its first live record: its archive is replayed before it, then
    # joined to the live history there (`Replay.join_live`).
    firsts: dict[int, date] = field(default_factory=dict)


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
    firsts = first_live(session, _establishment_ids(reports, resolutions))
    problems += _too_old(session, reports, resolutions, firsts)
    if problems:
        raise ImportRefused(problems)
    return NewRecords(reports, resolutions, known, firsts)


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
    session: DbSession,
    reports: list[ImportedReport],
    resolutions: list[ImportedResolution],
    firsts: dict[int, date],
) -> list[Problem]:
    """An import never rewrites anything: for each establishment, its records end before
    its first live record, and come after the history already imported for it; once an
    establishment has both, its imported history is closed."""
    ids = _establishment_ids(reports, resolutions)
    held = {i: imported_until(session, i) for i in ids}
    records = [(REPORTS, r.line, "visit_date", r.visit_date, r.establishment.id) for r in reports]
    records += [
        (RESOLUTIONS, r.line, "resolved_on", r.resolved_on, r.establishment.id) for r in resolutions
    ]
    problems = []
    for kind, line, column, day, establishment_id in records:
        first, imported = firsts.get(establishment_id), held[establishment_id]
        if first is not None and imported is not None:
            message = _(
                "l'historique importé de cet établissement rejoint déjà ses enregistrements "
                "en direct (%(first)s) : il ne peut plus être complété.",
                first=date_fr(first),
            )
        elif first is not None and day >= first:
            message = _(
                "le %(day)s ne précède pas le premier enregistrement en direct de cet "
                "établissement (%(first)s) : l'historique importé s'arrête avant.",
                day=date_fr(day),
                first=date_fr(first),
            )
        elif imported is not None and day < imported:
            message = _(
                "le %(day)s précède l'historique déjà en place pour cet établissement "
                "(%(held)s) : l'historique n'est jamais réécrit.",
                day=date_fr(day),
                held=date_fr(imported),
            )
        else:
            continue
        problems.append(Problem(kind, line, column, message))
    return problems


# --- replay -------------------------------------------------------------------------------


@dataclass
class Totals:
    """What an import did, in numbers: what its summary lines say, kept by a job's row."""

    report_rows: int = 0
    resolution_rows: int = 0
    reports: int = 0
    resolutions: int = 0
    known: int = 0
    level_changes: int = 0
    situations: dict[str, int] = field(default_factory=dict)
    levels: list[tuple[str, str, int]] = field(default_factory=list)  # name, colour, step

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Totals:
        known = {name: values[name] for name in cls.__dataclass_fields__ if name in values}
        known["levels"] = [tuple(level) for level in known.get("levels", [])]
        return cls(**known)


# Lines replayed so far, lines in the files.
Progress = Callable[[int, int], None]


def _ignore_progress(_done: int, _total: int) -> None:
    return None


def _lines(record: ImportedReport | ImportedResolution) -> int:
    """The lines of the files a record was read from (a report: one per condition)."""
    return len(record.conditions) if isinstance(record, ImportedReport) else 1


@dataclass(frozen=True)
class Live:
    """An establishment's live level and open situations, set aside while its archive is
    replayed (uncommitted: no one else sees them aside)."""

    values: dict[str, Any]
    changed_at: datetime | None
    situations: list[Situation]


class Replay:
    """The new records, replayed in date order under the establishments' locks."""

    def __init__(self, session: DbSession, settings: Settings, actor: User | None) -> None:
        self.session, self.settings, self.actor = session, settings, actor
        self.real_now = clock.now()
        self.changes: list[LevelChange] = []
        self.opened: list[int] = []
        self.problems: list[Problem] = []
        # Establishment id -> its open situations, read after the last record that
        # touched it: the others are not read again for each record (the replay read
        # every establishment's for each record); expiry closes them in place.
        self.open: dict[int, list[Situation]] = {}
        self.firsts: dict[int, date] = {}

    def moment(self, day: date, hour: int) -> datetime:
        return min(clock.local_moment(day, hour), self.real_now)

    def run(
        self, records: NewRecords, total: int, progress: Progress = _ignore_progress
    ) -> list[Establishment]:
        """Replay the records; `progress` hears of each (the known records count as read)."""
        ids = _establishment_ids(records.reports, records.resolutions)
        establishments = [services.lock_establishment(self.session, i) for i in ids]
        self.firsts = records.firsts
        live = {e.id: self.set_live_aside(e) for e in establishments if e.id in self.firsts}
        timeline: list[tuple[date, int, int, ImportedReport | ImportedResolution]] = [
            (r.visit_date, 0, r.line, r) for r in records.reports
        ]
        timeline += [(r.resolved_on, 1, r.line, r) for r in records.resolutions]
        done = total - sum(_lines(t[3]) for t in timeline)
        progress(done, total)
        for day, _order, _line, record in sorted(timeline, key=lambda t: t[:3]):
            self.expire_until(establishments, day)
            if isinstance(record, ImportedReport):
                self.report(record)
            else:
                self.resolution(record)
            done += _lines(record)
            progress(done, total)
        for establishment in establishments:
            first = self.firsts.get(establishment.id)
            end = clock.today() if first is None else first - timedelta(days=1)
            self.expire_until([establishment], end)
            if first is not None:
                self.join_live(establishment, first, live[establishment.id])
        if self.problems:
            raise ImportRefused(self.problems)
        return establishments

    def expire_until(self, establishments: Iterable[Establishment], day: date) -> None:
        """Expire, at their own dates, the situations that went stale by `day` (R3)."""
        ttl = timedelta(days=self.settings.situation_ttl_days + 1)
        for establishment in establishments:
            situations = self.open.get(establishment.id)
            if situations is None:
                situations = services.open_situations(self.session, establishment.id)
            while True:
                situations = services.still_open(situations)
                due = min((s.last_confirmed + ttl for s in situations), default=None)
                if due is None or due > day:
                    break
                with clock.replaying(self.moment(due, EXPIRY_HOUR)):
                    self.changes += services.expire_stale(
                        self.session, establishment, self.settings, situations, CAUSE_IMPORT
                    )
            self.open[establishment.id] = situations

    def set_live_aside(self, establishment: Establishment) -> Live:
        """Keep the live level of an establishment whose archive comes in before its live
        records, and start the archive from green, as the establishment once did."""
        kept = Live(
            establishment.level_values(establishment.level, establishment.open_facts),
            establishment.level_changed_at,
            services.open_situations(self.session, establishment.id),
        )
        for situation in kept.situations:
            situation.status = SET_ASIDE
        establishment.store_level(GREEN, [])
        establishment.level_changed_at = None
        self.session.flush()
        return kept

    def join_live(self, establishment: Establishment, first: date, live: Live) -> None:
        """The archive ends at the establishment's first live record: the situations it
        still holds end there (« fin de l'historique importé »), never counted live, and
        one change takes the archive's level to the level the live history starts from.
        The live level is put back as it was: nothing at or after `first` changes."""
        at = clock.local_moment(first, EXPIRY_HOUR)
        with clock.replaying(at):
            ended = services.open_situations(self.session, establishment.id)
            for situation in ended:
                close_situation(situation, SituationState.HISTORY_END, None, "")
        start = self.live_start(establishment, live)
        before = establishment.level
        if not same_level(before, start):
            change = level_change(establishment, at, before, start, CAUSE_HISTORY_END, closed=ended)
            self.session.add(change)
            self.changes.append(change)
        self.session.flush()  # the archive's situations closed before the live ones reopen
        for situation in live.situations:
            situation.status = SituationState.OPEN
        for name, value in live.values.items():
            setattr(establishment, name, value)
        establishment.level_changed_at = live.changed_at
        self.session.flush()

    def live_start(self, establishment: Establishment, live: Live) -> Level:
        """The level the live history starts from: before its first live change, or the
        live level when nothing changed it yet."""
        first_change = self.session.scalar(
            select(LevelChange)
            .where(
                LevelChange.establishment_id == establishment.id,
                LevelChange.cause.not_in((CAUSE_IMPORT, CAUSE_HISTORY_END)),
            )
            .order_by(LevelChange.at, LevelChange.id)
            .limit(1)
        )
        if first_change is None:
            values = live.values
            return stored_level(
                values["colour"],
                values["step"],
                values["open_situations"],
                values["offer_types"],
                values["red_blocked"],
            )
        if first_change.from_colour == GREEN.colour:
            return GREEN
        return Level(first_change.from_colour, first_change.from_step, 0, (), False)

    def report(self, record: ImportedReport) -> None:
        self.open.pop(record.establishment.id, None)
        with clock.replaying(self.moment(record.visit_date, REPORT_HOUR)):
            try:
                outcome = services.record_report(
                    self.session, report_input(record), None, self.settings, record.reference
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
        self.open.pop(record.establishment.id, None)
        moment = self.moment(record.resolved_on, RESOLUTION_HOUR)
        situation = self.session.scalar(
            select(Situation).where(
                Situation.establishment_id == record.establishment.id,
                Situation.condition_id == record.condition.id,
                Situation.status == SituationState.OPEN,
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
        with clock.replaying(moment):
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
    progress: Progress = _ignore_progress,
) -> Totals:
    """Read, check and replay the files; raise ImportRefused with every problem.

    Flushes, never commits: the caller commits, or rolls back after a dry run
    or a refusal (nothing of a refused import may be kept). `progress(done, total)`
    is called as the lines are replayed.
    """
    batch = read_batch(session, reports, resolutions)
    records = new_records(session, batch)
    replay = Replay(session, settings, actor)
    total = batch.report_rows + batch.resolution_rows
    establishments = replay.run(records, total, progress)
    summary = Totals(
        report_rows=batch.report_rows,
        resolution_rows=batch.resolution_rows,
        reports=len(records.reports),
        resolutions=len(records.resolutions),
        known=records.known,
        level_changes=len(replay.changes),
        situations=dict(_situation_states(session, replay.opened)),
        levels=[(e.name, e.level.colour, e.level.step) for e in establishments],
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
            level_changes=summary.level_changes,
        )
    session.flush()
    return summary


def _situation_states(session: DbSession, ids: Sequence[int]) -> Counter[str]:
    states: Counter[str] = Counter()
    for start in range(0, len(ids), 500):
        query = select(Situation.status).where(Situation.id.in_(ids[start : start + 500]))
        states.update(session.scalars(query))
    return states


def summary_lines(summary: Totals, dry_run: bool) -> list[str]:
    """What the import did (or would do), in words (`import_history`'s, or a job's).

    Every count is said through ngettext, each with its own noun (never « (s) »)."""
    situations = summary.situations
    lines = [
        _(
            "Lignes lues : %(reports)s ; %(resolutions)s.",
            reports=_reports(summary.report_rows),
            resolutions=_resolutions(summary.resolution_rows),
        ),
        _(
            "Nouveaux : %(reports)s, %(resolutions)s ; %(known)s.",
            reports=_reports(summary.reports),
            resolutions=_resolutions(summary.resolutions),
            known=ngettext(
                "%(num)d déjà importé, ignoré", "%(num)d déjà importés, ignorés", summary.known
            ),
        ),
        _(
            "Situations : %(opened)s, dont %(resolved)s, %(expired)s, %(open)s.",
            opened=ngettext(
                "%(num)d ouverte par l'import",
                "%(num)d ouvertes par l'import",
                sum(situations.values()),
            ),
            resolved=ngettext(
                "%(num)d résolue", "%(num)d résolues", situations.get(SituationState.RESOLVED, 0)
            ),
            expired=ngettext(
                "%(num)d expirée", "%(num)d expirées", situations.get(SituationState.EXPIRED, 0)
            ),
            open=ngettext(
                "%(num)d encore ouverte",
                "%(num)d encore ouvertes",
                situations.get(SituationState.OPEN, 0),
            ),
        ),
        ngettext(
            "%(num)d changement de niveau.", "%(num)d changements de niveau.", summary.level_changes
        ),
    ]
    for name, colour, step in summary.levels:
        lines.append(_("%(name)s : %(level)s", name=name, level=level_words(colour, step)))
    if dry_run:
        lines.append(_("Simulation : rien n'a été enregistré."))
    return lines


def _reports(count: int) -> str:
    return ngettext("%(num)d signalement", "%(num)d signalements", count)


def _resolutions(count: int) -> str:
    return ngettext("%(num)d résolution", "%(num)d résolutions", count)
