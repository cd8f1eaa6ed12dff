"""Build a realistic database of any size, quickly and reproducibly.

The schema comes from the migrations and the référentiel from the seed, like a
real deployment; then establishments, member services, workers and the history
of reports are written with PostgreSQL COPY (not the API, which would take
hours for 10⁶ reports). A fixed seed gives the same rows on every run.

The history is simulated in time order with the rules of the core: a report
attaches to the open situation of its (establishment, condition) or opens a new
one (R2); a situation expires when no report confirmed it within the TTL or is
resolved by a coordinator now and then (R3); every change of level is a
`level_change` row (R5); each establishment's cached level is computed from its
open situations with `levels.compute_level` (R4). The present-day rate of
reports is fixed, so a larger volume means a longer past, not a busier present.

    python -m bench.datagen postgresql://postgres@127.0.0.1/db --establishments 200 --reports 100000
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import logging
import random
import tempfile
import time
import uuid
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Json

from barometre import clock
from barometre.levels import Level, compute_level, ordered_types
from barometre.settings import Settings

SEED = 20_261_126
TTL_DAYS = 30  # Settings.situation_ttl_days default
# Reports per establishment per day, on average, today; a larger volume is a longer past.
RATE_PER_ESTABLISHMENT = 0.15
RESOLVE_CHANCE = 0.08  # a coordinator closed the situation before this confirmation
REJECT_CHANCE = 0.01
BENCH_PASSWORD = "bench-password-0123"  # noqa: S105 - synthetic accounts of a throwaway database
TOWNS = (
    "Andenne", "Anvers", "Arlon", "Beveren", "Bruges", "Dinant", "Ypres", "Gand", "Hasselt",
    "Hoogstraten", "Huy", "Ittre", "Jamioulx", "Lantin", "Leuze", "Louvain", "Malines",
    "Marche", "Merksplas", "Mons", "Namur", "Nivelles", "Paifve", "Ruiselede", "Saint-Hubert",
    "Tongres", "Tournai", "Turnhout", "Verviers", "Wortel",
)  # fmt: skip
DESCRIPTIONS = (
    "Attente prolongée à l'accueil, personne pour nous accompagner.",
    "Pas de DECT disponible, visite en section sans moyen d'alerte.",
    "Activité collective annulée le matin même sans prévenir.",
    "Local d'entretien occupé, entretien mené dans le couloir.",
    "Matériel refusé à l'entrée alors qu'il était autorisé la semaine passée.",
    "Enfermés dans le local pendant quarante minutes après la fin de l'activité.",
    "Liste des détenus inscrits non transmise aux agents de section.",
    "Fouille du matériel pédagogique plus longue que l'activité.",
)


@dataclass(frozen=True)
class Volume:
    establishments: int
    reports: int
    services: int = 20
    workers: int = 120
    seed: int = SEED


@dataclass
class Stats:
    volume: Volume
    seconds: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)
    levels: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "establishments": self.volume.establishments,
            "reports": self.volume.reports,
            "seed": self.volume.seed,
            "seconds": round(self.seconds, 2),
            "rows": self.rows,
            "levels": self.levels,
        }


@dataclass
class SituationSim:
    id: int
    establishment_id: int
    condition_id: int
    opened_at: datetime
    first_visit: date
    last_confirmed: date
    last_seen: datetime
    types: set[str] = field(default_factory=set)
    report_count: int = 0
    status: str = "open"
    closed_at: datetime | None = None
    close_note: str = ""


@dataclass
class Referentiel:
    conditions: list[int]
    offer_types: dict[str, int]
    coordinator_id: int


def psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def create_schema(url: str) -> None:
    """Apply the migrations and seed the référentiel, as `flask db upgrade && seed` would."""
    from flask_migrate import upgrade

    from barometre import create_app
    from barometre.extensions import db
    from barometre.seed import seed_referentiel

    with tempfile.TemporaryDirectory() as instance:
        settings = Settings(database_url=url, instance_path=instance, secret_key="b" * 48)
        app = create_app(settings)
        with app.app_context():
            logging.disable(logging.INFO)  # alembic's "Running upgrade" lines
            try:
                upgrade()
            finally:
                logging.disable(logging.NOTSET)
            seed_referentiel(db.session)
            db.session.commit()
            db.session.remove()
            db.engine.dispose()


def build(url: str, volume: Volume) -> Stats:
    """Schema, référentiel and `volume` of history in the (empty) database at `url`."""
    started = time.perf_counter()
    create_schema(url)
    stats = Stats(volume)
    with psycopg.connect(psycopg_url(url)) as conn:
        generator = Generator(conn, volume, stats)
        generator.run()
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    stats.seconds = time.perf_counter() - started
    return stats


class Generator:
    def __init__(self, conn: psycopg.Connection[Any], volume: Volume, stats: Stats) -> None:
        self.conn = conn
        self.volume = volume
        self.stats = stats
        self.rng = random.Random(volume.seed)
        self.today = clock.today()
        self.now = clock.now()
        self.situations: list[SituationSim] = []
        self.open: dict[tuple[int, int], SituationSim] = {}
        # Link rows kept as compact integer arrays until their COPY.
        self.report_condition = (array("q"), array("q"))
        # The offer types of each report_condition row (every condition of a generated
        # report impacted the report's types), for schemas that have the column.
        self.report_condition_types: list[str] = []
        self.report_offer_type = (array("q"), array("q"))
        self.situation_report = (array("q"), array("q"))
        self.events: list[tuple[int, datetime, int, int, int]] = []

    def run(self) -> None:
        # Older schemas (the bench also measures older commits) lack this column.
        self.facts_column = self.has_column("establishment", "open_facts")
        ref = self.referentiel()
        establishments = self.establishments()
        authors = self.people()
        # The rows are consistent by construction: skip the per-row foreign key
        # triggers during the bulk load (the bench connects as a superuser).
        self.conn.execute("SET LOCAL session_replication_role = replica")
        self.reports(ref, establishments, authors)
        self.expire_leftovers()
        self.copy_situations()
        self.copy_links()
        self.level_changes(ref)
        self.reset_sequences()

    # --- reference rows ---------------------------------------------------------

    def referentiel(self) -> Referentiel:
        conditions = [r[0] for r in self.conn.execute("SELECT id FROM condition ORDER BY id")]
        offer_types = dict(self.conn.execute("SELECT code, id FROM offer_type").fetchall())
        return Referentiel(conditions, offer_types, 0)

    def establishments(self) -> list[int]:
        existing = [r[0] for r in self.conn.execute("SELECT id FROM establishment ORDER BY id")]
        rows = []
        for n in range(len(existing), self.volume.establishments):
            town = TOWNS[n % len(TOWNS)]
            rows.append((f"prison-{n:04d}", f"Prison de {town} {n // len(TOWNS) + 1}"))
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO establishment (slug, name, active, committee_note, colour, step,"
                " open_situations, offer_types, red_blocked"
                + (", open_facts" if self.facts_column else "")
                + ") VALUES (%s, %s, true, '', 'vert', 0, 0, '', false"
                + (", '[]'" if self.facts_column else "")
                + ")",
                rows,
            )
        ids = [r[0] for r in self.conn.execute("SELECT id FROM establishment ORDER BY id")]
        self.stats.rows["establishment"] = len(ids)
        return ids[: self.volume.establishments]

    def people(self) -> list[tuple[int, int]]:
        """Member services, their workers and coordinators; returns (worker id, service id)."""
        from barometre.auth import hash_password

        # One hash for every synthetic account: argon2 is slow on purpose.
        password = hash_password(BENCH_PASSWORD)
        with self.conn.cursor() as cur:
            services = []
            for n in range(self.volume.services):
                cur.execute(
                    "INSERT INTO member_service (name, alert_emails, active)"
                    " VALUES (%s, %s, true) RETURNING id",
                    (f"Service membre {n + 1}", f"alertes@service{n + 1}.bench"),
                )
                services.append(cur.fetchone()[0])  # type: ignore[index]
            authors = []
            for n in range(self.volume.workers):
                service = services[n % len(services)]
                cur.execute(
                    "INSERT INTO user_account (email, name, password_hash, role, service_id,"
                    " language, active, session_version, created_at)"
                    " VALUES (%s, %s, %s, 'worker', %s, 'fr', true, 1, %s) RETURNING id",
                    (f"travailleur{n + 1}@bench.test", "", password, service, self.now),
                )
                authors.append((cur.fetchone()[0], service))  # type: ignore[index]
            for n in range(3):
                cur.execute(
                    "INSERT INTO user_account (email, name, password_hash, role, language,"
                    " active, session_version, created_at)"
                    " VALUES (%s, '', %s, 'coordinator', 'fr', true, 1, %s)",
                    (f"coordination{n + 1}@bench.test", password, self.now),
                )
        self.stats.rows["member_service"] = len(services)
        self.stats.rows["user_account"] = len(authors) + 3
        return authors

    # --- reports and situations -------------------------------------------------------

    def reports(
        self, ref: Referentiel, establishments: list[int], authors: list[tuple[int, int]]
    ) -> None:
        rng = self.rng
        pick_establishment = weighted_picker(rng, establishments, exponent=0.9)
        pick_condition = weighted_picker(rng, ref.conditions, exponent=1.1)
        type_codes = list(ref.offer_types)
        per_day = RATE_PER_ESTABLISHMENT * len(establishments)
        span = timedelta(days=max(self.volume.reports / per_day, 1.0))
        start = self.now - span
        step = span / max(self.volume.reports, 1)
        columns = (
            "id, establishment_id, author_id, service_id, visit_date, submitted_at,"
            " description, minutes_waited, activity_cancelled, detainees_not_seen,"
            " submission_id, review_state, review_reason"
        )
        with self.conn.cursor() as cur, cur.copy(f"COPY report ({columns}) FROM STDIN") as copy:
            for report_id in range(1, self.volume.reports + 1):
                submitted = start + step * report_id
                visit = (submitted - timedelta(hours=rng.random() * 30)).date()
                establishment = pick_establishment()
                author, service = authors[rng.randrange(len(authors))]
                conditions = {pick_condition() for _ in range(rng.choice((1, 1, 1, 2, 2, 3)))}
                types = rng.sample(type_codes, rng.choice((1, 1, 1, 2, 2, 3)))
                rejected = rng.random() < REJECT_CHANCE
                copy.write_row(
                    (
                        report_id,
                        establishment,
                        author,
                        service,
                        visit,
                        submitted,
                        *self.free_fields(),
                        str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        "rejected" if rejected else "unreviewed",
                        "Hors du champ du baromètre." if rejected else "",
                    )
                )
                joined_types = ",".join(ordered_types(types))
                for condition in conditions:
                    self.report_condition[0].append(report_id)
                    self.report_condition[1].append(condition)
                    self.report_condition_types.append(joined_types)
                for code in types:
                    self.report_offer_type[0].append(report_id)
                    self.report_offer_type[1].append(ref.offer_types[code])
                if not rejected:
                    for condition in conditions:
                        self.attach(report_id, establishment, condition, visit, submitted, types)
        self.stats.rows["report"] = self.volume.reports

    def free_fields(self) -> tuple[str, int | None, bool | None, int | None]:
        rng = self.rng
        description = rng.choice(DESCRIPTIONS) if rng.random() < 0.4 else ""
        minutes = rng.randrange(10, 180) if rng.random() < 0.3 else None
        cancelled = rng.choice((True, False, None, None, None))
        not_seen = rng.randrange(1, 12) if rng.random() < 0.2 else None
        return description, minutes, cancelled, not_seen

    def attach(
        self,
        report_id: int,
        establishment: int,
        condition: int,
        visit: date,
        submitted: datetime,
        types: Sequence[str],
    ) -> None:
        key = (establishment, condition)
        situation = self.open.get(key)
        if situation is not None:
            if (visit - situation.last_confirmed).days > TTL_DAYS:
                self.close(situation, "expired", expiry_time(situation.last_confirmed))
                situation = None
            elif self.rng.random() < RESOLVE_CHANCE:
                closed = situation.last_seen + (submitted - situation.last_seen) * self.rng.random()
                self.close(situation, "resolved", closed, "Réglé avec la direction.")
                situation = None
        if situation is None:
            situation = SituationSim(
                len(self.situations) + 1,
                establishment,
                condition,
                submitted,
                visit,
                visit,
                submitted,
            )
            self.situations.append(situation)
            self.open[key] = situation
            self.events.append((establishment, submitted, 1, situation.id, report_id))
        situation.report_count += 1
        situation.last_seen = submitted
        situation.types.update(types)
        situation.last_confirmed = max(situation.last_confirmed, visit)
        situation.first_visit = min(situation.first_visit, visit)
        self.situation_report[0].append(situation.id)
        self.situation_report[1].append(report_id)

    def close(self, situation: SituationSim, status: str, at: datetime, note: str = "") -> None:
        situation.status = status
        situation.closed_at = at
        situation.close_note = note
        del self.open[(situation.establishment_id, situation.condition_id)]
        self.events.append((situation.establishment_id, at, 0, situation.id, 0))

    def expire_leftovers(self) -> None:
        """What the periodic recompute would have expired by now (R3)."""
        cutoff = self.today - timedelta(days=TTL_DAYS)
        for situation in list(self.open.values()):
            if situation.last_confirmed < cutoff:
                self.close(situation, "expired", expiry_time(situation.last_confirmed))

    def copy_links(self) -> None:
        # Older schemas (the bench also measures older commits) lack per-condition types.
        if self.has_column("report_condition", "offer_types"):
            self.copy_report_conditions()
        else:
            self.copy_pairs(
                (("report_condition (report_id, condition_id)", self.report_condition),)
            )
        self.copy_pairs(
            (
                ("report_offer_type (report_id, offer_type_id)", self.report_offer_type),
                ("situation_report (situation_id, report_id)", self.situation_report),
            )
        )

    def copy_report_conditions(self) -> None:
        """Each condition of a generated report with the report's offer types (R1)."""
        left, right = self.report_condition
        columns = "report_id, condition_id, offer_types"
        command = f"COPY report_condition ({columns}) FROM STDIN"
        with self.conn.cursor() as cur, cur.copy(command) as copy:
            for row in zip(left, right, self.report_condition_types, strict=True):
                copy.write_row(row)
        self.stats.rows["report_condition"] = len(left)

    def copy_pairs(self, tables: tuple[tuple[str, Any], ...]) -> None:
        for table, (left, right) in tables:
            with self.conn.cursor() as cur, cur.copy(f"COPY {table} FROM STDIN") as copy:
                for pair in zip(left, right, strict=True):
                    copy.write_row(pair)
            self.stats.rows[table.split()[0]] = len(left)

    def copy_situations(self) -> None:
        columns = (
            "id, establishment_id, condition_id, status, offer_types, opened_at, first_visit,"
            " last_confirmed, report_count, closed_at, close_note"
        )
        with self.conn.cursor() as cur, cur.copy(f"COPY situation ({columns}) FROM STDIN") as copy:
            for s in self.situations:
                copy.write_row(
                    (
                        s.id,
                        s.establishment_id,
                        s.condition_id,
                        s.status,
                        ",".join(ordered_types(s.types)),
                        s.opened_at,
                        s.first_visit,
                        s.last_confirmed,
                        s.report_count,
                        s.closed_at,
                        s.close_note,
                    )
                )
        self.stats.rows["situation"] = len(self.situations)
        self.stats.rows["situation_open"] = len(self.open)

    # --- levels ------------------------------------------------------------------------

    def level_changes(self, ref: Referentiel) -> None:
        """Sweep each establishment's open/close events; one row per change of level."""
        by_id = {s.id: s for s in self.situations}
        per_establishment: dict[int, list[tuple[datetime, int, int, int]]] = defaultdict(list)
        for establishment, at, kind, situation_id, report_id in self.events:
            per_establishment[establishment].append((at, kind, situation_id, report_id))
        ids = itertools.count(1)
        still_open: dict[int, list[SituationSim]] = defaultdict(list)
        for situation in self.open.values():
            still_open[situation.establishment_id].append(situation)
        finals: dict[int, Level] = {}
        columns = (
            "id, establishment_id, at, from_colour, from_step, to_colour, to_step,"
            " open_situations, offer_types, red_blocked, cause, cause_id, new_situation_ids"
        )
        with (
            self.conn.cursor() as cur,
            cur.copy(f"COPY level_change ({columns}) FROM STDIN") as copy,
        ):
            for establishment, events in per_establishment.items():
                for row in sweep(establishment, sorted(events), by_id, ids):
                    copy.write_row(row)
                finals[establishment] = level_of(still_open[establishment])
        self.stats.rows["level_change"] = next(ids) - 1
        facts = {
            establishment: sorted(
                [s.condition_id, ",".join(ordered_types(s.types))] for s in situations
            )
            for establishment, situations in still_open.items()
        }
        self.store_levels(finals, facts)

    def store_levels(self, finals: dict[int, Level], facts: dict[int, list[list[Any]]]) -> None:
        last_change = dict(
            self.conn.execute(
                "SELECT establishment_id, max(at) FROM level_change GROUP BY establishment_id"
            ).fetchall()
        )
        with self.conn.cursor() as cur:
            cur.executemany(
                "UPDATE establishment SET colour = %s, step = %s, open_situations = %s,"
                " offer_types = %s, red_blocked = %s, level_changed_at = %s"
                + (", open_facts = %s" if self.facts_column else "")
                + " WHERE id = %s",
                [
                    (
                        level.colour,
                        level.step,
                        level.open_situations,
                        ",".join(level.offer_types),
                        level.red_blocked_by_diversity,
                        last_change.get(establishment),
                        *([Json(facts.get(establishment, []))] if self.facts_column else []),
                        establishment,
                    )
                    for establishment, level in finals.items()
                ],
            )
        colours = Counter(level.colour for level in finals.values() if level.open_situations)
        colours["vert"] = self.volume.establishments - sum(colours.values())
        self.stats.levels = dict(sorted(colours.items()))

    def has_column(self, table: str, column: str) -> bool:
        found = self.conn.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_name = %s AND column_name = %s",
            (table, column),
        ).fetchone()
        return found is not None

    def reset_sequences(self) -> None:
        for table in ("report", "situation", "level_change"):
            self.conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )


