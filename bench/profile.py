"""`python -m bench.profile PAGE`: CPU per request in process, and where it goes.

The figures in bench/RESULTS.md marked "in process" come from here: the whole app
through Flask's test client (`servers.app_env`: production settings, PostgreSQL, Redis),
without gunicorn or the network, so that small changes show above the noise.
PAGE is `intake` (`POST /api/v1/reports`), `questionnaire` (`POST /signalement`)
or `barometer` (`GET /`). It builds the row's database with `bench.datagen`
(36 establishments and 10⁴ reports for the writes; for `/`, 200 establishments
or `--establishments N`, with 100 reports each) in a database it creates and
drops, warms up, times `--requests` requests with `time.process_time`, then
profiles as many again with cProfile (CPU time) and prints the functions that
cost the most.

    python -m bench.profile intake --requests 400
    python -m bench.profile barometer --establishments 40
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import pstats
import tempfile
import time
from collections.abc import Callable
from typing import Any

import psycopg

from . import datagen
from .features import session_cookie
from .rows import intake, questionnaire
from .servers import SECRET_KEY, app_env

ADMIN_URL = "postgresql://postgres@127.0.0.1/test"
DATABASE = f"bench_profile_{os.getpid()}"  # helpers may profile side by side
WRITES = datagen.Volume(establishments=36, reports=10_000)
PAGE_ESTABLISHMENTS = 200
REPORTS_PER_ESTABLISHMENT = 100


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("page", choices=("intake", "questionnaire", "barometer"))
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--top", type=int, default=40, help="functions printed")
    parser.add_argument("--sort", default="cumulative", help="pstats order (e.g. tottime)")
    parser.add_argument(
        "--establishments",
        type=int,
        default=PAGE_ESTABLISHMENTS,
        help="establishments of the database of `barometer` (40: every Belgian prison)",
    )
    args = parser.parse_args(argv)
    page = datagen.Volume(args.establishments, args.establishments * REPORTS_PER_ESTABLISHMENT)
    url = fresh_database(page if args.page == "barometer" else WRITES)
    try:
        with tempfile.TemporaryDirectory() as instance:
            one = request_maker(args.page, url, instance)
            for _ in range(100):
                one()
            started = time.process_time()
            for _ in range(args.requests):
                one()
            cpu = (time.process_time() - started) / args.requests * 1000
            profile = cProfile.Profile(time.process_time)
            profile.runcall(lambda: [one() for _ in range(args.requests)])
            pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)
            print(f"{args.page}: {cpu:.2f} ms of CPU a request in process ({args.requests})")
    finally:
        drop_database()
    return 0


def fresh_database(volume: datagen.Volume) -> str:
    drop_database()
    with psycopg.connect(datagen.psycopg_url(ADMIN_URL), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {DATABASE}")
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{DATABASE}"
    datagen.build(url, volume)
    return url


def drop_database() -> None:
    with psycopg.connect(datagen.psycopg_url(ADMIN_URL), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def request_maker(page: str, url: str, instance: str) -> Callable[[], None]:
    """One request of `page` as the bench's row sends it; fails on an unexpected status."""
    from barometre import create_app

    os.environ.update(app_env(url, instance))  # the production shape the bench's gunicorn runs
    app = create_app()
    logging.disable(logging.CRITICAL)  # the request log is not what is measured
    if page == "barometer":
        client = app.test_client()
        return lambda: expect(client.get("/", headers={"Accept-Language": "fr"}), 200)
    slugs = intake.establishment_slugs(url)
    draw = intake.report_drawer(slugs, salt=int(time.time()) % 100_000)
    count = iter(range(10**9))
    if page == "intake":
        tokens = intake.make_tokens(url, 4, instance)
        client = app.test_client()

        def post_report() -> None:
            n = next(count)
            headers = {"Authorization": f"Bearer {tokens[n % 4]}"}
            body = json.dumps(draw(n % 4, n))
            expect(client.post("/api/v1/reports", data=body, headers=headers | JSON), 201)

        return post_report
    forms = []
    for user in questionnaire.worker_session_ids(url, 4):
        client = app.test_client()
        client.set_cookie("session", session_cookie(SECRET_KEY, user))
        html = client.get(questionnaire.PATH).get_data(as_text=True)
        forms.append((client, questionnaire.csrf_token(html)))

    def post_form() -> None:
        n = next(count)
        client, token = forms[n % 4]
        report = draw(n % 4, n)
        report["description"] = f"{report['description']} (réf. {n})".lstrip()
        body = questionnaire.form_fields(report, token)
        expect(client.post(questionnaire.PATH, data=body, headers=FORM), 303)

    return post_form


JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def expect(response: Any, status: int) -> None:
    if response.status_code != status:
        raise RuntimeError(f"{response.status_code}: {response.get_data(as_text=True)[:300]}")


if __name__ == "__main__":
    raise SystemExit(main())
