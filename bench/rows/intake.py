"""Intake throughput: `POST /api/v1/reports` through gunicorn, against the bare baseline.

The app runs in its production shape (PostgreSQL, Redis configured, a real
secret key) on a database with 36 establishments (Belgium) and 10⁴ past
reports. Each client is a different worker with their own token and sends
realistic reports (1–3 conditions, 1–3 offer types, a visit in the last week, a
submission id). The baseline gets the same requests. Rounds alternate app and
baseline so that both see the same machine.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import psycopg

from barometre import clock
from barometre.referentiel import CONDITIONS, OFFER_TYPES

from .. import baseline, datagen
from ..context import Context
from ..core import Check, Goal, RowResult, fmt, median_ratio
from ..load import LoadResult, Request, RequestMaker, merged
from ..servers import app_env, gunicorn, measure

KEY = "intake"
TITLE = "intake throughput"
GOALS = "≥ 0.5 of baseline req/s; p95 ≤ 25 ms at 4 clients"
VOLUME = datagen.Volume(establishments=36, reports=10_000)
RATIO_GOAL = Goal(">=", 0.5)
P95_GOAL = Goal("<=", 25, "ms")
DESCRIPTIONS = (*datagen.DESCRIPTIONS, "", "", "")


def run(ctx: Context) -> RowResult:
    url = ctx.databases.get(VOLUME)
    try:
        return measure_on(ctx, url)
    finally:
        ctx.databases.discard(VOLUME)


def measure_on(ctx: Context, url: str) -> RowResult:
    baseline.create_schema(url)
    tokens = make_tokens(url, ctx.sizes.clients, ctx.instance(KEY))
    slugs = establishment_slugs(url)
    before = count_reports(url)
    env = app_env(url, ctx.instance(KEY))
    post = report_maker(tokens, slugs)
    ready = Request("GET", "/api/v1/referentiel")
    app_runs: list[LoadResult] = []
    base_runs: list[LoadResult] = []
    with (
        gunicorn("app", "barometre:create_app()", env, ready) as app,
        gunicorn(
            "baseline", "bench.baseline:create_app()", env, Request("GET", "/barometre")
        ) as base,
    ):
        for n in range(ctx.sizes.rounds):
            app_runs.append(measure(app, post, ctx.sizes, f"round {n + 1} app"))
            base_runs.append(measure(base, post, ctx.sizes, f"round {n + 1} baseline"))
    stored = count_reports(url) - before
    created = sum(r.statuses.get(201, 0) for r in app_runs)
    if stored != created:
        raise RuntimeError(f"{created} reports answered 201 but {stored} stored")
    return result(app_runs, base_runs, stored)


def result(
    app_runs: Sequence[LoadResult], base_runs: Sequence[LoadResult], stored: int
) -> RowResult:
    return throughput_result(KEY, TITLE, app_runs, base_runs, stored, RATIO_GOAL, P95_GOAL)


def throughput_result(
    key: str,
    title: str,
    app_runs: Sequence[LoadResult],
    base_runs: Sequence[LoadResult],
    stored: int,
    ratio_goal: Goal,
    p95_goal: Goal | None,
) -> RowResult:
    """A write row's figures: req/s ratio, p95, CPU per request, side by side (intake, form)."""
    ratio = median_ratio([(a.rps, b.rps) for a, b in zip(app_runs, base_runs, strict=True)])
    app_all, base_all = merged(app_runs), merged(base_runs)
    clients = app_all.clients
    return RowResult(
        key,
        title,
        checks=[
            Check(
                f"requests/s at {clients} clients, ratio",
                ratio,
                ratio_goal,
                app=f"{fmt(app_all.rps)} req/s",
                baseline=f"{fmt(base_all.rps)} req/s",
            ),
            Check(
                f"p95 latency at {clients} clients",
                app_all.p(95),
                p95_goal,
                app=f"{fmt(app_all.p(95))} ms",
                baseline=f"{fmt(base_all.p(95))} ms",
                unit="ms",
            ),
            cpu_check(app_all, base_all),
        ],
        figures={
            "app": app_all.summary(),
            "baseline": base_all.summary(),
            "rounds": [
                {"app": a.summary(), "baseline": b.summary()}
                for a, b in zip(app_runs, base_runs, strict=True)
            ],
            "reports_stored": stored,
            "database": {"establishments": VOLUME.establishments, "reports": VOLUME.reports},
        },
    )


def report_maker(tokens: Sequence[str], slugs: Sequence[str]) -> RequestMaker:
    """Client i is worker i; its n-th report is drawn from a generator seeded by (i, n)."""
    draw = report_drawer(slugs)

    def make(client: int, n: int) -> Request:
        body = draw(client, n)
        headers = {"Authorization": f"Bearer {tokens[client]}", "Content-Type": "application/json"}
        return Request("POST", "/api/v1/reports", json.dumps(body).encode(), headers)

    return make


def report_drawer(slugs: Sequence[str], salt: int = 0) -> Callable[[int, int], dict[str, Any]]:
    """`draw(client, n)`: a realistic report as the API takes it, drawn from (salt, i, n).

    1–3 conditions, 1–3 offer types, a visit in the last week, a fresh submission
    id. A different `salt` (e.g. the round) draws different reports for the same (i, n).
    """
    conditions = [c.code for c in CONDITIONS]
    offer_types = [o.code for o in OFFER_TYPES]
    today = clock.today()

    def draw(client: int, n: int) -> dict[str, Any]:
        rng = random.Random((salt * 1_000 + client) * 1_000_003 + n)
        return {
            "establishment": rng.choice(slugs),
            "visit_date": (today - timedelta(days=rng.randrange(7))).isoformat(),
            "conditions": rng.sample(conditions, rng.choice((1, 1, 2, 3))),
            "offer_types": rng.sample(offer_types, rng.choice((1, 1, 2, 3))),
            "description": rng.choice(DESCRIPTIONS),
            "minutes_waited": rng.choice((None, 20, 45, 90)),
            "activity_cancelled": rng.choice((None, True, False)),
            "submission_id": str(uuid.uuid4()),
        }

    return draw


def make_tokens(url: str, count: int, instance: str) -> list[str]:
    """One API token for each of `count` generated workers, as `flask tokens create` makes."""
    from barometre import create_app
    from barometre.auth import create_token
    from barometre.extensions import db
    from barometre.models import User
    from barometre.settings import Settings

    app = create_app(Settings(database_url=url, instance_path=instance, secret_key="t" * 48))
    with app.app_context():
        users = db.session.query(User).filter_by(role="worker").order_by(User.id).limit(count)
        tokens = [create_token(db.session, user, "bench") for user in users]
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return tokens


def establishment_slugs(url: str) -> list[str]:
    with psycopg.connect(datagen.psycopg_url(url)) as conn:
        return [r[0] for r in conn.execute("SELECT slug FROM establishment WHERE active")]


def count_reports(url: str) -> int:
    with psycopg.connect(datagen.psycopg_url(url)) as conn:
        row = conn.execute("SELECT count(*) FROM report").fetchone()
    return int(row[0]) if row else 0


def cpu_check(app: LoadResult, base: LoadResult, label: str = "") -> Check:
    """What a request costs the server's workers: the figure that noise does not move."""
    return Check(
        f"{label}server CPU per request (baseline / app)",
        base.cpu_ms_per_request / app.cpu_ms_per_request if app.cpu_ms_per_request else 0.0,
        app=f"{fmt(app.cpu_ms_per_request)} ms",
        baseline=f"{fmt(base.cpu_ms_per_request)} ms",
    )
