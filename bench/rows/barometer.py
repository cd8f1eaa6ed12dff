"""Barometer page at scale: `/` and `/api/v1/establishments` with 200 establishments.

The database holds 200 establishments and the history row's largest volume of
reports (10⁶ in the full run). The app (public barometer, anonymous visitors)
and the baseline (a bare Jinja page of 200 rows from one query) run under the
same gunicorn settings; rounds alternate. The SQL statements of each page are
counted in process, on this database and on one with 2 establishments: the
count must stay the same (no N+1) and small.
"""

from __future__ import annotations

from flask import Flask

from barometre import create_app
from barometre.extensions import db
from barometre.settings import Settings

from .. import datagen
from ..context import Context
from ..core import Check, Goal, RowResult, fmt, log, median_ratio
from ..load import LoadResult, Request, RequestMaker, merged
from ..querycount import count_queries
from ..servers import REDIS_URL, app_env, gunicorn, measure
from .intake import cpu_check

KEY = "barometer"
TITLE = "barometer page at scale"
GOALS = "≥ 0.5 of baseline req/s; ≤ 6 queries, constant"
ESTABLISHMENTS = 200
SMALL = datagen.Volume(establishments=2, reports=1_000)
PAGES = ("/", "/api/v1/establishments")
RATIO_GOAL = Goal(">=", 0.5)
QUERIES_GOAL = Goal("<=", 6)


def run(ctx: Context) -> RowResult:
    volume = datagen.Volume(ESTABLISHMENTS, ctx.sizes.barometer_reports)
    url = ctx.databases.get(volume)
    queries = {
        "large": count_pages(url, ctx.instance(f"{KEY}-count")),
        "small": count_pages(ctx.databases.get(SMALL), ctx.instance(f"{KEY}-small")),
    }
    ctx.databases.discard(SMALL)
    log(f"queries per page: {queries}")
    env = app_env(url, ctx.instance(KEY))
    runs: dict[str, list[LoadResult]] = {page: [] for page in (*PAGES, "baseline")}
    with (
        gunicorn("app", "barometre:create_app()", env, Request("GET", "/")) as app,
        gunicorn(
            "baseline", "bench.baseline:create_app()", env, Request("GET", "/barometre")
        ) as base,
    ):
        for n in range(ctx.sizes.rounds):
            for page in PAGES:
                runs[page].append(measure(app, get(page), ctx.sizes, f"round {n + 1} {page}"))
            runs["baseline"].append(
                measure(base, get("/barometre"), ctx.sizes, f"round {n + 1} baseline")
            )
    # The digest row, next, uses the same database and drops it.
    return result(runs, queries, volume)


def get(path: str) -> RequestMaker:
    request = Request("GET", path, headers={"Accept-Language": "fr"})
    return lambda _client, _n: request


def count_pages(url: str, instance: str) -> dict[str, int]:
    """SQL statements per page for an anonymous visitor, the cached lists emptied first.

    What is counted is the whole work of the page (a cache hit reads only the
    two small queries of its key).
    """

    settings = Settings(
        database_url=url,
        redis_url=REDIS_URL,
        instance_path=instance,
        secret_key="q" * 48,
        public_barometer=True,
    )
    try:
        from barometre.datacache import clear_caches
    except ImportError:  # code from before the cache (the bench also measures older commits)

        def clear_caches() -> None:
            return None

    app: Flask = create_app(settings)
    client = app.test_client()
    counts = {}
    with app.app_context():
        for page in PAGES:
            assert client.get(page).status_code == 200
            clear_caches()
            db.session.remove()
            with count_queries(db.engine) as log_:
                assert client.get(page).status_code == 200
            counts[page] = log_.count
        db.engine.dispose()
    return counts


def result(
    runs: dict[str, list[LoadResult]], queries: dict[str, dict[str, int]], volume: datagen.Volume
) -> RowResult:
    base_runs = runs["baseline"]
    base_all = merged(base_runs)
    checks = []
    for page in PAGES:
        app_all = merged(runs[page])
        ratio = median_ratio([(a.rps, b.rps) for a, b in zip(runs[page], base_runs, strict=True)])
        checks.append(
            Check(
                f"`{page}` requests/s, ratio",
                ratio,
                RATIO_GOAL,
                app=f"{fmt(app_all.rps)} req/s, p95 {fmt(app_all.p(95))} ms",
                baseline=f"{fmt(base_all.rps)} req/s, p95 {fmt(base_all.p(95))} ms",
            )
        )
        checks.append(cpu_check(app_all, base_all, f"`{page}` "))
    for page in PAGES:
        large, small = queries["large"][page], queries["small"][page]
        checks.append(
            Check(
                f"`{page}` SQL queries, {ESTABLISHMENTS} establishments",
                large,
                QUERIES_GOAL,
                app=str(large),
                baseline="1",
            )
        )
        checks.append(
            Check(
                f"`{page}` SQL queries, growth from {SMALL.establishments}"
                f" to {ESTABLISHMENTS} establishments",
                large - small,
                Goal("<=", 0),
                app=str(large),
                baseline=str(small),
            )
        )
    return RowResult(
        KEY,
        TITLE,
        checks=checks,
        figures={
            "database": {"establishments": volume.establishments, "reports": volume.reports},
            "pages": {page: merged(runs[page]).summary() for page in PAGES},
            "baseline": base_all.summary(),
            "rounds": [
                {page: runs[page][n].summary() for page in (*PAGES, "baseline")}
                for n in range(len(base_runs))
            ],
            "queries": queries,
        },
    )