def sweep(
    establishment: int,
    events: list[tuple[datetime, int, int, int]],
    situations: dict[int, SituationSim],
    ids: Iterator[int],
) -> Iterator[tuple[Any, ...]]:
    open_now: dict[int, SituationSim] = {}
    before = level_of(())
    for at, kind, situation_id, report_id in events:
        if kind == 1:
            open_now[situation_id] = situations[situation_id]
        else:
            open_now.pop(situation_id, None)
        after = level_of(open_now.values())
        if (before.colour, before.step, before.red_blocked_by_diversity) == (
            after.colour,
            after.step,
            after.red_blocked_by_diversity,
        ):
            continue
        closed = situations[situation_id]
        cause = (
            "report" if kind == 1 else ("resolution" if closed.status == "resolved" else "expiry")
        )
        yield (
            next(ids),
            establishment,
            at,
            before.colour,
            before.step,
            after.colour,
            after.step,
            after.open_situations,
            ",".join(after.offer_types),
            after.red_blocked_by_diversity,
            cause,
            report_id if kind == 1 else situation_id,
            json.dumps([situation_id] if kind == 1 else []),
        )
        before = after


def level_of(situations: Any) -> Level:
    return compute_level(s.types for s in situations)


def expiry_time(last_confirmed: date) -> datetime:
    return datetime.combine(last_confirmed + timedelta(days=TTL_DAYS + 1), datetime.min.time())


def weighted_picker(rng: random.Random, items: Sequence[int], exponent: float) -> Any:
    """Zipf-like choice: a few establishments (or conditions) get most reports."""
    order = list(items)
    rng.shuffle(order)
    cumulative = list(
        itertools.accumulate(1 / (rank + 1) ** exponent for rank in range(len(order)))
    )
    total = cumulative[-1]

    def pick() -> int:
        return order[bisect.bisect_left(cumulative, rng.random() * total)]

    return pick


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("url", help="an empty PostgreSQL database")
    parser.add_argument("--establishments", type=int, default=200)
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    stats = build(args.url, Volume(args.establishments, args.reports, seed=args.seed))
    print(json.dumps(stats.as_dict(), indent=2))


if __name__ == "__main__":
    main()
