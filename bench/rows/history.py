"""History does not slow the present: time to record a report with 10², 10⁴, 10⁶ past reports.

One database per volume (200 establishments each, same generator, same seed),
all alive at once; the same reports are recorded on each in turn (round robin),
so a noisy second of the shared machine hits every volume alike. What is timed
is the service that records a report (`record_report`) and its commit, in
process: the part of a submission that touches history. The reads (SELECT) of
the warm-up recordings are counted on each volume too: the most in one
recording must not grow with history (the writes depend on what each report
changes, not on the past).
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from barometre import clock, create_app
from barometre.extensions import db
from barometre.models import Establishment, User
from barometre.referentiel import CONDITIONS, OFFER_TYPES
from barometre.services import ReportInput, record_report
from barometre.settings import Settings

from .. import datagen
from ..context import Context
from ..core import Check, Goal, RowResult, fmt, log, percentile
from ..querycount import count_queries
from ..servers import REDIS_URL

KEY = "history"
TITLE = "history does not slow the present"
GOALS = "10⁶ / 10² ≤ 1.5"
GOAL = Goal("<=", 1.5)
WARMUP = 10
ESTABLISHMENTS = 200


@dataclass
class Volume:
    reports: int
    app: Flask
    author_id: int
    timings: list[float] = field(default_factory=list)
    queries: int = 0

    @property
    def median_ms(self) -> float:
        return statistics.median(self.timings) * 1000

    @property
    def p95_ms(self) -> float:
        return percentile(self.timings, 95) * 1000


def run(ctx: Context) -> RowResult:
    volumes = [open_volume(ctx, n) for n in ctx.sizes.history]
    try:
        inputs = report_inputs(volumes[0].app, ctx.sizes.history_samples + WARMUP)
        for index, data in enumerate(inputs):
            for volume in volumes:
                record(volume, data, index)
    finally:
        for volume in volumes:
            with volume.app.app_context():
                db.engine.dispose()
        for n in ctx.sizes.history[:-1]:  # the largest serves the barometer row next
            ctx.databases.discard(datagen.Volume(ESTABLISHMENTS, n))
    for volume in volumes:
        log(f"{volume.reports:_} past reports: median {volume.median_ms:.2f} ms,"
            f" p95 {volume.p95_ms:.2f} ms, {volume.queries} queries")  # fmt: skip
    return result(volumes)


def open_volume(ctx: Context, reports: int) -> Volume:
    url = ctx.databases.get(datagen.Volume(ESTABLISHMENTS, reports))
    settings = Settings(
        database_url=url,
        redis_url=REDIS_URL,
        instance_path=ctx.instance(f"{KEY}-{reports}"),
        secret_key="h" * 48,
    )
    app = create_app(settings)
    with app.app_context():
        author = db.session.scalar(select(User.id).where(User.role == "worker").order_by(User.id))
        db.session.remove()
    assert author is not None
    return Volume(reports, app, author)


def report_inputs(app: Flask, count: int) -> list[ReportInput]:
    """The same reports for every volume: one seeded draw over the same establishments."""
    with app.app_context():
        slugs = list(db.session.scalars(select(Establishment.slug).order_by(Establishment.id)))
        db.session.remove()
    rng = random.Random(datagen.SEED)
    conditions = [c.code for c in CONDITIONS]
    offer_types = [o.code for o in OFFER_TYPES]
    today = clock.today()
    return [
        ReportInput.uniform(
            establishment=rng.choice(slugs),
            visit_date=today - timedelta(days=rng.randrange(7)),
            conditions=rng.sample(conditions, rng.choice((1, 1, 2, 3))),
            offer_types=rng.sample(offer_types, rng.choice((1, 1, 2, 3))),
            description=rng.choice(datagen.DESCRIPTIONS),
            minutes_waited=rng.choice((None, 30, 60)),
        )
        for _ in range(count)
    ]


def record(volume: Volume, data: ReportInput, index: int) -> None:
    data = ReportInput(**{**data.__dict__, "submission_id": str(uuid.uuid4())})
    with volume.app.app_context():
        settings = volume.app.config["SETTINGS"]
        author = db.session.get(User, volume.author_id)
        if index < WARMUP:  # the warm-up recordings are counted, not timed
            with count_queries(db.engine) as queries:
                record_report(db.session, data, author, settings)
                db.session.commit()
            # Reads are what could grow with history (a scan, a lazy load per row);
            # the writes depend on what the report changes, not on the past.
            reads = sum(1 for q in queries.statements if q.lstrip().upper().startswith("SELECT"))
            volume.queries = max(volume.queries, reads)
        else:
            started = time.perf_counter()
            record_report(db.session, data, author, settings)
            db.session.commit()
            volume.timings.append(time.perf_counter() - started)
        db.session.remove()


def label(reports: int) -> str:
    exponent = len(str(reports)) - 1
    return f"10{str(exponent).translate(str.maketrans('0123456789', '⁰¹²³⁴⁵⁶⁷⁸⁹'))}"


def result(volumes: Sequence[Volume]) -> RowResult:
    small, large = volumes[0], volumes[-1]
    checks = [
        Check(
            f"median time to record, {label(large.reports)} / {label(small.reports)} past reports",
            large.median_ms / small.median_ms,
            GOAL,
            app=f"{fmt(large.median_ms)} ms",
            baseline=f"{fmt(small.median_ms)} ms",
        ),
        Check(
            f"p95 time to record, {label(large.reports)} / {label(small.reports)}",
            large.p95_ms / small.p95_ms,
            app=f"{fmt(large.p95_ms)} ms",
            baseline=f"{fmt(small.p95_ms)} ms",
        ),
    ]
    for volume in volumes[1:-1]:
        checks.append(
            Check(
                f"median, {label(volume.reports)} / {label(small.reports)}",
                volume.median_ms / small.median_ms,
                app=f"{fmt(volume.median_ms)} ms",
                baseline=f"{fmt(small.median_ms)} ms",
            )
        )
    checks.append(
        Check(
            f"most reads in one recording, {label(large.reports)} − {label(small.reports)}",
            large.queries - small.queries,
            Goal("<=", 0),
            app=str(large.queries),
            baseline=str(small.queries),
        )
    )
    return RowResult(
        KEY,
        TITLE,
        checks=checks,
        figures={
            "volumes": [
                {
                    "past_reports": v.reports,
                    "samples": len(v.timings),
                    "median_ms": round(v.median_ms, 3),
                    "p95_ms": round(v.p95_ms, 3),
                    "queries": v.queries,
                }
                for v in volumes
            ]
        },
    )
