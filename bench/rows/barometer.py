"""Barometer page at scale: `/` and `/api/v1/establishments` at 40 and 200 establishments.

40 is every Belgian prison, where the goal applies; 200 is measured to see how the
page grows. The database of 200 holds the history row's largest volume of reports
(10⁶ in the full run); the one of 40 the same past, so a fifth of the reports. At
each size the app (public barometer, anonymous visitors) and the baseline (a bare
Jinja page of one row per establishment from one query) run under the same
gunicorn settings; rounds alternate. The SQL statements of each page are counted
in process, on each database and on one with 2 establishments: the count must
stay the same (no N+1) and small.
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
GOALS = "≥ 0.5 of baseline req/s at 40 establishments (measured at 200); ≤ 6 queries, constant"
GOAL_AT = 40  # every Belgian prison
ESTABLISHMENTS = 200  # the largest size, whose database the digest row reuses
SCALES = (GOAL_AT, ESTABLISHMENTS)
SMALL = datagen.Volume(establishments=2, reports=1_000)
PAGES = ("/", "/api/v1/establishments")
RATIO_GOAL = Goal(">=", 0.5)
QUERIES_GOAL = Goal("<=", 6)


def run(ctx: Context) -> RowResult:
    small = count_pages(ctx.databases.get(SMALL), ctx.instance(f"{KEY}-small"))
    ctx.databases.discard(SMALL)
    queries: dict[str, dict[str, int]] = {"2": small}
    runs: dict[int, dict[str, list[LoadResult]]] = {}
    for establishments in SCALES:
        volume = scale(ctx, establishments)
        url = ctx.databases.get(volume)
        queries[str(establishments)] = count_pages(url, ctx.instance(f"{KEY}-count"))
        runs[establishments] = measure_scale(ctx, url, establishments)
        if establishments != ESTABLISHMENTS:  # the digest row, next, uses the largest one
            ctx.databases.discard(volume)
    log(f"queries per page: {queries}")
    return result(runs, queries)


def scale(ctx: Context, establishments: int) -> datagen.Volume:
    """The same past at every size: reports in proportion to the establishments."""
    return datagen.Volume(
        establishments, ctx.sizes.barometer_reports * establishments // ESTABLISHMENTS
    )


def measure_scale(ctx: Context, url: str, establishments: int) -> dict[str, list[LoadResult]]:
    env = app_env(url, ctx.instance(KEY))
    runs: dict[str, list[LoadResult]] = {page: [] for page in (*PAGES, "baseline")}
    with (
        gunicorn("app", "barometre:create_app()", env, Request("GET", "/")) as app,
        gunicorn(
            "baseline", "bench.baseline:create_app()", env, Request("GET", "/barometre")
        ) as base,
    ):
        for n in range(ctx.sizes.rounds):
            label = f"{establishments} establishments, round {n + 1}"
            for page in PAGES:
                runs[page].append(measure(app, get(page), ctx.sizes, f"{label} {page}"))
            runs["baseline"].append(
                measure(base, get("/barometre"), ctx.sizes, f"{label} baseline")
            )
    return runs


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
    runs: dict[int, dict[str, list[LoadResult]]], queries: dict[str, dict[str, int]]
) -> RowResult:
    checks = []
    for establishments, by_page in runs.items():
        base_runs = by_page["baseline"]
        base_all = merged(base_runs)
        goal = RATIO_GOAL if establishments == GOAL_AT else None
        for page in PAGES:
            app_all = merged(by_page[page])
            pairs = zip(by_page[page], base_runs, strict=True)
            checks.append(
                Check(
                    f"`{page}` requests/s, ratio, {establishments} establishments",
                    median_ratio([(a.rps, b.rps) for a, b in pairs]),
                    goal,
                    app=f"{fmt(app_all.rps)} req/s, p95 {fmt(app_all.p(95))} ms",
                    baseline=f"{fmt(base_all.rps)} req/s, p95 {fmt(base_all.p(95))} ms",
                )
            )
            checks.append(
                cpu_check(app_all, base_all, f"`{page}` {establishments} establishments, ")
            )
    small = queries[str(SMALL.establishments)]
    for page in PAGES:
        large = queries[str(ESTABLISHMENTS)][page]
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
                large - small[page],
                Goal("<=", 0),
                app=str(large),
                baseline=str(small[page]),
            )
        )
    return RowResult(
        KEY,
        TITLE,
        checks=checks,
        figures={
            str(establishments): {
                "pages": {page: merged(by_page[page]).summary() for page in PAGES},
                "baseline": merged(by_page["baseline"]).summary(),
                "rounds": [
                    {page: by_page[page][n].summary() for page in (*PAGES, "baseline")}
                    for n in range(len(by_page["baseline"]))
                ],
            }
            for establishments, by_page in runs.items()
        }
        | {"queries": queries},
    )
